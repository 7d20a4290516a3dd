"""F6: the line under a local model's answer names the model picked (its registry name), not
the folder its weights are in (walkthrough 3: "/home/.../runs/run-1/adapter")."""

from __future__ import annotations

from test_models_screen import wait_until
from textual.widgets import Select
from ui_wait import decline_the_demo

from ftui import registry
from ftui.config import Settings
from ftui.train.base import resolve_base


async def test_a_local_answer_names_the_registered_model(store, home):
    from ftui.screens.app import FtuiApp
    from ftui.screens.playground import PlaygroundScreen

    tiny, _ = resolve_base("tiny", home)
    model = registry.register(store, kind="hf", name="my-tiny", path=tiny)
    app = FtuiApp(store, Settings(home=home, database_url=store.url,
                                  ollama_host="http://127.0.0.1:9"))
    async with app.run_test(size=(100, 30)) as pilot:
        await decline_the_demo(pilot)
        await pilot.press("f6")
        await wait_until(pilot, lambda: isinstance(app.screen, PlaygroundScreen))
        screen = app.screen
        select = screen.query_one("#play-model", Select)
        await wait_until(pilot, lambda: any(v == str(model.id) for _, v in select._options))
        select.value = str(model.id)
        screen.query_one("#prompt").focus()
        await pilot.press("h", "i", "enter")
        await wait_until(pilot, lambda: not screen.busy, timeout=60)
        note = screen.turns[-1].note
    assert "my-tiny" in note and str(tiny) not in note, note
