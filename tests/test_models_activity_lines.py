"""F4's activity box: an action's first line and its result line start at the margin, its
progress lines are indented under them (deploy's first line was indented two spaces, its
result line not: walkthrough 3, row 8)."""

from __future__ import annotations

from ftui.screens.app import FtuiApp
from ftui.screens.dialogs import TextInputDialog
from ftui.screens.models import ModelsScreen
from textual.widgets import RichLog
from ui_wait import wait_for

from ftui import registry
from ftui.config import Settings


def _lines(screen) -> list[str]:
    log = screen.query_one("#model-activity", RichLog)
    return ["".join(seg.text for seg in strip).rstrip() for strip in log.lines]


async def test_deploy_lines_start_at_the_margin(demo_store, tmp_path):
    registry.register(demo_store, kind="ollama", name="plain", ollama_name="plain:1")
    app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url,
                                       ollama_host="http://127.0.0.1:9"))
    async with app.run_test(size=(160, 44)) as pilot:
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen), what="F4")
        screen = app.screen
        await wait_for(pilot, lambda: screen.selected is not None, what="a model")
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, TextInputDialog), what="dialog")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen), what="back")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: len([x for x in _lines(screen) if x.strip()]) >= 2,
                       what="the deploy lines")
        lines = [x for x in _lines(screen) if x.strip()]
        assert lines[0].startswith("deploying plain as "), lines
        result = [x for x in lines if not x.startswith("  ")]
        assert len(result) >= 2, lines  # the first line and the result line, at the margin
