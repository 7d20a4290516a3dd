"""Undoable edits of interactions (rating, status, correction, tags, notes), on one row or many.

Every change records the previous values of the fields it touched, as one `EditStep` however many
rows it covered (a bulk accept of 300 rows is one step). `undo` puts them back, but only on rows
that are still as the step left them: an edit made since (by another process, by the gateway's
feedback) is never overwritten. `EditHistory` keeps the last steps of a session (ctrl+z in the
TUI); `change`, `add_tags` and `undo` work without it (CLI, tests).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from ftui import STATUSES
from ftui.conversation import normalize_tags
from ftui.errors import FtuiError
from ftui.store.db import Store
from ftui.store.models import Interaction, utcnow

T = Interaction.__table__
C = T.c
FIELDS = ("rating", "status", "correction", "tags", "notes")
CHUNK = 500  # ids per IN (...): well under SQLite's and PostgreSQL's parameter limits
HISTORY_DEPTH = 100

Values = dict[str, Any]


@dataclass(frozen=True)
class EditStep:
    """One undoable change: for each row, the fields' values before and after."""

    label: str
    before: dict[int, Values]
    after: dict[int, Values]

    @property
    def ids(self) -> list[int]:
        return list(self.after)

    def __len__(self) -> int:
        return len(self.after)


def clean_values(values: Values) -> Values:
    """The values as stored, or FtuiError naming what is wrong."""
    out: Values = {}
    for name, value in values.items():
        if name not in FIELDS:
            raise FtuiError(f"{name!r} cannot be edited", f"edit one of: {', '.join(FIELDS)}")
        if name == "rating":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 1 <= value <= 5):
                raise FtuiError(f"rating {value!r} is outside 1-5", "rate 1 to 5, or 0 to clear")
        elif name == "status":
            if value not in STATUSES:
                raise FtuiError(f"unknown status {value!r}", f"use one of: {', '.join(STATUSES)}")
        elif name == "tags":
            value = ",".join(normalize_tags(value.split(",") if isinstance(value, str) else value))
        elif value is not None:
            if not isinstance(value, str):
                raise FtuiError(f"{name} must be text, not {type(value).__name__}", "pass a string")
            value = value if value.strip() else None
        out[name] = value
    return out


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def _read(conn, ids: Sequence[int], fields: Sequence[str]) -> dict[int, Values]:
    out: dict[int, Values] = {}
    columns = [C[f] for f in fields]
    for chunk in _chunks(ids):
        for row in conn.execute(select(C.id, *columns).where(C.id.in_(chunk))):
            out[row[0]] = dict(zip(fields, row[1:], strict=True))
    return out


def _write(conn, rows: dict[int, Values]) -> None:
    """Rows sharing the same new values go in one UPDATE per chunk."""
    groups: dict[tuple, list[int]] = {}
    for row_id, values in rows.items():
        groups.setdefault(tuple(sorted(values.items())), []).append(row_id)
    now = utcnow()
    for items, ids in groups.items():
        for chunk in _chunks(ids):
            conn.execute(update(T).where(C.id.in_(chunk)).values(**dict(items), updated_at=now))
            if "rating" in dict(items):  # the experiment's outcome follows (issue 10, item 6)
                from ftui.store.interactions import rate_outcomes

                rate_outcomes(conn, chunk, dict(items)["rating"])


def apply_changes(store: Store, changes: dict[int, Values], label: str) -> EditStep:
    """Per-row new values, in one transaction. Rows that do not exist are skipped; when none of
    them exists, FtuiError."""
    cleaned = {row_id: clean_values(values) for row_id, values in changes.items()}
    fields = sorted({f for values in cleaned.values() for f in values})
    with store.engine.begin() as conn:
        current = _read(conn, list(cleaned), fields)
        if not current:
            ids = ", ".join(str(i) for i in list(cleaned)[:5])
            raise FtuiError(f"interaction {ids} does not exist", "refresh the list")
        after = {i: v for i, v in cleaned.items() if i in current}
        before = {i: {f: current[i][f] for f in after[i]} for i in after}
        _write(conn, after)
    return EditStep(label, before, after)


def change(store: Store, ids: Sequence[int], label: str | None = None, **values: Any) -> EditStep:
    """Set the same values on every row of `ids`, e.g. change(store, [3, 4], status="accepted")."""
    if not ids:
        raise FtuiError("no interaction to change", "mark some, or widen the filter")
    text = label or ", ".join(f"{k} {v}" for k, v in values.items())
    return apply_changes(store, {i: dict(values) for i in ids}, text)


def add_tags(store: Store, ids: Sequence[int], tags: Sequence[str],
             label: str | None = None) -> EditStep:
    """Add `tags` to each row's own tags (the others stay)."""
    new = normalize_tags(tags)
    if not new:
        raise FtuiError("no tag given", "type a tag, e.g. good-example")
    with store.engine.connect() as conn:
        current = _read(conn, list(ids), ["tags"])
    changes = {i: {"tags": normalize_tags([*v["tags"].split(","), *new])}
               for i, v in current.items()}
    if not changes:
        raise FtuiError("none of these interactions exists any more", "refresh the list")
    return apply_changes(store, changes, label or f"tag {', '.join(new)}")


def undo(store: Store, step: EditStep) -> int:
    """Put back what `step` changed, on the rows still as the step left them; returns how many
    rows were restored (the others were edited since and keep that newer edit)."""
    fields = sorted({f for values in step.after.values() for f in values})
    with store.engine.begin() as conn:
        current = _read(conn, step.ids, fields)
        restore = {i: step.before[i] for i, values in step.after.items()
                   if i in current and all(current[i][f] == v for f, v in values.items())}
        _write(conn, restore)
    return len(restore)


class EditHistory:
    """The last `depth` steps of a session, newest last; `undo` takes them back one by one."""

    def __init__(self, store: Store, depth: int = HISTORY_DEPTH) -> None:
        self.store = store
        self._steps: deque[EditStep] = deque(maxlen=depth)

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def last(self) -> EditStep | None:
        return self._steps[-1] if self._steps else None

    def record(self, step: EditStep) -> EditStep:
        if len(step):
            self._steps.append(step)
        return step

    def change(self, ids: Sequence[int], label: str | None = None, **values: Any) -> EditStep:
        return self.record(change(self.store, ids, label, **values))

    def add_tags(self, ids: Sequence[int], tags: Sequence[str],
                 label: str | None = None) -> EditStep:
        return self.record(add_tags(self.store, ids, tags, label))

    def undo(self) -> tuple[EditStep, int] | None:
        """(the step taken back, rows restored), or None when there is nothing to undo."""
        if not self._steps:
            return None
        step = self._steps.pop()
        try:
            return step, undo(self.store, step)
        except Exception:
            self._steps.append(step)  # not undone: it stays undoable
            raise
