"""Queries over interactions for browsing, rating and statistics.

Browsing never loads every row: pages are fetched by keyset on (created_at, id), newest first, so
a page move costs the same at row 10 and at row 900,000. Only the columns a list shows are read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, literal, or_, select, tuple_, update
from sqlalchemy.sql import Select

from ftui import REASONING_MODES, STATUSES
from ftui.conversation import normalize_tags
from ftui.errors import FtuiError
from ftui.store.db import Store, like_any_case
from ftui.store.models import Interaction, utcnow

T = Interaction.__table__
C = T.c
Key = tuple[datetime, int]  # (created_at, id): position of a row in browsing order


@dataclass(frozen=True)
class InteractionFilter:
    """What the browser shows. Empty fields do not filter."""

    modes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    rating_min: int | None = None
    rating_max: int | None = None
    unrated: bool = False  # only interactions without a rating
    models: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    tag: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""  # full-text search over the conversation, correction and notes
    dataset_id: int | None = None  # only the interactions a dataset version was built from
    judge_disagrees: bool = False  # the judge's current score and the rating differ by 2+

    def with_(self, **changes: Any) -> InteractionFilter:
        return replace(self, **changes)

    @property
    def is_empty(self) -> bool:
        return self == InteractionFilter()

    @property
    def may_scan(self) -> bool:
        """True when no index serves the filter, so a page may scan the whole table."""
        return bool(self.text or self.tag or self.models or self.sources or self.dataset_id
                    or self.judge_disagrees)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for remembering the filter); empty fields are left out."""
        out: dict[str, Any] = {}
        for name, value in vars(self).items():
            if value in ((), None, "", False):
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Any) -> InteractionFilter:
        """The filter `to_dict` wrote. Anything else (a hand-edited or older file) is read
        leniently: unknown keys and values of the wrong shape are dropped, never an error."""
        if not isinstance(data, dict):
            return cls()
        out: dict[str, Any] = {}

        def strings(name: str, allowed: Sequence[str] | None = None) -> None:
            value = data.get(name)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                kept = tuple(v for v in value if allowed is None or v in allowed)
                if kept:
                    out[name] = kept

        strings("modes", REASONING_MODES)
        strings("statuses", STATUSES)
        strings("models")
        strings("sources")
        for name in ("rating_min", "rating_max"):
            value = data.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
                out[name] = value
        for name in ("unrated", "judge_disagrees"):
            if data.get(name) is True:
                out[name] = True
        for name in ("tag", "text"):
            value = data.get(name)
            if isinstance(value, str) and value.strip() and len(value) <= 500:
                out[name] = value.strip()
        for name in ("since", "until"):
            value = data.get(name)
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    out[name] = datetime.fromisoformat(value)
        value = data.get("dataset_id")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            out["dataset_id"] = value
        return cls(**out)

    def describe(self) -> str:
        parts = []
        if self.modes:
            parts.append("mode=" + "|".join(self.modes))
        if self.statuses:
            parts.append("status=" + "|".join(self.statuses))
        if self.unrated:
            parts.append("unrated")
        if self.rating_min is not None or self.rating_max is not None:
            parts.append(f"rating {self.rating_min or 1}-{self.rating_max or 5}")
        if self.models:
            parts.append("model=" + "|".join(self.models))
        if self.sources:
            parts.append("source=" + "|".join(self.sources))
        if self.tag:
            parts.append(f"tag={self.tag}")
        if self.since:
            parts.append(f"since {self.since:%Y-%m-%d}")
        if self.until:
            parts.append(f"until {self.until:%Y-%m-%d}")
        if self.text:
            parts.append(f'"{self.text}"')
        if self.dataset_id is not None:
            parts.append(f"in dataset {self.dataset_id}")
        if self.judge_disagrees:
            parts.append("judge differs by 2+")
        return ", ".join(parts) or "all"


@dataclass(frozen=True)
class InteractionRow:
    """What one line of the browser needs, without the conversation itself."""

    id: int
    created_at: datetime
    reasoning_mode: str
    model: str | None
    rating: int | None
    status: str
    preview: str
    tags: str
    has_correction: bool

    @property
    def key(self) -> Key:
        return (self.created_at, self.id)


