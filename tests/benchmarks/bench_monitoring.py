"""Monitoring figures on a big store: the Monitoring screen's first view (the last WINDOW_WEEKS
weeks, per week and model) cold and with the closed weeks' figures kept in the store, its poll,
the time an import spends keeping that view current, a full refresh, and the plain Python path
(compute_naive) on the same rows, side by side. Target (issue 15): at most 1 s for the first
view with kept figures and for the poll.

The synthetic traffic lies in the past: "now" is set to an hour after its newest interaction,
so the last week is the open one (computed on every call) and the others are closed.

    python tests/benchmarks/bench_monitoring.py [--rows 1000000] [--workdir DIR] [--db URL]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from monitoring_synth import fill  # noqa: E402
from sqlalchemy import text  # noqa: E402

from ftui import monitoring  # noqa: E402
from ftui.store import open_store  # noqa: E402

TARGET_S = 1.0
WINDOW_WEEKS = monitoring.DEFAULT_WEEKS  # what the screen shows first (screens/monitoring.py)


def timed(fn, rounds: int, before=None) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(rounds):
        if before is not None:
            before()
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=182)
    ap.add_argument("--workdir", help="keep the generated SQLite store here between runs")
    ap.add_argument("--db", help="a database URL (e.g. postgresql+psycopg://...) instead")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--skip-refresh-all", action="store_true")
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ftui-bench-mon-"))
    workdir.mkdir(parents=True, exist_ok=True)
    url = args.db or f"sqlite:///{workdir / f'monitoring-{args.rows}.db'}"
    store = open_store(url)
    with store.engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM interaction")).scalar()
    if have != args.rows:
        if have:
            sys.exit(f"{url} holds {have} interactions, not {args.rows}: use an empty database")
        t0 = time.perf_counter()
        fill(store, args.rows, days=args.days)
        print(f"generated {args.rows:,} interactions in {time.perf_counter() - t0:.0f} s")
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE interaction"))  # as autovacuum would after a load
    last = monitoring._bounds(store, None, None)[1]
    now = last + timedelta(hours=1)
    monitoring.utcnow = lambda: now  # the synthetic traffic's "now": the last week is open
    since = monitoring.default_since(WINDOW_WEEKS)
    view = dict(period="week", by="model", since=since)

    def forget() -> None:
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM monitoring_rollup"))

    def new_process_view():  # a new Store: nothing in memory helps
        fresh = open_store(url)
        try:
            return monitoring.compute(fresh, **view)
        finally:
            fresh.close()

    results: list[tuple[str, float, bool]] = []
    cold_s, cold = timed(new_process_view, args.rounds, before=forget)
    results.append((f"first view, cold (no kept figures, {WINDOW_WEEKS} weeks)", cold_s, False))
    kept_s, kept = timed(new_process_view, args.rounds)
    assert kept.as_dict() == cold.as_dict(), "kept figures differ from computed ones"
    results.append(("first view, kept figures (new Store)", kept_s, True))
    poll_s, _ = timed(lambda: monitoring.compute(store, **view), args.rounds)
    results.append(("poll (the open week computed)", poll_s, True))
    warm_s, _ = timed(lambda: monitoring.warm_default_view(store), 1, before=forget)
    results.append(("after an import: keep the first view", warm_s, False))
    if not args.skip_refresh_all:
        refresh_s, _ = timed(lambda: monitoring.refresh(store), 1)
        results.append(("ftui monitor --refresh (all 6 views)", refresh_s, False))
        whole_s, _ = timed(lambda: monitoring.compute(store, period="day", by="mode"),
                           args.rounds)
        results.append(("whole store per day by mode, kept", whole_s, False))
    naive_s = float("nan")
    if not args.skip_naive:
        naive_s, naive = timed(lambda: monitoring.compute_naive(
            store, exact=kept.exact_percentiles, **view), 1)
        assert [(r.period, r.group, r.answers, r.returning_users) for r in naive.rows] == \
            [(r.period, r.group, r.answers, r.returning_users) for r in kept.rows]
        results.append(("plain Python (compute_naive), first view", naive_s, False))
    backend = store.engine.dialect.name
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.rows:,} interactions over {args.days} days on {backend}, best of "
          f"{args.rounds}, load average {load} on {os.cpu_count()} CPUs")
    print(f"{'view':<52}{'s':>8}  target {TARGET_S:.0f} s")
    for name, seconds, targeted in results:
        verdict = ("pass" if seconds <= TARGET_S else "FAIL") if targeted else ""
        print(f"{name:<52}{seconds:>8.2f}  {verdict}")
    print(json.dumps({
        "bench": "monitoring", "backend": backend, "rows": args.rows, "load": load,
        "first_view_cold_s": round(cold_s, 3), "first_view_kept_s": round(kept_s, 3),
        "poll_s": round(poll_s, 3), "import_warm_s": round(warm_s, 3),
        "refresh_all_s": round(results[4][1], 3) if not args.skip_refresh_all else None,
        "naive_first_view_s": round(naive_s, 3) if naive_s == naive_s else None,
        "target_s": TARGET_S, "pass": kept_s <= TARGET_S and poll_s <= TARGET_S}))
    store.close()


if __name__ == "__main__":
    main()
