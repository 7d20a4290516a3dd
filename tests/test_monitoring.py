"""Monitoring figures: the database's aggregation against a plain Python computation over the same
rows, on SQLite and on PostgreSQL, with hostile rows among them."""

from __future__ import annotations

import json
import math
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from ftui import monitoring
from ftui.conversation import canonical_json
from ftui.errors import FtuiError
from ftui.store import Interaction, open_store, utcnow

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
import monitoring_synth  # noqa: E402

BUCKET_TOLERANCE = math.exp(1 / monitoring.BUCKETS_PER_E) - 1  # one bucket's relative width
COUNTS = ("answers", "tool_calls", "sessions", "active_users", "returning_users")
RATIOS = ("tokens_per_answer", "mean_rating", "rated_share", "accepted_share", "tool_success",
          "turns_per_session", "fallback_rate")


@pytest.fixture
def store(any_store):
    return any_store


def _agent(tool_contents, i):
    msgs = [{"role": "user", "content": f"hostile {i}"}]
    for k, content in enumerate(tool_contents):
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{k}", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})
        msgs.append({"role": "tool", "tool_call_id": f"c{k}", "name": "f", "content": content})
    msgs.append({"role": "assistant", "content": "done"})
    return msgs


def _hostile_rows(base: datetime) -> list[dict]:
    """Rows that a careless aggregation gets wrong."""
    cases = [
        # tool results: failures in every spelling, and look-alikes that are not failures
        dict(mode="agent", msgs=_agent(["ERROR: boom", "  error here", "fine", "errors are ok?"], 0)),
        dict(mode="agent", msgs=_agent([{"error": "x"}, {"result": "error"}, None, ""], 1)),
        dict(mode="agent", msgs=_agent(["nul \u0000 inside", "Error\u0000", "x\ty"], 2)),
        dict(mode="agent", msgs=_agent([], 3)),  # agent mode without tools
        dict(mode="standard", msgs=_agent(["Error: not agent mode"], 4)),  # not counted
        # latencies at the edges, tags that only look like a fallback
        dict(latency=0.0, tags="fallback"), dict(latency=0.4, tags="fallback,slow"),
        dict(latency=1.0, tags="nofallback"), dict(latency=1e6, tags="fallback-x"),
        dict(latency=None, model=None, tags="a,fallback"),
        dict(model="m\ufffdodd'name", user="u'; DROP TABLE interaction;--", session="s1"),
        dict(model="m\ufffdodd'name", user="u'; DROP TABLE interaction;--", session="s1",
             day=8),  # the same user a week later: returning
    ]
    rows = []
    for i, case in enumerate(cases):
        msgs = case.get("msgs") or [{"role": "user", "content": f"q{i}"},
                                    {"role": "assistant", "content": "a"}]
        created = base + timedelta(days=case.get("day", 0), hours=i)
        rows.append({
            "uid": None, "created_at": created, "updated_at": created, "source": "t",
            "user_id": case.get("user"), "session_id": case.get("session"),
            "reasoning_mode": case.get("mode", "standard"), "model": case.get("model", "m1"),
            "messages_json": canonical_json(msgs), "tools_json": None, "context_json": None,
            "preview": "", "latency_ms": case.get("latency", 500.0), "prompt_tokens": 1,
            "completion_tokens": 7, "rating": 5 if i % 2 else None,
            "status": ("accepted", "rejected", "new")[i % 3], "correction": None,
            "tags": case.get("tags", ""), "notes": None, "content_hash": f"hostile{i}",
            "experiment_id": None, "arm": None})
    return rows


@pytest.fixture
def filled(store):
    monitoring_synth.fill(store, 4_000, seed=3, days=40)
    with store.engine.begin() as conn:
        conn.execute(insert(Interaction.__table__), _hostile_rows(datetime(2025, 1, 20, 1)))
    return store