@dataclass
class Counters:
    total: int = 0
    unrated: int = 0
    accepted: int = 0
    rejected: int = 0
    extra: dict[str, int] = field(default_factory=dict)


_ROW_COLUMNS = (
    C.id, C.created_at, C.reasoning_mode, C.model, C.rating, C.status, C.preview, C.tags,
    (C.correction.is_not(None)).label("has_correction"),
)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(f: InteractionFilter) -> list:
    conds = []
    if f.modes:
        conds.append(C.reasoning_mode.in_(f.modes))
    if f.statuses:
        conds.append(C.status.in_(f.statuses))
    if f.unrated:
        conds.append(C.rating.is_(None))
    if f.rating_min is not None:
        conds.append(C.rating >= f.rating_min)
    if f.rating_max is not None:
        conds.append(C.rating <= f.rating_max)
    if f.models:
        conds.append(C.model.in_(f.models))
    if f.sources:
        conds.append(C.source.in_(f.sources))
    if f.tag:
        tag = _escape_like((normalize_tags([f.tag]) or [f.tag])[0])  # as tags are stored
        conds.append((literal(",") + C.tags + literal(",")).like(f"%,{tag},%", escape="\\"))
    if f.since:
        conds.append(C.created_at >= f.since)
    if f.until:
        conds.append(C.created_at < f.until)
    if f.dataset_id is not None:
        from ftui.store.models import DatasetExample

        conds.append(C.id.in_(select(DatasetExample.interaction_id).where(
            DatasetExample.dataset_id == f.dataset_id)))
    if f.judge_disagrees:
        from ftui.store.models import Judgement

        J = Judgement.__table__.c
        conds.append(C.rating.is_not(None))
        conds.append(exists().where(J.interaction_id == C.id, J.current.is_(True),
                                    J.status == "ok", func.abs(J.score - C.rating) >= 2))
    for word in f.text.split():
        pattern = f"%{_escape_like(word)}%"
        conds.append(or_(
            like_any_case(C.messages_json, pattern),  # as SQLite's LIKE, on PostgreSQL too
            like_any_case(C.correction, pattern),
            like_any_case(C.notes, pattern),
        ))
    return conds


def _rows(store: Store, stmt: Select) -> list[InteractionRow]:
    with store.engine.connect() as conn:
        return [InteractionRow(*r) for r in conn.execute(stmt)]


def _base(f: InteractionFilter) -> Select:
    return select(*_ROW_COLUMNS).where(*_where(f))


def page_first(store: Store, f: InteractionFilter, n: int) -> list[InteractionRow]:
    """The newest `n` rows."""
    return _rows(store, _base(f).order_by(C.created_at.desc(), C.id.desc()).limit(n))


def page_last(store: Store, f: InteractionFilter, n: int) -> list[InteractionRow]:
    """The oldest `n` rows, in browsing order (newest first)."""
    rows = _rows(store, _base(f).order_by(C.created_at.asc(), C.id.asc()).limit(n))
    return rows[::-1]


def page_after(store: Store, f: InteractionFilter, key: Key, n: int) -> list[InteractionRow]:
    """The `n` rows that follow `key` in browsing order (older)."""
    stmt = _base(f).where(tuple_(C.created_at, C.id) < tuple_(*key))
    return _rows(store, stmt.order_by(C.created_at.desc(), C.id.desc()).limit(n))


def page_before(store: Store, f: InteractionFilter, key: Key, n: int) -> list[InteractionRow]:
    """The `n` rows that precede `key` in browsing order (newer), in browsing order."""
    stmt = _base(f).where(tuple_(C.created_at, C.id) > tuple_(*key))
    rows = _rows(store, stmt.order_by(C.created_at.asc(), C.id.asc()).limit(n))
    return rows[::-1]


def count(store: Store, f: InteractionFilter) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(T).where(*_where(f))).scalar_one()


def position_of(store: Store, f: InteractionFilter, key: Key) -> int:
    """How many matching rows come before `key` in browsing order (its 0-based index)."""
    with store.engine.connect() as conn:
        stmt = select(func.count()).select_from(T).where(
            *_where(f), tuple_(C.created_at, C.id) > tuple_(*key)
        )
        return conn.execute(stmt).scalar_one()


