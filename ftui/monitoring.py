"""The product's performance over time: per day or week, per model or reasoning mode.

Figures, per period and group:
- answers; response time p50/p95 (latency_ms); tokens per answer (completion_tokens);
- satisfaction: mean rating and the share of answers rated;
- task success: accepted share (accepted / reviewed), and in agent mode the share of tool
  calls that succeeded (a tool result is a failure when it starts with "error", any case,
  or is a JSON object whose first key is "error");
- engagement: turns per session (interactions with a session id / distinct sessions);
- retention: active users, and returning users (active in the period, seen before it);
- fallback rate (answers tagged `fallback` by the gateway).

Aggregated by the database: PostgreSQL computes exact percentiles (percentile_cont). SQLite has
no percentile function: it counts latencies in log-spaced buckets (BUCKETS_PER_E per e-fold,
about 2.5% wide) and the percentile is interpolated inside its bucket; SQLite's GROUP BY
sorts, so it aggregates one period at a time (small in-memory sorts on the created_at index),
two periods at once on two connections. `compute_naive` is the plain Python computation over
the same rows: the reference for the tests and the benchmark, and the path for other databases.

Closed periods are computed once: their figures are kept in the store (table monitoring_rollup,
one row per period kind, grouping and period) with the digest of the change marks they were
computed under. Database triggers (migration 0005) give a day's mark a new token whenever an
interaction of that day changes in a way a figure reads (rating, review, tags, an import or
backfill with old times, a deletion), whoever writes it; a kept period whose marks' digest
differs today is computed again. A mark is "onward" when the change can move a user's first
visit: then every later period is recomputed too (returning users). Marks are read before the
figures, so a write that lands during a computation leaves a digest that no longer matches.
Open periods (ended less than CLOSED_AFTER ago), and periods cut by since/until, are computed on
every call and never kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from ftui.errors import FtuiError
from ftui.store import Store, utcnow
from ftui.store.models import MonitoringMark, MonitoringRollup

log = logging.getLogger(__name__)

PERIODS = ("day", "week")
GROUPINGS = ("model", "mode", "all")
BUCKETS_PER_E = 40  # SQLite latency histogram: bucket k holds [e^(k/40), e^((k+1)/40)) ms
NO_MODEL = "(none)"
# A period that ended this long ago is closed: its figures are kept in the store (ratings and
# reviews mostly arrive within the day; later ones are caught by the change marks).
CLOSED_AFTER = timedelta(days=1)
# The triggers mark changes of rows at least this old (migration 0005, frozen there): newer rows
# lie in open periods, so live traffic writes no mark. The margin to CLOSED_AFTER allows for 18 h
# of clock difference between the database and the processes that keep figures.
MARK_AFTER = timedelta(hours=6)
DEFAULT_WEEKS = 8  # the Monitoring screen's first window (the import warms it)
# Part of every kept period's digest: change it with the definition of any figure (or of Row),
# and the figures kept by older code are computed again instead of being shown.
FIGURES_VERSION = 1


@dataclass
class Row:
    period: date  # the day, or the Monday of the week
    group: str  # a model, a reasoning mode, or "all"
    answers: int = 0
    latency_p50: float | None = None
    latency_p95: float | None = None
    tokens_per_answer: float | None = None
    mean_rating: float | None = None
    rated_share: float | None = None
    accepted_share: float | None = None  # of the reviewed (accepted + rejected)
    tool_calls: int = 0
    tool_success: float | None = None  # agent mode: succeeded tool calls / tool calls
    sessions: int = 0
    turns_per_session: float | None = None
    active_users: int = 0
    returning_users: int = 0
    fallback_rate: float | None = None


@dataclass
class Report:
    period: str
    by: str
    since: datetime | None
    until: datetime | None
    exact_percentiles: bool  # False: SQLite's bucketed estimate
    rows: list[Row] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def plain(row: Row) -> dict[str, Any]:
            d = asdict(row)
            d["period"] = row.period.isoformat()
            return d

        return {"period": self.period, "by": self.by,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
                "exact_percentiles": self.exact_percentiles,
                "rows": [plain(r) for r in self.rows]}

    def groups(self) -> list[str]:
        return sorted({r.group for r in self.rows})

    def series(self, name: str, group: str) -> list[tuple[date, float]]:
        """(period, value) of one figure for one group, periods in order, gaps left out."""
        return [(r.period, getattr(r, name)) for r in self.rows
                if r.group == group and getattr(r, name) is not None]


# ------------------------------------------------------------------ shared definitions

def period_start(moment: datetime | date, period: str) -> date:
    day = moment.date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday()) if period == "week" else day


def _next(start: date, period: str) -> date:
    return start + timedelta(days=7 if period == "week" else 1)


def tool_failed(content: Any) -> bool:
    """A tool result that reports a failure (see the module's docstring)."""
    if content is None:
        return False
    if not isinstance(content, str):
        content = json.dumps(content, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    head = content.lstrip(" ")
    return head[:5].lower() == "error" or head.startswith('{"error"')


def _check(period: str, by: str) -> None:
    if period not in PERIODS:
        raise FtuiError(f"unknown period {period!r}", f"use one of: {', '.join(PERIODS)}")
    if by not in GROUPINGS:
        raise FtuiError(f"unknown grouping {by!r}", f"use one of: {', '.join(GROUPINGS)}")


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


@dataclass
class _Acc:
    """Additive sums of one (period, group), filled by either path."""

    answers: int = 0
    latencies: int = 0
    tokens: float = 0
    tokened: int = 0
    rated: int = 0
    rating_sum: float = 0
    accepted: int = 0
    rejected: int = 0
    fallbacks: int = 0
    session_turns: int = 0
    sessions: int = 0
    active_users: int = 0
    returning_users: int = 0
    tool_calls: int = 0
    tool_failed: int = 0
    p50: float | None = None
    p95: float | None = None
    hist: dict[int, int] = field(default_factory=dict)

    def row(self, period: date, group: str) -> Row:
        if self.hist:
            self.p50, self.p95 = hist_percentile(self.hist, 0.5), hist_percentile(self.hist, 0.95)
        return Row(period, group, self.answers, self.p50, self.p95,
                   _ratio(self.tokens, self.tokened), _ratio(self.rating_sum, self.rated),
                   _ratio(self.rated, self.answers),
                   _ratio(self.accepted, self.accepted + self.rejected),
                   self.tool_calls, _ratio(self.tool_calls - self.tool_failed, self.tool_calls),
                   self.sessions, _ratio(self.session_turns, self.sessions),
                   self.active_users, self.returning_users,
                   _ratio(self.fallbacks, self.answers))


def bucket_of(latency_ms: float) -> int:
    """SQLite's latency bucket (the same formula in SQL): below 1 ms is bucket -1."""
    return int(math.log(latency_ms) * BUCKETS_PER_E) if latency_ms >= 1 else -1


def hist_percentile(hist: dict[int, int], p: float) -> float | None:
    """percentile_cont's value estimated from bucket counts: the rank (n-1)*p is found in its
    bucket and interpolated geometrically inside it."""
    n = sum(hist.values())
    if not n:
        return None
    rank = (n - 1) * p
    seen = 0
    for k in sorted(hist):
        count = hist[k]
        if rank < seen + count:
            frac = (rank - seen + 0.5) / count
            if k < 0:
                return frac  # [0, 1) ms
            return math.exp((k + frac) / BUCKETS_PER_E)
        seen += count
    return math.exp((max(hist) + 1) / BUCKETS_PER_E)


def _exact_percentile(values: list[float], p: float) -> float | None:
    """percentile_cont: linear interpolation between the two nearest order statistics."""
    if not values:
        return None
    values = sorted(values)
    rank = (len(values) - 1) * p
    lo = math.floor(rank)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (rank - lo)


# ------------------------------------------------------------------ entry point

def compute(store: Store, *, period: str = "week", by: str = "model",
            since: datetime | None = None, until: datetime | None = None,
            refresh: bool = False, progress: Callable[[int, str], None] | None = None) -> Report:
    """The figures of every period from `since` (default: the oldest interaction) to `until`
    (default: the newest), per group. Closed periods come from the store when their figures
    there are current; the others are computed (and kept, when closed). `refresh` computes
    every period again. `progress(n, period)` is called first when n > 1 closed periods must be
    computed (a cold store: the screen says so)."""
    _check(period, by)
    dialect = store.engine.dialect.name
    if dialect not in ("postgresql", "sqlite"):
        return compute_naive(store, period=period, by=by, since=since, until=until)
    report = Report(period, by, since, until, exact_percentiles=dialect == "postgresql")
    span = _bounds(store, since, until)
    if span is None:
        return report
    closed = utcnow() - CLOSED_AFTER
    periods = _periods(span, period)
    # A period is kept when closed and whole (a window's cut edge is not the period's figures);
    # its bounds are then the period's own: nothing lies outside the default span.
    keep: dict[date, tuple[date, datetime, datetime]] = {}
    for i, (start, lo, hi) in enumerate(periods):
        begin, end = _midnight(start), _midnight(_next(start, period))
        if end <= closed and (lo == begin or since is None) and (hi == end or until is None):
            keep[start] = periods[i] = (start, begin, end)
    marks = _read_marks(store)  # before the figures: a write during the computation shows
    stored = {} if refresh or not keep else _read_rollups(store, period, by, min(keep), max(keep))
    rows: dict[date, list[Row]] = {}
    todo, digests = [], {}
    for start, lo, hi in periods:
        if start in keep:
            digests[start] = _digest(marks, start, _next(start, period))
            found = stored.get(start)
            if found is not None and found[1] == digests[start]:
                rows[start] = found[0]
                continue
        todo.append((start, lo, hi))
    fresh = sum(start in keep for start, _, _ in todo)
    if progress is not None and fresh > 1:
        progress(fresh, period)
    accs = _compute_periods(store, dialect, period, by, todo)
    new = []
    for start, _, _ in todo:
        found = accs.get(start, {})
        rows[start] = [found[g].row(start, g) for g in sorted(found)]
        if start in keep:
            new.append((start, rows[start], digests[start]))
    _write_rollups(store, period, by, new)
    report.rows = [r for start, _, _ in periods for r in rows[start]]
    return report


def refresh(store: Store, views: Iterable[tuple[str, str]] | None = None,
            since: datetime | None = None, force: bool = True) -> tuple[int, float]:
    """Compute and keep the closed periods of `views` ((period, by); default: all of them)
    from `since` (default: the whole store). `force=False` computes only what is not current.
    Returns (periods in the views, seconds)."""
    started, n = time.perf_counter(), 0
    for period, by in views or [(p, b) for p in PERIODS for b in GROUPINGS]:
        n += len({r.period for r in compute(store, period=period, by=by, since=since,
                                            refresh=force).rows})
    return n, time.perf_counter() - started


def default_since(weeks: int | None = DEFAULT_WEEKS) -> datetime | None:
    """The Monday that starts the last `weeks` weeks (the screen's window); None: everything."""
    if weeks is None:
        return None
    return _midnight(period_start(utcnow() - timedelta(weeks=weeks - 1), "week"))


def warm_default_view(store: Store, saved: Any = None) -> tuple[int, float]:
    """After an import: the figures the Monitoring screen shows first (last DEFAULT_WEEKS
    weeks, per week and model, and the view the screen remembers: `saved`, its
    {"period", "by"}), computed where not current and kept."""
    views = [("week", "model")]
    if isinstance(saved, dict) and saved.get("period") in PERIODS \
            and saved.get("by") in GROUPINGS and (saved["period"], saved["by"]) not in views:
        views.append((saved["period"], saved["by"]))
    return refresh(store, views, since=default_since(), force=False)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _bounds(store: Store, since: datetime | None, until: datetime | None
            ) -> tuple[datetime, datetime] | None:
    """The time span to show: the given bounds, else that of the stored interactions."""
    if since is None or until is None:
        with store.engine.connect() as conn:
            first, last = conn.execute(text(
                "SELECT min(created_at), max(created_at) FROM interaction")).one()
        if first is None:
            return None
        if isinstance(first, str):  # SQLite hands text back from a raw aggregate
            first, last = datetime.fromisoformat(first), datetime.fromisoformat(last)
        since = since or first
        until = until or last + timedelta(microseconds=1)
    return (since, until) if since < until else None


def _periods(span: tuple[datetime, datetime], period: str) -> list[tuple[date, datetime, datetime]]:
    """(period start, lower bound, upper bound) of every period the span touches."""
    out = []
    start = period_start(span[0], period)
    while _midnight(start) < span[1]:
        end = _next(start, period)
        out.append((start, max(span[0], _midnight(start)), min(span[1], _midnight(end))))
        start = end
    return out


def _group_sql(by: str) -> str:
    return {"model": f"coalesce(model, '{NO_MODEL}')", "mode": "reasoning_mode",
            "all": "'all'"}[by]


def _group_of(by: str, model: str | None, mode: str) -> str:
    return {"model": model if model is not None else NO_MODEL, "mode": mode, "all": "all"}[by]


def _compute_periods(store: Store, dialect: str, period: str, by: str,
                     todo: list[tuple[date, datetime, datetime]]) -> dict[date, dict[str, _Acc]]:
    """The figures of these periods, by the database: PostgreSQL one query per run of adjacent
    periods, SQLite one statement per period, two at once on two connections."""
    out: dict[date, dict[str, _Acc]] = defaultdict(dict)
    if not todo:
        return out
    if dialect == "postgresql":
        runs: list[list] = []
        for p in todo:
            if runs and runs[-1][-1][2] == p[1]:
                runs[-1].append(p)
            else:
                runs.append([p])
        for run in runs:
            for (start, grp), acc in _postgres_query(store, period, by, run[0][1],
                                                     run[-1][2]).items():
                out[start][grp] = acc
        return out
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ftui-monitor") as pool:
        found = pool.map(lambda p: _sqlite_chunk(store, by, p[0], p[1], p[2]), todo)
        for (start, _, _), accs in zip(todo, found, strict=True):
            out[start] = accs
    return out


# ------------------------------------------------------------------ kept figures

def _digest(marks: list[tuple[date, bool, int]], start: date, end: date) -> str:
    """The marks a period's figures depend on: its days', and earlier onward ones."""
    relevant = sorted((d, o, t) for d, o, t in marks if d < end and (o or d >= start))
    return hashlib.sha1(repr((FIGURES_VERSION, relevant)).encode()).hexdigest()[:20]


def _read_marks(store: Store) -> list[tuple[date, bool, int]]:
    m = MonitoringMark.__table__
    with store.engine.connect() as conn:
        return [(d, bool(o), t) for d, o, t in conn.execute(select(m.c.day, m.c.onward,
                                                                   m.c.token))]


def _read_rollups(store: Store, period: str, by: str, first: date, last: date
                  ) -> dict[date, tuple[list[Row], str]]:
    r = MonitoringRollup.__table__
    query = select(r.c.period_start, r.c.rows_json, r.c.marks_digest).where(
        r.c.period_kind == period, r.c.grouping == by, r.c.period_start >= first,
        r.c.period_start <= last)
    out = {}
    with store.engine.connect() as conn:
        for start, rows, digest in conn.execute(query):
            try:
                out[start] = ([_row_of(d) for d in json.loads(rows)], digest)
            except (ValueError, TypeError, KeyError):  # not what this code writes: compute it
                continue
    return out


def _write_rollups(store: Store, period: str, by: str,
                   new: list[tuple[date, list[Row], str]]) -> None:
    """Keep the figures (newest wins). A store that cannot take the write now (another writer
    holds SQLite's lock, a read-only role) only costs a recomputation next time."""
    if not new:
        return
    table = MonitoringRollup.__table__
    if store.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    now = utcnow()
    values = [{"period_kind": period, "grouping": by, "period_start": start,
               "rows_json": json.dumps([_plain(row) for row in rows]), "marks_digest": digest,
               "computed_at": now} for start, rows, digest in new]
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["period_kind", "grouping", "period_start"],
        set_={c: stmt.excluded[c] for c in ("rows_json", "marks_digest", "computed_at")})
    try:
        with store.engine.begin() as conn:
            conn.execute(stmt, values)
    except SQLAlchemyError as err:
        log.warning("monitoring figures not kept (computed again next time): %s", err)


def _plain(row: Row) -> dict[str, Any]:
    d = asdict(row)
    d["period"] = row.period.isoformat()
    return d


def _row_of(d: dict[str, Any]) -> Row:
    return Row(**{**d, "period": date.fromisoformat(d["period"])})


def kept_periods(store: Store) -> dict[tuple[str, str], int]:
    """How many periods' figures the store keeps, per (period, by)."""
    r = MonitoringRollup.__table__
    from sqlalchemy import func

    with store.engine.connect() as conn:
        return {(k, g): n for k, g, n in conn.execute(
            select(r.c.period_kind, r.c.grouping, func.count()).group_by(
                r.c.period_kind, r.c.grouping))}


# The triggers' "old enough" on SQLite (migration 0005), evaluated once per statement here.
_SQLITE_OLD_ENOUGH = "strftime('%Y-%m-%d %H:%M:%f', 'now', '-6 hours')"
_SQLITE_MARK_BATCH = f"""
    INSERT INTO monitoring_mark (day, onward, token)
    SELECT day, onward, random() FROM (
      SELECT DISTINCT substr(created_at, 1, 10) AS day, user_id IS NOT NULL AS onward
      FROM interaction WHERE id > ? AND created_at < {_SQLITE_OLD_ENOUGH}) WHERE true
    ON CONFLICT (day, onward) DO UPDATE SET token = excluded.token"""


def sqlite_bulk_insert(cur, sql: str, rows: list[tuple]) -> int:
    """The SQLite importer's batch (`sql` an INSERT into interaction, run with executemany on a
    DB-API cursor inside the caller's transaction): the per-row mark trigger stands aside
    (a monitoring_bulk row that no other connection ever sees: SQLite has one writer, and the
    row is gone before the transaction ends) and the batch's days are marked in one statement.
    Returns the rows inserted."""
    # A statement with a trigger keeps a statement journal (a temporary file, by default) for
    # each row: in memory, the trigger costs next to nothing.
    temp_store = cur.execute("PRAGMA temp_store").fetchone()[0]
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("INSERT INTO monitoring_bulk (holder) VALUES ('import')")
    try:
        before = cur.execute("SELECT coalesce(max(id), 0) FROM interaction").fetchone()[0]
        cur.executemany(sql, rows)
        added = cur.rowcount  # sqlite3_changes(): inserted rows, not ignored ones nor marks
        cur.execute(_SQLITE_MARK_BATCH, (before,))
    finally:
        cur.execute("DELETE FROM monitoring_bulk")
        cur.execute(f"PRAGMA temp_store={int(temp_store)}")
    return added


# ------------------------------------------------------------------ PostgreSQL

_PG_FAILED = ("(ltrim(m.value ->> 'content') ILIKE 'error%' "
              "OR ltrim(m.value ->> 'content') LIKE '{\"error\"%')")


def _postgres_query(store, period, by, since, until) -> dict[tuple[date, str], _Acc]:
    g = _group_sql(by)
    args = {"since": since, "until": until, "unit": period}
    where = "created_at >= :since AND created_at < :until"
    main = text(f"""
        SELECT date_trunc(:unit, created_at)::date AS p, {g} AS g, count(*),
          percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),
          percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms),
          coalesce(sum(completion_tokens), 0), count(completion_tokens),
          count(rating), coalesce(sum(rating), 0),
          count(*) FILTER (WHERE status = 'accepted'), count(*) FILTER (WHERE status = 'rejected'),
          count(*) FILTER (WHERE strpos(',' || tags || ',', ',fallback,') > 0),
          count(session_id), count(DISTINCT session_id), count(DISTINCT user_id)
        FROM interaction WHERE {where} GROUP BY 1, 2""")
    # Returning: active in the period, with an interaction before it (any group, any time):
    # one probe of ix_interaction_user_created per active user.
    returning = text(f"""
        WITH active AS (SELECT DISTINCT date_trunc(:unit, created_at)::date AS p, {g} AS g,
                               user_id FROM interaction
                        WHERE {where} AND user_id IS NOT NULL)
        SELECT a.p, a.g, count(*) FROM active a
        WHERE EXISTS (SELECT 1 FROM interaction j WHERE j.user_id = a.user_id
                      AND j.created_at < a.p) GROUP BY 1, 2""")
    # \\u0000 in a stored conversation is valid JSON that PostgreSQL's json cannot unescape.
    tools = text(f"""
        SELECT date_trunc(:unit, created_at)::date AS p, {g} AS g, count(*),
               count(*) FILTER (WHERE {_PG_FAILED})
        FROM interaction i,
             LATERAL json_array_elements(replace(i.messages_json, '\\u0000', '')::json) m
        WHERE {where} AND reasoning_mode = 'agent' AND messages_json LIKE '%"role":"tool"%'
          AND m.value ->> 'role' = 'tool' GROUP BY 1, 2""")
    accs: dict[tuple[date, str], _Acc] = {}
    with store.engine.begin() as conn:
        # percentile_cont and count(DISTINCT) sort within each group: in memory, not on disk
        # (the default work_mem is 4 MB); for this transaction only
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        for (p, grp, n, p50, p95, tok, toked, rated, rsum, acc, rej, fb, sturns, sess,
             users) in conn.execute(main, args):
            accs[(p, grp)] = _Acc(
                answers=n, tokens=float(tok), tokened=toked, rated=rated,
                rating_sum=float(rsum), accepted=acc, rejected=rej, fallbacks=fb,
                session_turns=sturns, sessions=sess, active_users=users,
                p50=float(p50) if p50 is not None else None,
                p95=float(p95) if p95 is not None else None)
        for p, grp, n in conn.execute(returning, args):
            accs[(p, grp)].returning_users = n
        for p, grp, calls, failed in conn.execute(tools, args):
            accs[(p, grp)].tool_calls, accs[(p, grp)].tool_failed = calls, failed
    return accs


# ------------------------------------------------------------------ SQLite

def _sqlite_time(moment: datetime | date) -> str:
    """A bound in SQLAlchemy's SQLite text form (compared as text with stored times)."""
    if not isinstance(moment, datetime):
        moment = _midnight(moment)
    return moment.isoformat(" ", "microseconds")


_SQLITE_TOOLS = """(SELECT count(*) FROM json_each(interaction.messages_json) m
    WHERE json_extract(m.value, '$.role') = 'tool'{})"""
_SQLITE_FAILED = (" AND (ltrim(json_extract(m.value, '$.content')) LIKE 'error%'"
                  " OR ltrim(json_extract(m.value, '$.content')) LIKE '{\"error\"%')")
_HAS_TOOLS = """reasoning_mode = 'agent' AND messages_json LIKE '%"role":"tool"%'"""


def _sqlite_chunk_sql(by: str) -> str:
    """One statement, one pass over the period's rows (the table is read once, through the
    created_at index, into a narrow materialized set), then three small groupings of it,
    told apart by their first column. Returning users: one probe of ix_interaction_user_created
    per active user."""
    g = _group_sql(by)
    return f"""
    WITH c AS MATERIALIZED (
      SELECT {g} AS g,
        CASE WHEN latency_ms >= 1 THEN CAST(ln(latency_ms) * {BUCKETS_PER_E} AS INTEGER)
             WHEN latency_ms IS NOT NULL THEN -1 END AS b,
        completion_tokens AS tok, rating, status,
        instr(',' || tags || ',', ',fallback,') > 0 AS fb, session_id, user_id,
        CASE WHEN {_HAS_TOOLS} THEN {_SQLITE_TOOLS.format("")} ELSE 0 END AS calls,
        CASE WHEN {_HAS_TOOLS} THEN {_SQLITE_TOOLS.format(_SQLITE_FAILED)} ELSE 0 END AS failed
      FROM interaction WHERE created_at >= :lo AND created_at < :hi)
    SELECT 0, g, b, count(*), total(tok), count(tok), count(rating), total(rating),
           sum(status = 'accepted'), sum(status = 'rejected'), sum(fb), sum(calls), sum(failed)
      FROM c GROUP BY g, b
    UNION ALL
    SELECT 1, g, NULL, count(session_id), count(DISTINCT session_id), 0, 0, 0, 0, 0, 0, 0, 0
      FROM c GROUP BY g
    UNION ALL
    SELECT 2, g, NULL, count(*), sum(EXISTS (SELECT 1 FROM interaction j
                                             WHERE j.user_id = u.user_id
                                               AND j.created_at < :start)), 0, 0, 0, 0, 0, 0, 0, 0
      FROM (SELECT DISTINCT g, user_id FROM c WHERE user_id IS NOT NULL) u GROUP BY g"""


def _sqlite_chunk(store: Store, by: str, start: date, lo: datetime, hi: datetime
                  ) -> dict[str, _Acc]:
    """One period's figures per group, on a connection of its own (run in a thread)."""
    accs: dict[str, _Acc] = defaultdict(_Acc)
    args = {"start": _sqlite_time(start), "lo": _sqlite_time(lo), "hi": _sqlite_time(hi)}
    with store.engine.connect() as conn:
        _ensure_ln(conn)
        for (kind, grp, b, n, tok, toked, rated, rsum, acc, rej, fb, calls,
             failed) in conn.execute(text(_sqlite_chunk_sql(by)), args):
            a = accs[grp]
            if kind == 0:
                a.answers += n
                a.tokens += tok
                a.tokened += toked
                a.rated += rated
                a.rating_sum += rsum
                a.accepted += acc
                a.rejected += rej
                a.fallbacks += fb
                a.tool_calls += calls
                a.tool_failed += failed
                if b is not None:
                    a.hist[b] = a.hist.get(b, 0) + n
            elif kind == 1:
                a.session_turns, a.sessions = n, int(tok)
            else:
                a.active_users, a.returning_users = n, int(tok)
    return dict(accs)


def _ensure_ln(conn) -> None:
    """SQLite builds without the math functions get `ln` from Python."""
    try:
        conn.execute(text("SELECT ln(1.0)"))
    except Exception:  # noqa: BLE001 - "no such function: ln"
        conn.connection.dbapi_connection.create_function("ln", 1, _ln, deterministic=True)


def _ln(x):
    return math.log(x) if x is not None and x > 0 else None


# ------------------------------------------------------------------ the plain Python path

def compute_naive(store: Store, *, period: str = "week", by: str = "model",
                  since: datetime | None = None, until: datetime | None = None,
                  exact: bool = True) -> Report:
    """Every row read into Python and counted there. `exact=False` gives SQLite's bucketed
    percentiles (for comparing the two SQLite paths figure for figure)."""
    _check(period, by)
    report = Report(period, by, since, until, exact_percentiles=exact)
    span = _bounds(store, since, until)
    if span is None:
        return report
    accs: dict[tuple[date, str], _Acc] = defaultdict(_Acc)
    lat: dict[tuple[date, str], list[float]] = defaultdict(list)
    sessions: dict[tuple[date, str], set[str]] = defaultdict(set)
    users: dict[tuple[date, str], set[str]] = defaultdict(set)
    first_seen: dict[str, datetime] = {}
    cols = ("created_at, model, reasoning_mode, latency_ms, completion_tokens, rating, status, "
            "tags, session_id, user_id, messages_json")
    with store.engine.connect() as conn:
        for (created, model, mode, latency, tokens, rating, status, tags, session, user,
             messages) in conn.execute(text(f"SELECT {cols} FROM interaction")):
            if isinstance(created, str):
                created = datetime.fromisoformat(created)
            if user is not None and (user not in first_seen or created < first_seen[user]):
                first_seen[user] = created
            if not span[0] <= created < span[1]:
                continue
            key = (period_start(created, period), _group_of(by, model, mode))
            a = accs[key]
            a.answers += 1
            if latency is not None:
                lat[key].append(latency)
            if tokens is not None:
                a.tokens += tokens
                a.tokened += 1
            if rating is not None:
                a.rated += 1
                a.rating_sum += rating
            a.accepted += status == "accepted"
            a.rejected += status == "rejected"
            a.fallbacks += "fallback" in tags.split(",")
            if session is not None:
                a.session_turns += 1
                sessions[key].add(session)
            if user is not None:
                users[key].add(user)
            if mode == "agent":
                for m in json.loads(messages):
                    if m.get("role") == "tool":
                        a.tool_calls += 1
                        a.tool_failed += tool_failed(m.get("content"))
    for key, a in accs.items():
        a.sessions = len(sessions[key])
        a.active_users = len(users[key])
        start = datetime(key[0].year, key[0].month, key[0].day)
        a.returning_users = sum(first_seen[u] < start for u in users[key])
        if exact:
            a.p50, a.p95 = _exact_percentile(lat[key], 0.5), _exact_percentile(lat[key], 0.95)
        else:
            for v in lat[key]:
                a.hist[bucket_of(v)] = a.hist.get(bucket_of(v), 0) + 1
    report.rows = [accs[k].row(*k) for k in sorted(accs)]
    return report