def _same(sql: monitoring.Report, py: monitoring.Report, percentile_tol: float,
          dense: int = 0) -> None:
    """Equal figures; percentiles within `percentile_tol` (relative), compared on groups of at
    least `dense` answers (a bucketed estimate of a sparse group can sit anywhere between the
    two order statistics it falls between)."""
    assert [(r.period, r.group) for r in sql.rows] == [(r.period, r.group) for r in py.rows]
    for a, b in zip(sql.rows, py.rows, strict=True):
        where = (a.period, a.group)
        for name in COUNTS:
            assert getattr(a, name) == getattr(b, name), (where, name)
        for name in RATIOS:
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None), (where, name)
            assert x is None or math.isclose(x, y, rel_tol=1e-9), (where, name, x, y)
        for name in ("latency_p50", "latency_p95"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None), (where, name)
            if x is not None and a.answers >= dense:
                assert abs(x - y) <= percentile_tol * max(y, 1.0), (where, name, x, y)


def _within_a_bucket_of_the_order_statistics(store, report: monitoring.Report) -> None:
    """SQLite's estimate of percentile p lies between the two order statistics that
    percentile_cont interpolates between, widened by one bucket."""
    from sqlalchemy import text

    values: dict = {}
    with store.engine.connect() as conn:
        for created, model, mode, latency in conn.execute(text(
                "SELECT created_at, model, reasoning_mode, latency_ms FROM interaction "
                "WHERE latency_ms IS NOT NULL")):
            created = datetime.fromisoformat(str(created))
            key = (monitoring.period_start(created, report.period),
                   monitoring._group_of(report.by, model, mode))
            values.setdefault(key, []).append(latency)
    for row in report.rows:
        vals = sorted(values.get((row.period, row.group), []))
        for p, est in ((0.5, row.latency_p50), (0.95, row.latency_p95)):
            if not vals:
                assert est is None
                continue
            lo = vals[math.floor((len(vals) - 1) * p)]
            hi = vals[math.ceil((len(vals) - 1) * p)]
            slack = 1 + BUCKET_TOLERANCE
            # below 1 ms everything shares one bucket, [0, 1)
            assert lo / slack - (lo < 1) <= est <= max(hi, 1) * slack, (row, p, lo, hi, est)


@pytest.mark.parametrize(("period", "by"), [("week", "model"), ("day", "mode"), ("week", "all")])
def test_sql_figures_equal_the_python_computation(filled, period, by):
    sql = monitoring.compute(filled, period=period, by=by)
    exact = monitoring.compute_naive(filled, period=period, by=by)
    assert sql.rows and sum(r.answers for r in sql.rows) == 4_000 + 12
    if sql.exact_percentiles:  # PostgreSQL: percentile_cont
        _same(sql, exact, 1e-9)
    else:  # SQLite: the same buckets give the same estimate; it is within a bucket of exact
        _same(sql, monitoring.compute_naive(filled, period=period, by=by, exact=False), 1e-9)
        _same(sql, exact, math.inf)
        _within_a_bucket_of_the_order_statistics(filled, sql)
    assert sum(r.tool_calls for r in sql.rows) > 100
    assert any(r.returning_users for r in sql.rows)


def test_hostile_rows_counted_as_defined(store):
    with store.engine.begin() as conn:
        conn.execute(insert(Interaction.__table__), _hostile_rows(datetime(2025, 1, 20, 1)))
    report = monitoring.compute(store, period="week", by="mode")
    agent = next(r for r in report.rows if r.group == "agent")
    # 11 tool results in agent mode: failed are "ERROR: boom", "  error here", "errors are ok?",
    # {"error": ...} and "Error\0"
    assert (agent.tool_calls, round(agent.tool_success * 11)) == (11, 6)
    standard = [r for r in report.rows if r.group == "standard"]
    assert sum(r.tool_calls for r in standard) == 0
    first_week = [r for r in standard if r.period.isoformat() == "2025-01-20"][0]
    assert round(first_week.fallback_rate * first_week.answers) == 3
    second = [r for r in standard if r.period.isoformat() == "2025-01-27"][0]
    assert (second.active_users, second.returning_users) == (1, 1)
    by_model = monitoring.compute(store, by="model")
    assert {r.group for r in by_model.rows} >= {monitoring.NO_MODEL, "m\ufffdodd'name"}
    assert json.loads(json.dumps(by_model.as_dict()))["rows"][0]["period"] == "2025-01-20"