def next_unrated(store: Store, f: InteractionFilter, after: Key | None) -> InteractionRow | None:
    """The first unrated row after `after` (or from the top), wrapping around once."""
    unrated = f.with_(unrated=True, rating_min=None, rating_max=None)
    if after is not None:
        rows = page_after(store, unrated, after, 1)
        if rows:
            return rows[0]
    rows = page_first(store, unrated, 1)
    return rows[0] if rows else None


def counters(store: Store, f: InteractionFilter | None = None) -> Counters:
    """Totals of what the filter keeps (of everything without one)."""
    if f is not None and not f.is_empty:
        flag = lambda cond: func.coalesce(func.sum(case((cond, 1), else_=0)), 0)  # noqa: E731
        stmt = select(func.count(), flag(C.rating.is_(None)), flag(C.status == "accepted"),
                      flag(C.status == "rejected")).select_from(T).where(*_where(f))
        with store.engine.connect() as conn:
            total, unrated, accepted, rejected = conn.execute(stmt).one()
        return Counters(total, unrated, accepted, rejected)
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(T)).scalar_one()
        unrated = conn.execute(
            select(func.count()).select_from(T).where(C.rating.is_(None))
        ).scalar_one()
        by_status = dict(conn.execute(select(C.status, func.count()).group_by(C.status)).all())
    return Counters(total, unrated, by_status.get("accepted", 0), by_status.get("rejected", 0))


def newest_id(store: Store) -> int:
    """The highest interaction id (0 when none): one primary-key lookup (well under a
    millisecond at 280k rows, where count(*) takes ~50 ms), so it can be polled every few
    seconds to see that interactions arrived."""
    with store.engine.connect() as conn:
        return conn.execute(select(func.coalesce(func.max(C.id), 0))).scalar_one()


def rows_since(store: Store, f: InteractionFilter, after_id: int, n: int) -> list[InteractionRow]:
    """Up to `n` matching rows whose id is above `after_id` (arrived since), in browsing order."""
    stmt = _base(f).where(C.id > after_id)
    return _rows(store, stmt.order_by(C.created_at.desc(), C.id.desc()).limit(n))


def ids_matching(store: Store, f: InteractionFilter) -> list[int]:
    """Every id the filter keeps (for bulk actions), in browsing order."""
    stmt = select(C.id).where(*_where(f)).order_by(C.created_at.desc(), C.id.desc())
    with store.engine.connect() as conn:
        return [i for (i,) in conn.execute(stmt)]


def matches(store: Store, f: InteractionFilter, interaction_id: int) -> bool:
    stmt = select(C.id).where(*_where(f), C.id == interaction_id)
    with store.engine.connect() as conn:
        return conn.execute(stmt).first() is not None


def get(store: Store, interaction_id: int) -> Interaction | None:
    with store.session() as session:
        return session.get(Interaction, interaction_id)


def _update(store: Store, interaction_id: int, **values: Any) -> None:
    values["updated_at"] = utcnow()
    with store.engine.begin() as conn:
        result = conn.execute(update(T).where(C.id == interaction_id).values(**values))
    if result.rowcount == 0:
        raise FtuiError(f"interaction {interaction_id} does not exist", "refresh the list")


def _check_rating(rating: int | None) -> None:
    if rating is not None and (isinstance(rating, bool) or rating not in (1, 2, 3, 4, 5)):
        raise FtuiError(f"rating {rating!r} is outside 1-5", "rate 1 to 5, or 0 to clear")


def _rate(conn, where, rating: int | None) -> bool:
    """Rate the interaction and the experiment outcome it produced, in one transaction: every
    caller (Interactions screen, Playground, `ftui chat`, the gateway's feedback, Python code)
    goes through here, so the experiment's verdict sees every rating."""
    from ftui.store.models import Outcome

    found = conn.execute(select(C.id, C.uid).where(where)).first()
    if found is None:
        return False
    conn.execute(update(T).where(where).values(rating=rating, updated_at=utcnow()))
    if found.uid is not None:  # imported rows carry no uid, and no experiment produced them
        conn.execute(update(Outcome).where(Outcome.interaction_uid == found.uid)
                     .values(rating=rating))
    return True


