"""Defects found by walking through ftui as a newcomer (80x24 and 160x48), each with its test."""

from __future__ import annotations

from ftui.widgets.table import RecordTable
from textual.app import App


class OneTable(App):
    def compose(self):
        yield RecordTable("id", "status", "started", id="t")


async def test_a_cell_that_grows_in_place_is_shown_whole():
    """F3's runs list showed 'runnin' and '11-26 0' at 160 columns: a run first listed as
    `queued` with no start time kept those narrow widths when its cells changed in place."""
    app = OneTable()
    async with app.run_test(size=(160, 10)) as pilot:
        table = app.query_one(RecordTable)
        table.show_rows([(1, ("1", "queued", "-"))])
        await pilot.pause()
        table.show_rows([(1, ("1", "running", "11-26 00:22"))])  # same key: updated in place
        await pilot.pause()
        line = "".join(s.text for s in table.render_line(1))
        assert "running" in line and "11-26 00:22" in line, line