def test_window_and_returning_users_count_history_before_it(filled):
    since = datetime(2025, 1, 27)
    sql = monitoring.compute(filled, period="week", by="all", since=since)
    py = monitoring.compute_naive(filled, period="week", by="all", since=since)
    assert sql.rows[0].period.isoformat() == "2025-01-27"
    assert sql.rows[0].returning_users == py.rows[0].returning_users > 0
    _same(sql, py, 1e-9 if sql.exact_percentiles else math.inf)


def _computed(monkeypatch) -> list:
    """The periods the database is asked to compute, call by call."""
    calls: list = []
    real = monitoring._compute_periods

    def spy(store, dialect, period, by, todo):
        calls.append([start for start, _, _ in todo])
        return real(store, dialect, period, by, todo)

    monkeypatch.setattr(monitoring, "_compute_periods", spy)
    return calls


def test_closed_periods_are_kept_in_the_store_and_read_back_by_a_new_process(filled,
                                                                            monkeypatch):
    calls = _computed(monkeypatch)
    first = monitoring.compute(filled)
    weeks = len({r.period for r in first.rows})
    assert weeks >= 6 and calls == [sorted({r.period for r in first.rows})]
    assert monitoring.kept_periods(filled) == {("week", "model"): weeks}
    again = open_store(filled.url)  # a new Store: nothing held in memory helps
    try:
        kept = monitoring.compute(again)
    finally:
        again.close()
    assert calls[1:] == [[]]  # every period came from the store
    assert kept.as_dict() == first.as_dict()
    _same(kept, monitoring.compute_naive(filled, exact=kept.exact_percentiles), 1e-9)
    # a window cut inside a period is computed, never kept as the period's figures
    cut = monitoring.compute(filled, since=datetime(2025, 1, 22))
    assert calls[-1] == [date(2025, 1, 20)]
    assert cut.rows[0].answers < first.rows[0].answers or cut.rows[0].group != first.rows[0].group
    assert monitoring.compute(filled).as_dict() == first.as_dict()
    # refresh recomputes all of them
    monitoring.compute(filled, refresh=True)
    assert len(calls[-1]) == weeks


def test_the_open_period_is_computed_every_time_and_never_kept(filled, monkeypatch):
    from ftui.ingest import log_interaction

    monitoring.compute(filled, by="all")
    marks = monitoring._read_marks(filled)
    log_interaction(filled, [{"role": "user", "content": "now"},
                             {"role": "assistant", "content": "ok"}], model="m1")
    assert monitoring._read_marks(filled) == marks  # live traffic marks nothing
    calls = _computed(monkeypatch)
    for _ in range(2):
        report = monitoring.compute(filled, by="all")
        assert report.rows[-1].period == monitoring.period_start(utcnow(), "week")
        assert report.rows[-1].answers == 1
        assert calls[-1][-1] == report.rows[-1].period
    # every closed week is kept, the empty ones between the synthetic weeks and today too
    closed = monitoring._midnight(monitoring.period_start(utcnow() - monitoring.CLOSED_AFTER,
                                                          "week"))
    weeks = (closed - monitoring._midnight(report.rows[0].period)).days // 7
    assert monitoring.kept_periods(filled) == {("week", "all"): weeks}


OLD = datetime(2025, 1, 28, 10)  # inside the synthetic weeks: a closed period


def _old_row_id(store, user: bool = False) -> int:
    from sqlalchemy import text as sql

    with store.engine.connect() as conn:
        return conn.execute(sql(
            "SELECT id FROM interaction WHERE created_at >= :a AND created_at < :b "
            "AND rating IS NULL AND status = 'new' AND tags = '' AND reasoning_mode = 'standard'"
            + (" AND user_id IS NOT NULL" if user else "") + " ORDER BY id LIMIT 1"),
            {"a": OLD, "b": OLD + timedelta(days=1)}).scalar()


