"""Typing over a filled field replaces it: tabbing into a field selects its text, and ctrl+a
selects all of it in every field of the app (Textual's Input moves to the line start on ctrl+a,
so "300" typed over "20" gave a run of 30,020 steps: walkthrough 3, row 19)."""

from __future__ import annotations

from ftui.screens.app import FtuiApp
from ftui.screens.datasets import DatasetsScreen
from ftui.screens.training import NewRunDialog, TrainingScreen
from textual.widgets import Input
from ui_wait import wait_for

from ftui.curate import DatasetSpec, build_dataset


async def _tab_to(pilot, field_id: str) -> Input:
    for _ in range(30):
        if getattr(pilot.app.focused, "id", None) == field_id:
            return pilot.app.focused
        await pilot.press("tab")
    raise AssertionError(f"tab never reached #{field_id}")


async def test_new_run_fields_are_replaced_by_typing_after_tab_or_ctrl_a(demo_store, settings):
    build_dataset(demo_store, "form-set", DatasetSpec(min_rating=4))
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(160, 44)) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="F3")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewRunDialog), what="the form")
        steps = await _tab_to(pilot, "f_max_steps")
        assert steps.value == "20"
        await pilot.press("3", "0", "0")
        assert steps.value == "300"
        await pilot.press("end")  # the cursor at the end, nothing selected, as after a click
        await pilot.press("ctrl+a", "4", "0")
        assert steps.value == "40"


async def test_ctrl_a_selects_all_in_the_dataset_name(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, DatasetsScreen), what="F2")
        name = app.screen.query_one("#name", Input)
        name.focus()
        await pilot.pause()
        await pilot.press("end", "ctrl+a", *"support-v2")
        assert name.value == "support-v2"
