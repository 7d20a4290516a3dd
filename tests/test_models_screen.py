"""Models screen and Playground through the Pilot, against the stand-in Ollama on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

from ftui.screens.app import FtuiApp
from ftui.screens.dialogs import PickDialog, TextInputDialog
from ftui.screens.models import ModelsScreen
from ftui.screens.playground import PlaygroundScreen
from ollama_standin import StandIn

from ftui import registry
from ftui.config import Settings
from ftui.store import interactions


async def wait_until(pilot, check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await pilot.pause(0.05)


async def test_promote_in_a_slot_demotes_the_previous_one(demo_store, tmp_path):
    store = demo_store
    old = registry.register(store, kind="ollama", name="old", ollama_name="old:1")
    new = registry.register(store, kind="ollama", name="new", ollama_name="new:1")
    registry.set_stage(store, old.id, "production", "programming")
    app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url))
    async with app.run_test(size=(160, 44)) as pilot:
        await pilot.press("f4")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ModelsScreen)
        assert app.screen.selected == new.id  # newest first
        await pilot.press("p")
        await pilot.pause(0.2)
        dialog = app.screen
        assert isinstance(dialog, TextInputDialog) and "old is production there" not in str(
            dialog.hint)  # new's slot is general: nobody there yet
        dialog.query_one("Input").value = "programming"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert "production" in str(app.screen.query_one("#model-info").render())
    assert registry.get_model(store, new.id).stage == "production"
    assert registry.get_model(store, new.id).slot == "programming"
    assert registry.get_model(store, old.id).stage == "staging"


async def test_register_from_ollama_list_then_chat_and_rate_in_place(demo_store, tmp_path):
    store = demo_store
    with StandIn(models={"llama3.2:3b": "Paris is the capital of France."}) as server:
        settings = Settings(home=tmp_path, database_url=store.url, ollama_host=server.url)
        app = FtuiApp(store, settings)
        async with app.run_test(size=(160, 44)) as pilot:
            await pilot.press("f4")
            await pilot.pause(0.2)
            await pilot.press("o")
            await wait_until(pilot, lambda: isinstance(app.screen, PickDialog))
            await pilot.press("enter")  # the one model Ollama has
            await wait_until(pilot, lambda: registry.list_models(store))
            model = registry.list_models(store)[0]
            assert (model.kind, model.ollama_name) == ("ollama", "llama3.2:3b")
            await pilot.press("g")  # chat with it
            await wait_until(pilot, lambda: isinstance(app.screen, PlaygroundScreen))
            await pilot.pause(0.3)
            screen = app.screen
            assert screen.query_one("#play-model").value == str(model.id)
            screen.query_one("#play-mode").value = "chain_of_thought"
            screen.query_one("#prompt").focus()
            await pilot.press(*"Why is Paris the capital?")
            await pilot.press("enter")
            await wait_until(pilot, lambda: screen.turns and screen.turns[-1].interaction_id)
            await wait_until(pilot, lambda: not screen.busy)
            turn = screen.turns[-1]
            assert turn.answer == "Paris is the capital of France."
            await pilot.press("4")
            await pilot.pause(0.1)
            assert "★★★★" in str(turn.meta()) and "chain_of_thought" in str(turn.meta())
            sent = [b for m, p, b in server.requests if p == "/api/chat"][-1]
            assert sent["messages"][0]["role"] == "system"  # the mode's prompt went along
            await asyncio.sleep(0)
    logged = interactions.get(store, turn.interaction_id)
    assert logged.source == "playground" and logged.rating == 4
    assert logged.reasoning_mode == "chain_of_thought" and logged.model == "llama3.2:3b"
    assert [m["role"] for m in logged.messages] == ["user", "assistant"]