def _write_rating(store):
    from sqlalchemy import text as sql

    from ftui.store.interactions import set_rating

    row = _old_row_id(store)
    with store.engine.begin() as conn:  # set_rating finds a row by its uid (none synthetic)
        conn.execute(sql("UPDATE interaction SET uid = 'rated-later' WHERE id = :id"),
                     {"id": row})
    set_rating(store, row, 1)


def _write_review(store):
    from ftui.store.interactions import set_status

    set_status(store, _old_row_id(store), "accepted")


def _write_fallback_tag(store):
    from ftui.store.interactions import set_tags

    set_tags(store, _old_row_id(store), ["fallback"])


def _write_undoable_batch(store):
    from ftui.store.edits import apply_changes

    apply_changes(store, {_old_row_id(store): {"rating": 2, "status": "rejected"}}, "batch")


def _write_import_backfill(store):
    import tempfile

    from ftui.ingest import import_files

    path = Path(tempfile.mkdtemp()) / "backfill.jsonl"
    path.write_text("\n".join(json.dumps({
        "messages": [{"role": "user", "content": f"backfilled {i}"},
                     {"role": "assistant", "content": "old answer"}],
        "created_at": (OLD + timedelta(minutes=i)).isoformat(), "model": "m1",
        "user_id": "backfilled-user", "latency_ms": 5000 + i, "rating": 1})
        for i in range(3)) + "\n")
    assert import_files(store, [path]).imported == 3
    with store.engine.connect() as conn:  # the importer's "marks by batch" flag never stays
        assert conn.exec_driver_sql("SELECT count(*) FROM monitoring_bulk").scalar() == 0


def _write_raw_insert_elsewhere(store):
    """A row with an old time written by another program (no ftui code): the trigger marks it."""
    from sqlalchemy import create_engine

    rows = _hostile_rows(OLD)[:2]
    for i, row in enumerate(rows):
        row["content_hash"] = f"elsewhere{i}"
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(Interaction.__table__), rows)
    finally:
        engine.dispose()


def _write_raw_sql_elsewhere(store):
    """Another process, e.g. a gateway or an operator's psql: its own engine, plain SQL."""
    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            conn.execute(sql("UPDATE interaction SET latency_ms = 99999, rating = 5 "
                             "WHERE id = :id"), {"id": _old_row_id(store)})
    finally:
        engine.dispose()


def _write_delete(store):
    from sqlalchemy import text as sql

    with store.engine.begin() as conn:
        conn.execute(sql("DELETE FROM interaction WHERE id = :id"), {"id": _old_row_id(store)})


PAST_WRITES = [_write_rating, _write_review, _write_fallback_tag, _write_undoable_batch,
               _write_import_backfill, _write_raw_sql_elsewhere, _write_raw_insert_elsewhere,
               _write_delete]


@pytest.mark.parametrize("write", PAST_WRITES, ids=lambda f: f.__name__[7:])
def test_a_change_of_the_past_makes_its_kept_period_computed_again(filled, write):
    before = {}
    for period, by in (("week", "model"), ("day", "all")):
        before[period] = monitoring.compute(filled, period=period, by=by)
    write(filled)
    for period, by in (("week", "model"), ("day", "all")):
        again = open_store(filled.url)
        try:
            after = monitoring.compute(again, period=period, by=by)
        finally:
            again.close()
        naive = monitoring.compute_naive(filled, period=period, by=by,
                                         exact=after.exact_percentiles)
        _same(after, naive, 1e-9)
        assert after.as_dict() != before[period].as_dict()  # the change is seen
        changed = {r.period for r in after.rows} ^ {r.period for r in before[period].rows} | {
            a.period for a, b in zip(after.rows, before[period].rows, strict=False) if a != b}
        assert min(changed) == monitoring.period_start(OLD, period), changed


