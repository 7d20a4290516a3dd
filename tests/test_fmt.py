"""Shared formatting (ftui.fmt): figures never in scientific notation for ordinary values,
durations and sizes as people read them."""

from __future__ import annotations

from datetime import datetime, timedelta

from ftui import fmt


def test_figures():
    assert fmt.figure(13270.4) == "13,270"  # was 1.327e+04
    assert fmt.figure(0.42131) == "0.4213"
    assert fmt.figure(2.0) == "2"
    assert fmt.figure(12.345) == "12.35"
    assert fmt.figure(5) == "5" and fmt.figure(123456) == "123,456"
    assert fmt.figure(3.2e-05) == "3.2e-05"  # tiny non-zero: still readable
    assert fmt.figure(None) == "-" and fmt.figure(True) == "yes"
    assert fmt.figure(float("nan")) == "nan"


def test_durations_latencies_sizes():
    assert fmt.millis(13270) == "13.3 s" and fmt.millis(850) == "850 ms"
    assert fmt.duration(245) == "4m05s" and fmt.duration(7400) == "2h03m"
    assert fmt.duration(3 * 86400 + 4 * 3600) == "3d04h"
    assert fmt.size(4.1e9) == "3.8 GiB" and fmt.size(512) == "512 B"
    assert fmt.eta(5, 20, 10.0) == "30.0 s" and fmt.eta(0, 20, 10.0) == "-"
    assert fmt.percent(0.25) == "25%" and fmt.percent(None) == "-"
    start = datetime(2026, 1, 1)
    assert fmt.clock(start, start + timedelta(seconds=3725), start) == "1:02:05"
    assert fmt.clock(None, None, start) == "-"


def test_metric_by_name_as_cli_and_screen_show_it():
    assert fmt.metric("latency_ms_p50", 13270.0) == "13.3 s"  # not 1.327e+04
    assert fmt.metric("exact_match", 0.25) == "25%"
    assert fmt.metric("loss", 0.42131) == "0.4213" and fmt.metric("loss", None) == "-"
    assert fmt.metric("eval", {"loss": 1.0}) == "-"  # a record has its own lines
    assert "perplexity" in fmt.EVAL_KEYS and fmt.EVAL_KEYS[0] == "loss"
