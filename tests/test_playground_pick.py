"""F6: enter without a model opens the list; once one is picked there, the typed prompt has the
focus again, so the next enter sends it (walkthrough 3: enter re-opened the list instead)."""

from __future__ import annotations

from ollama_standin import StandIn
from test_models_screen import wait_until
from textual.widgets import Input, Select
from ui_wait import decline_the_demo

from ftui import registry
from ftui.config import Settings
from ftui.store import interactions as q
from ftui.store.interactions import InteractionFilter


async def test_a_model_picked_after_enter_gives_the_prompt_back(store, tmp_path):
    from ftui.screens.app import FtuiApp
    from ftui.screens.playground import PlaygroundScreen

    registry.register(store, kind="ollama", name="m1", ollama_name="llama3.2:3b")
    with StandIn(models={"llama3.2:3b": "Paris is the capital of France."}) as server:
        app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url,
                                      ollama_host=server.url))
        async with app.run_test(size=(100, 30)) as pilot:
            await decline_the_demo(pilot)
            await pilot.press("f6")
            await wait_until(pilot, lambda: isinstance(app.screen, PlaygroundScreen))
            screen = app.screen
            await pilot.press("h", "i", "enter")
            select = screen.query_one("#play-model", Select)
            await wait_until(pilot, lambda: select.expanded)
            await pilot.press("down", "enter")  # the one registered model
            await wait_until(pilot, lambda: select.value != Select.NULL)
            await wait_until(pilot, lambda: screen.query_one("#prompt", Input).has_focus)
            await pilot.press("enter")
            await wait_until(pilot, lambda: q.count(store, InteractionFilter()) == 1)
            assert screen.query_one("#prompt", Input).value == ""
