"""F8 at 80x24 (walkthrough 3, row 14): the legend is a line of its own (plotext drew it over
the chart's lines), the head fits the width with its timing, and the y axis says its unit
("1,100 ms", "65%") rather than "2023.3", which reads like a year."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

from ftui.screens.app import FtuiApp
from ftui.screens.monitoring import FIGURES, WINDOWS, MonitoringScreen, TrendPlot, axis_ticks
from ftui.widgets.table import RecordTable
from ui_wait import wait_for

from ftui.config import Settings
from ftui.store import utcnow

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
import monitoring_synth  # noqa: E402


def _y_labels(plot: TrendPlot) -> list[str]:
    lines = plot.render().plain.splitlines()
    return [m.group(1).strip() for line in lines if (m := re.match(r"^(.*?)┤", line))]


async def test_f8_at_80x24_legend_head_and_axis(store, tmp_path, monkeypatch):
    start = utcnow() - timedelta(days=20)
    monkeypatch.setattr(monitoring_synth, "START", datetime(start.year, start.month, start.day))
    monitoring_synth.fill(store, 600, seed=1, days=20)
    app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitoringScreen), what="F8")
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one(RecordTable).row_count > 0, what="rows")
        await pilot.pause()
        plot = screen.query_one(TrendPlot)
        groups = screen.report.groups()
        legend = str(screen.query_one("#mon-legend").render())
        assert all(g[:18] in legend for g in groups), legend
        assert len(legend.rstrip()) <= screen.query_one("#mon-legend").content_region.width
        chart = plot.render().plain
        assert not any(g[:18] in chart for g in groups), chart  # nothing drawn over the lines
        labels = _y_labels(plot)
        assert labels and all(label.endswith(("ms", " s")) for label in labels), labels
        head = screen.query_one("#mon-head")
        for figure in range(len(FIGURES)):
            for window in range(len(WINDOWS)):
                screen.figure, screen.window, screen.took_s = figure, window, 12.34
                screen.render_view()
                text = str(head.render())
                assert len(text) <= head.content_region.width, text
                assert text.endswith("12.34 s"), text
        screen.figure = [f[0] for f in FIGURES].index("rated_share")
        screen.render_view()
        await pilot.pause()
        labels = _y_labels(plot)
        assert labels and all(label.endswith("%") for label in labels), labels


def test_axis_ticks_are_round_and_labelled_with_the_unit():
    ticks, labels = axis_ticks(708.0, 1110.4, "latency_p50")
    assert ticks[0] <= 708.0 and ticks[-1] >= 1110.4 and 3 <= len(ticks) <= 7
    assert labels == [f"{t:,.0f} ms" for t in ticks]
    ticks, labels = axis_ticks(0.61, 0.76, "rated_share")
    assert all(label.endswith("%") for label in labels) and len(set(labels)) == len(labels)
    ticks, labels = axis_ticks(3.0, 3.0, "mean_rating")  # one value: still a readable axis
    assert len(set(labels)) == len(labels) >= 2
    ticks, labels = axis_ticks(2.87, 3.67, "mean_rating")
    assert labels[0][0].isdigit() and len(set(labels)) == len(labels)
