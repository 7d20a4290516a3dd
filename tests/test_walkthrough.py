"""Defects found by walking through ftui as a newcomer (80x24 and 160x48), each with its test."""

from __future__ import annotations

from ftui.screens.app import FtuiApp
from ftui.screens.dialogs import ConfirmDialog
from ftui.widgets.table import RecordTable
from textual.app import App
from ui_wait import wait_for

from ftui.curate import DatasetSpec
from ftui.curate.build import count_matching
from ftui.curate.versions import build_dataset
from ftui.demo import load_demo


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


async def test_datasets_preview_follows_data_loaded_while_it_was_hidden(store, settings):
    """F2 is built before it is first shown (and stays built): its preview said '0 interactions
    match the rules' after the demo was loaded on the empty store's first start."""
    app = FtuiApp(store, settings)
    async with app.run_test(size=(140, 44)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="demo offer")
        await pilot.press("n")  # loaded below, while F2 is hidden
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.screen.result is not None, what="first preview")
        assert app.screen.result.matched == 0
        await pilot.press("f1")
        load_demo(store)
        build_dataset(store, "elsewhere", DatasetSpec())  # e.g. `ftui dataset build` meanwhile
        await pilot.press("f2")
        expected = count_matching(store, DatasetSpec())
        await wait_for(pilot, lambda: app.screen.result.matched == expected > 0,
                       what="a preview of the loaded data")
        await wait_for(pilot, lambda: app.screen.query_one("#versions").row_count == 1,
                       what="the version built elsewhere")