def rate_outcomes(conn, ids: Sequence[int], rating: int | None) -> None:
    """The experiment outcomes of these interactions take their new rating (for edits that
    write ratings in bulk, and their undo)."""
    from ftui.store.models import Outcome

    conn.execute(update(Outcome).where(Outcome.interaction_uid.in_(
        select(C.uid).where(C.id.in_(ids)))).values(rating=rating))


def set_rating(store: Store, interaction_id: int, rating: int | None) -> None:
    _check_rating(rating)
    with store.engine.begin() as conn:
        if not _rate(conn, C.id == interaction_id, rating):
            raise FtuiError(f"interaction {interaction_id} does not exist", "refresh the list")


def set_rating_by_uid(store: Store, uid: str, rating: int | None) -> bool:
    """Rate by the external id (the gateway's X-FTUI-Interaction-Id); False when no interaction
    has it. Committed when it returns."""
    _check_rating(rating)
    with store.engine.begin() as conn:
        return _rate(conn, C.uid == uid, rating)


def set_status(store: Store, interaction_id: int, status: str) -> None:
    if status not in STATUSES:
        raise FtuiError(f"unknown status {status!r}", f"use one of: {', '.join(STATUSES)}")
    _update(store, interaction_id, status=status)


def set_correction(store: Store, interaction_id: int, correction: str | None) -> None:
    """The corrected assistant reply (the training target); empty text removes it."""
    _update(store, interaction_id, correction=correction if correction and correction.strip() else None)


def set_tags(store: Store, interaction_id: int, tags: Sequence[str]) -> list[str]:
    clean = normalize_tags(tags)
    _update(store, interaction_id, tags=",".join(clean))
    return clean


def set_notes(store: Store, interaction_id: int, notes: str | None) -> None:
    _update(store, interaction_id, notes=notes if notes and notes.strip() else None)


def distinct_values(store: Store, column: str, limit: int = 200) -> list[str]:
    """Values seen in a low-cardinality column (model, source, mode), for filter pickers."""
    col = C[column]
    with store.engine.connect() as conn:
        stmt = select(col).where(col.is_not(None)).group_by(col).order_by(col).limit(limit)
        return [v for (v,) in conn.execute(stmt)]


def stats(store: Store) -> dict[str, Any]:
    """Counts by status, rating, mode, model and source."""
    out: dict[str, Any] = {}
    with store.engine.connect() as conn:
        out["total"] = conn.execute(select(func.count()).select_from(T)).scalar_one()
        for name, col in (("status", C.status), ("rating", C.rating),
                          ("mode", C.reasoning_mode), ("model", C.model), ("source", C.source)):
            rows = conn.execute(select(col, func.count()).group_by(col).order_by(col)).all()
            out[f"by_{name}"] = {("none" if k is None else str(k)): n for k, n in rows}
        out["with_correction"] = conn.execute(
            select(func.count()).select_from(T).where(C.correction.is_not(None))
        ).scalar_one()
    for mode in REASONING_MODES:
        out["by_mode"].setdefault(mode, 0)
    return out




class RowPager:
    """Keyset pages of one filtered result, in browsing order (what a list widget asks for)."""

    def __init__(self, store: Store, f: InteractionFilter) -> None:
        self.store, self.filter = store, f

    def first(self, n: int) -> list[InteractionRow]:
        return page_first(self.store, self.filter, n)

    def last(self, n: int) -> list[InteractionRow]:
        return page_last(self.store, self.filter, n)

    def after(self, key: Key, n: int) -> list[InteractionRow]:
        return page_after(self.store, self.filter, key, n)

    def before(self, key: Key, n: int) -> list[InteractionRow]:
        return page_before(self.store, self.filter, key, n)

    def count(self) -> int:
        return count(self.store, self.filter)


def row_of(store: Store, interaction_id: int) -> InteractionRow | None:
    rows = _rows(store, select(*_ROW_COLUMNS).where(C.id == interaction_id))
    return rows[0] if rows else None
