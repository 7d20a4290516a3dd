"""Sections built in the background after the first paint (issue 11: first visits took 0.4-3 s):
built off screen without taking the focus or polling, shown as they are on the first visit, and
with the breakpoint classes of the current terminal size, also after a resize while hidden."""

from __future__ import annotations

from ftui.screens.app import FtuiApp
from ftui.screens.experiments import ExperimentsScreen
from ftui.screens.interactions import InteractionsScreen
from ftui.screens.models import ModelsScreen
from ui_wait import wait_for

from ftui import ab
from ftui.config import Settings


def all_built(app) -> bool:
    return len(app._built_modes) == len(app.MODES) and app._building is None


async def test_sections_are_built_in_the_background_without_taking_the_focus(demo_store,
                                                                           tmp_path):
    ab.create_experiment(demo_store, name="e", alias="assistant", model_a="a:1", model_b="b:1")
    app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url),
                  prebuild=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InteractionsScreen)
                       and app.screen.list.rows, what="F1")
        f1 = app.screen
        focused = app.focused
        await wait_for(pilot, lambda: all_built(app), timeout=60, what="every section built")
        assert app.screen is f1 and app.focused is focused  # nothing shown, focus kept
        models = app.get_screen("section-models")
        experiments = app.get_screen("section-experiments")
        assert models.is_mounted and models.has_class("-wide")  # its breakpoints, off screen
        assert experiments.reports == 0  # a hidden dashboard computes nothing
        row = f1.list.cursor
        await pilot.press("j")  # keys still go to F1
        await wait_for(pilot, lambda: f1.list.cursor == row + 1, what="j on F1")
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.screen is models, what="the prebuilt F4 shown")
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, ExperimentsScreen)
                       and app.screen.reports > 0, what="F5 computing once shown")
        assert app.screen is experiments


async def test_a_section_resized_while_hidden_gets_the_new_breakpoints(demo_store, tmp_path):
    app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen)
                       and app.screen.has_class("-wide"), what="F4 wide")
        models = app.screen
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, InteractionsScreen), what="F1")
        await pilot.resize_terminal(80, 24)
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.screen is models and models.has_class("-narrow"),
                       what="F4 narrow after the resize")
        assert not models.has_class("-wide")
