"""Monitoring figures on a big store: the database's aggregation (ftui.monitoring.compute) against
the plain Python path (compute_naive) on the same rows, side by side.

Measured: the whole store cold (every period), the Monitoring screen's first view (the last
WINDOW_WEEKS weeks, cold) and its poll (the same view again with the screen's cache: closed
periods are reused, the open one is recomputed). Target (issue 15): at most 1 s.

    python tests/benchmarks/bench_monitoring.py [--rows 1000000] [--workdir DIR] [--db URL]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from monitoring_synth import fill  # noqa: E402

from ftui import monitoring  # noqa: E402
from ftui.store import open_store  # noqa: E402

TARGET_S = 1.0
WINDOW_WEEKS = 8  # what the screen shows first (screens/monitoring.py)


def timed(fn, rounds: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(rounds):
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
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-naive", action="store_true")
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ftui-bench-mon-"))
    workdir.mkdir(parents=True, exist_ok=True)
    url = args.db or f"sqlite:///{workdir / f'monitoring-{args.rows}.db'}"
    store = open_store(url)
    with store.engine.connect() as conn:
        from sqlalchemy import text

        have = conn.execute(text("SELECT count(*) FROM interaction")).scalar()
    if have != args.rows:
        if have:
            sys.exit(f"{url} holds {have} interactions, not {args.rows}: use an empty database")
        t0 = time.perf_counter()
        fill(store, args.rows, days=args.days)
        print(f"generated {args.rows:,} interactions in {time.perf_counter() - t0:.0f} s")
    span = monitoring._bounds(store, None, None)
    since = monitoring.period_start(span[1], "week") - timedelta(weeks=WINDOW_WEEKS - 1)
    from datetime import datetime

    since = datetime(since.year, since.month, since.day)
    cache: dict = {}
    cases = {
        "whole store, by week and model": dict(period="week", by="model"),
        "whole store, by day and mode": dict(period="day", by="mode"),
        f"screen: last {WINDOW_WEEKS} weeks": dict(period="week", by="model", since=since),
    }
    results = []
    for name, kw in cases.items():
        sql_s, report = timed(lambda kw=kw: monitoring.compute(store, **kw), args.rounds)
        naive_s = (float("nan") if args.skip_naive
                   else timed(lambda kw=kw: monitoring.compute_naive(store, **kw), 1)[0])
        results.append((name, sql_s, naive_s, len(report.rows)))
    monitoring.compute(store, cache=cache, **cases[f"screen: last {WINDOW_WEEKS} weeks"])
    # The synthetic data lies in the past, so every period is closed; a poll recomputes the
    # open one: its period's figures are dropped from the cache to stand for it.
    last_key = max((k for k in cache if k[0] != "seen"), key=lambda k: k[-2])  # latest lo
    poll_s, _ = timed(lambda: (cache.pop(last_key, None), monitoring.compute(
        store, cache=cache, **cases[f"screen: last {WINDOW_WEEKS} weeks"])), args.rounds)
    results.append(("screen poll (open period only)", poll_s, float("nan"), 0))
    backend = store.engine.dialect.name
    print(f"{args.rows:,} interactions over {args.days} days on {backend}, best of {args.rounds}")
    print(f"{'view':<36}{'SQL s':>8}{'Python s':>10}{'speed-up':>10}{'rows':>7}")
    for name, sql_s, naive_s, n in results:
        speed = naive_s / sql_s if naive_s == naive_s else float("nan")
        print(f"{name:<36}{sql_s:>8.2f}{naive_s:>10.2f}{speed:>9.1f}x{n:>7}")
    screen_s = results[2][1]
    print(json.dumps({
        "bench": "monitoring", "backend": backend, "rows": args.rows,
        "whole_week_s": round(results[0][1], 3), "whole_day_s": round(results[1][1], 3),
        "screen_first_s": round(screen_s, 3), "screen_poll_s": round(poll_s, 3),
        "naive_whole_week_s": round(results[0][2], 3) if results[0][2] == results[0][2] else None,
        "target_s": TARGET_S, "pass_screen": screen_s <= TARGET_S and poll_s <= TARGET_S,
        "pass_whole": results[0][1] <= TARGET_S}))
    store.close()


if __name__ == "__main__":
    main()