def test_a_backfilled_first_visit_makes_a_later_period_count_a_returning_user(filled):
    from sqlalchemy import text as sql

    from ftui.ingest import import_files

    uid = _old_row_id(filled)

    with filled.engine.begin() as conn:  # a user seen for the first time in a late week
        conn.execute(sql("UPDATE interaction SET user_id = 'late-user' WHERE id = :id"),
                     {"id": uid})
    late = monitoring.compute(filled, by="all")
    week = monitoring.period_start(OLD, "week")
    row = next(r for r in late.rows if r.period == week)
    import tempfile

    path = Path(tempfile.mkdtemp()) / "early.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "early"},
                                             {"role": "assistant", "content": "a"}],
                                "created_at": "2025-01-06T09:00:00", "user_id": "late-user",
                                "model": "m1"}) + "\n")
    assert import_files(filled, [path]).imported == 1
    after = monitoring.compute(filled, by="all")
    assert next(r for r in after.rows if r.period == week).returning_users == \
        row.returning_users + 1
    _same(after, monitoring.compute_naive(filled, by="all", exact=after.exact_percentiles), 1e-9)


def test_a_correction_or_a_note_changes_no_figure_and_marks_nothing(filled):
    from ftui.store.interactions import set_correction, set_notes

    monitoring.compute(filled)
    marks = monitoring._read_marks(filled)
    set_correction(filled, _old_row_id(filled), "a better answer")
    set_notes(filled, _old_row_id(filled), "looked at it")
    assert monitoring._read_marks(filled) == marks


def test_a_write_during_the_computation_is_not_lost(filled, monkeypatch):
    """Marks are read before the figures: a rating that lands between the two leaves kept
    figures whose digest no longer matches, so the next call computes them again."""
    real = monitoring._compute_periods

    def rating_lands_midway(store, dialect, period, by, todo):
        out = real(store, dialect, period, by, todo)
        _write_rating(store)  # after the figures were read
        return out

    monkeypatch.setattr(monitoring, "_compute_periods", rating_lands_midway)
    monitoring.compute(filled, by="all")
    monkeypatch.setattr(monitoring, "_compute_periods", real)
    after = monitoring.compute(filled, by="all")
    _same(after, monitoring.compute_naive(filled, by="all", exact=after.exact_percentiles), 1e-9)


def test_warm_and_refresh_keep_every_view(filled):
    n, seconds = monitoring.refresh(filled)
    kept = monitoring.kept_periods(filled)
    assert set(kept) == {(p, b) for p in monitoring.PERIODS for b in monitoring.GROUPINGS}
    assert n == sum(kept.values()) and seconds > 0


def test_empty_store_and_bad_arguments(store):
    assert monitoring.compute(store).rows == []
    assert monitoring.compute_naive(store).rows == []
    with pytest.raises(FtuiError, match="period"):
        monitoring.compute(store, period="month")
    with pytest.raises(FtuiError, match="grouping"):
        monitoring.compute(store, by="user")


def test_hist_percentile_matches_percentile_cont_within_a_bucket():
    values = [0.2, 3.0, 3.1, 50, 51, 52, 700, 1e4]
    hist: dict[int, int] = {}
    for v in values:
        hist[monitoring.bucket_of(v)] = hist.get(monitoring.bucket_of(v), 0) + 1
    for p in (0.5, 0.95):
        exact = monitoring._exact_percentile(values, p)
        # between order statistics the estimate may fall anywhere in the spanned buckets
        lo = sorted(values)[math.floor((len(values) - 1) * p)]
        hi = sorted(values)[math.ceil((len(values) - 1) * p)]
        est = monitoring.hist_percentile(hist, p)
        assert lo / (1 + BUCKET_TOLERANCE) <= est <= hi * (1 + BUCKET_TOLERANCE), (p, exact, est)


