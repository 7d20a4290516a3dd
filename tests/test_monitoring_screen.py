"""F8 Monitoring through the Pilot, at 80x24: figures from the store, keys that change the view."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

from ftui.screens.app import FtuiApp
from ftui.screens.monitoring import MonitoringScreen, TrendPlot
from ftui.widgets.table import RecordTable
from textual.widgets import Static
from ui_wait import wait_for

from ftui import monitoring
from ftui.config import Settings
from ftui.store import utcnow

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
import monitoring_synth  # noqa: E402


async def test_f8_shows_the_figures_and_keys_change_the_view(store, tmp_path, monkeypatch):
    # Recent traffic, so the screen's default window (the last 8 weeks) holds it.
    start = utcnow() - timedelta(days=20)
    monkeypatch.setattr(monitoring_synth, "START", datetime(start.year, start.month, start.day))
    monitoring_synth.fill(store, 1_500, seed=1, days=20)
    app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url))
    errors, heads = [], []
    monkeypatch.setattr(app, "notify", lambda msg, **kw: errors.append(msg)
                        if kw.get("severity") == "error" else None)
    real_update = Static.update
    monkeypatch.setattr(Static, "update", lambda self, content="", **kw: (
        heads.append(str(content)) if self.id == "mon-head" else None,
        real_update(self, content, **kw))[1])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitoringScreen), what="F8")
        screen = app.screen
        table = screen.query_one(RecordTable)
        await wait_for(pilot, lambda: table.row_count > 0, what="figures")
        expected = monitoring.compute(store, period="week", by="model", since=screen.since())
        assert table.row_count == len(expected.rows)
        newest = max(expected.rows, key=lambda r: (r.period, r.group))
        assert table.get_row_at(0)[:3] == [newest.period.isoformat(), newest.group,
                                           str(newest.answers)]
        assert "by model" in str(screen.query_one("#mon-head").render())
        # a store never shown before: the closed weeks are computed once, said so, and kept
        assert any("first time only" in h for h in heads), heads
        assert monitoring.kept_periods(store)[("week", "model")] >= 2
        # the plot and the table share the 80x24 screen with the tab bar, head and footer
        assert screen.query_one(TrendPlot).size.height >= 6
        assert table.size.height >= 5

        await pilot.press("b")  # by mode
        await wait_for(pilot, lambda: screen.report.by == "mode", what="by mode")
        groups = {table.get_row_at(i)[1] for i in range(table.row_count)}
        assert groups <= {"standard", "chain_of_thought", "multi_step", "agent", "auto"}
        await pilot.press("p")  # per day
        await wait_for(pilot, lambda: screen.report.period == "day", what="per day")
        assert table.row_count > 15
        await pilot.press("m")
        assert "p95" in str(screen.query_one("#mon-head").render())
        shown = screen.report
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.report is not shown, what="recompute")
        await pilot.press("question_mark")
        await pilot.pause()
    assert not errors
    # the view is remembered for the next session
    assert app.ui_state.get("monitoring.view", kind=dict)["period"] == "day"


async def test_empty_store_says_what_to_do(store, tmp_path):
    app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url))
    async with app.run_test(size=(80, 24)) as pilot:
        from ftui.screens.dialogs import ConfirmDialog

        # an empty store first offers the demo data: decline it
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the offer")
        await pilot.press("escape")
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitoringScreen)
                       and app.screen.report is not None, what="an empty report")
        assert app.screen.query_one(RecordTable).row_count == 0
