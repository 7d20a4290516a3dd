"""`ftui monitor`: the product's figures over time, per model or mode (the F8 screen's numbers)."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta

from ftui.cli.common import EXIT_OK, emit, leaf, store_for
from ftui.errors import FtuiError

ORDER = 75

_RELATIVE = re.compile(r"^(\d{1,5})([dw])$")


def parse_when(text: str | None, flag: str, now: datetime) -> datetime | None:
    """YYYY-MM-DD (or an ISO time), or a span back from now: 30d, 8w."""
    if not text:
        return None
    found = _RELATIVE.match(text.strip())
    if found:
        amount, unit = int(found[1]), found[2]
        return now - timedelta(days=amount * (7 if unit == "w" else 1))
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise FtuiError(f"{flag} {text!r} is neither a date nor a span",
                        f"write a date (YYYY-MM-DD, e.g. {flag} 2026-11-01) or a span back "
                        f"from now ({flag} 30d, {flag} 8w)") from err


def cmd_monitor(args: argparse.Namespace) -> int:
    from ftui import fmt, monitoring
    from ftui.store import utcnow

    now = utcnow()
    since = parse_when(args.since, "--since", now)
    until = parse_when(args.until, "--until", now)
    if since and until and since >= until:
        raise FtuiError("--since is not before --until", "swap them, or widen the span")
    store = store_for(args)
    refreshed = None
    if args.refresh:  # every kept figure computed again (all periods, groupings, the whole store)
        periods, seconds = monitoring.refresh(store)
        refreshed = {"periods": periods, "seconds": round(seconds, 3)}
    report = monitoring.compute(store, period=args.period, by=args.by, since=since, until=until)

    def human() -> None:
        if not report.rows:
            print("no interactions in that span")
            return
        head = (f"{'period':<11}{'group':<22}{'answers':>8}{'p50':>8}{'p95':>8}{'tok':>6}"
                f"{'rating':>7}{'rated':>6}{'acc':>5}{'tools':>6}{'turns':>6}{'users':>6}"
                f"{'ret':>5}{'fb':>6}")
        print(head)
        for r in report.rows:
            print(f"{r.period.isoformat():<11}{r.group[:21]:<22}{r.answers:>8}"
                  f"{fmt.millis(r.latency_p50):>8}{fmt.millis(r.latency_p95):>8}"
                  f"{fmt.figure(r.tokens_per_answer, 3):>6}{fmt.figure(r.mean_rating, 3):>7}"
                  f"{fmt.percent(r.rated_share):>6}{fmt.percent(r.accepted_share):>5}"
                  f"{fmt.percent(r.tool_success):>6}{fmt.figure(r.turns_per_session, 2):>6}"
                  f"{r.active_users:>6}{r.returning_users:>5}"
                  f"{fmt.percent(r.fallback_rate, 1):>6}")
        if not report.exact_percentiles:
            print("p50/p95: estimated from latency buckets about 2.5% wide (SQLite)")
        if refreshed:
            print(f"computed and kept the figures of {refreshed['periods']} periods "
                  f"(days and weeks, by model, mode and all) in {refreshed['seconds']:.1f} s")

    out = report.as_dict()
    if refreshed:
        out["refreshed"] = refreshed
    emit(args, out, human)
    return EXIT_OK


def register(sub) -> None:
    p = leaf(sub, "monitor", cmd_monitor,
             help="the product's figures over time: response time, ratings, task success, "
                  "engagement, retention, fallbacks",
             description="Per day or week, per model or reasoning mode: response time p50/p95, "
                         "tokens per answer, mean rating and share rated, accepted share, agent "
                         "tool calls that succeeded, turns per session, active and returning "
                         "users, fallback rate. The same figures as the F8 screen. Closed "
                         "periods' figures are kept in the store and computed again when their "
                         "interactions change; open periods are computed on every call.")
    p.add_argument("--since", help="from this date (YYYY-MM-DD) or span back (30d, 8w); "
                                   "default: the oldest interaction")
    p.add_argument("--until", help="up to this date (YYYY-MM-DD) or span back; default: now")
    p.add_argument("--by", choices=("model", "mode", "all"), default="model",
                   help="one line per model (default), per reasoning mode, or all together")
    p.add_argument("--period", choices=("week", "day"), default="week")
    p.add_argument("--refresh", action="store_true",
                   help="compute again every figure the store keeps for closed periods (they "
                        "are kept current by themselves; this is for after a repair by hand)")