def test_cli_monitor_json_equals_the_core_and_bad_spans_say_how(filled, capsys):
    from ftui.cli import main

    assert main(["--db", filled.url, "monitor", "--json", "--by", "mode", "--period", "day",
                 "--since", "2025-01-20"]) == 0
    out = json.loads(capsys.readouterr().out)
    core = monitoring.compute(filled, period="day", by="mode", since=datetime(2025, 1, 20))
    assert out == json.loads(json.dumps(core.as_dict()))
    assert main(["--db", filled.url, "monitor"]) == 0
    assert "p95" in capsys.readouterr().out
    for bad in ("yesterday", "2025-13-01", "-5d", "5 weeks", "'; DROP TABLE interaction;--"):
        assert main(["--db", filled.url, "monitor", f"--since={bad}"]) == 2
        err = capsys.readouterr().err
        assert "is neither a date nor a span" in err and "fix:" in err and "Traceback" not in err
    assert main(["--db", filled.url, "monitor", "--since", "2w", "--until", "4w"]) == 2
    assert "--since is not before --until" in capsys.readouterr().err


def test_cli_import_keeps_the_first_view_and_monitor_refresh_computes_all(store, tmp_path,
                                                                         capsys, monkeypatch):
    from ftui.cli import main

    home = tmp_path / "home"  # the screen last showed days by mode: that view is kept too
    home.mkdir()
    (home / "ui-state.json").write_text(json.dumps(
        {"monitoring.view": {"by": "mode", "period": "day", "figure": 0}}))
    monkeypatch.setenv("FTUI_HOME", str(home))

    start = utcnow() - timedelta(days=20)
    path = tmp_path / "recent.jsonl"
    path.write_text("".join(json.dumps({
        "messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}],
        "created_at": (start + timedelta(hours=4 * i)).isoformat(), "model": "m1",
        "user_id": f"u{i % 7}", "latency_ms": 100 + i}) + "\n" for i in range(100)))
    assert main(["--db", store.url, "import", str(path)]) == 0
    assert "monitoring figures of the last weeks (F8's first view) kept in" in \
        capsys.readouterr().out
    kept = monitoring.kept_periods(store)
    assert set(kept) == {("week", "model"), ("day", "mode")} and kept[("week", "model")] >= 2
    assert main(["--db", store.url, "monitor", "--refresh", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["refreshed"]["periods"] > 0
    assert set(monitoring.kept_periods(store)) == {(p, b) for p in monitoring.PERIODS
                                                   for b in monitoring.GROUPINGS}
    assert out["rows"] == monitoring.compute(store).as_dict()["rows"]
    assert main(["--db", store.url, "import", str(path), "--json"]) == 0  # all duplicates
    assert json.loads(capsys.readouterr().out)["monitoring_warm_s"] is None


def test_an_existing_store_is_upgraded_and_its_triggers_catch_changes(filled):
    """A store from before the kept figures (revision 0004, with its rows) opened by this code:
    tables, index and triggers are added, and a change of the past is seen."""
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from ftui.store import migrations

    url = filled.url
    filled.close()
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(migrations.config(conn), "0004_worker_table")
    with engine.connect() as conn:
        assert not inspect(conn).has_table("monitoring_rollup")
    engine.dispose()
    store = open_store(url)
    try:
        before = monitoring.compute(store, by="all")
        _write_review(store)
        after = monitoring.compute(store, by="all")
        assert after.as_dict() != before.as_dict()
        _same(after, monitoring.compute_naive(store, by="all", exact=after.exact_percentiles),
              1e-9)
    finally:
        store.close()


def test_figures_kept_by_other_code_are_computed_again(filled, monkeypatch):
    from sqlalchemy import text as sql

    first = monitoring.compute(filled, by="all")
    weeks = len({r.period for r in first.rows})
    with filled.engine.begin() as conn:  # unreadable for this code (an older or newer ftui)
        conn.execute(sql("UPDATE monitoring_rollup SET rows_json = '[{\"period\": 1}]' "
                         "WHERE period_start = (SELECT min(period_start) FROM monitoring_rollup)"))
    calls = _computed(monkeypatch)
    assert monitoring.compute(filled, by="all").as_dict() == first.as_dict()
    assert len(calls[-1]) == 1
    monkeypatch.setattr(monitoring, "FIGURES_VERSION", monitoring.FIGURES_VERSION + 1)
    assert monitoring.compute(filled, by="all").as_dict() == first.as_dict()
    assert len(calls[-1]) == weeks  # a new definition of the figures: every period again
