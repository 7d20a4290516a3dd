"""How figures, durations and sizes read, for the CLI and the screens alike: never `1.327e+04`,
never a raw dict."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

DASH = "-"


def figure(value: Any, digits: int = 4) -> str:
    """A number as a person reads it: 13,270 · 0.4213 · 3.2e-05 only for tiny non-zero values."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    if magnitude == 0 or magnitude >= 1e-3:
        decimals = max(0, digits - 1 - int(math.floor(math.log10(magnitude)))) if magnitude else 0
        return f"{value:,.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{value:,.0f}"
    return f"{value:.2g}"


def percent(value: float | None, decimals: int = 0) -> str:
    return DASH if value is None else f"{value:.{decimals}%}"


def duration(seconds: float | None) -> str:
    """3 ms · 850 ms · 13.3 s · 4m05s · 2h03m · 3d04h."""
    if seconds is None:
        return DASH
    s = float(seconds)
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    whole = int(round(s))
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def millis(ms: float | None) -> str:
    """A latency given in milliseconds: 850 ms, 13.3 s (not 1.327e+04 ms)."""
    return DASH if ms is None else duration(ms / 1000)


def clock(start: datetime | None, end: datetime | None, now: datetime) -> str:
    """Elapsed time as h:mm:ss between two instants (end defaults to now)."""
    if start is None:
        return DASH
    seconds = max(0, int(((end or now) - start).total_seconds()))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def eta(done: int, total: int, spent_s: float) -> str:
    """Time left at the rate so far, or '-' before the first unit."""
    if done <= 0 or total <= 0 or spent_s <= 0:
        return DASH
    return duration(max(0.0, (total - done) * spent_s / done))


def size(n_bytes: float | None) -> str:
    """1,023 B · 12.0 KiB · 3.8 GiB."""
    if n_bytes is None:
        return DASH
    n = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return DASH  # pragma: no cover - loop always returns


def ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return DASH
    return duration((now - when) / timedelta(seconds=1)) + " ago"


# The figures an evaluation records, in the order the CLI and the Models screen list them.
EVAL_KEYS = ("loss", "perplexity", "rouge_l", "exact_match", "contains_match", "answer_words",
             "latency_ms_p50", "latency_ms_p95", "tokens_per_s")


def metric(key: str, value: Any) -> str:
    """An evaluation or training figure by its name: latencies as durations, match rates as
    percent, records (dicts, lists) as a dash (they have their own lines)."""
    if key.startswith("latency_ms"):
        return millis(value)
    if key in ("exact_match", "contains_match"):
        return percent(value)
    if isinstance(value, dict | list):
        return DASH
    return figure(value)
