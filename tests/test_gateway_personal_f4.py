"""F4 promotes to a personal slot (user:ID) and shows it in the slot column."""

from __future__ import annotations

import time

from ftui.screens.app import FtuiApp
from ftui.screens.dialogs import TextInputDialog
from ftui.screens.models import ModelsScreen
from ollama_standin import StandIn

from ftui import registry
from ftui.config import Settings


async def wait_until(pilot, check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await pilot.pause(0.05)


async def test_f4_promotes_to_a_user_slot_and_shows_it(demo_store, tmp_path):
    store = demo_store
    mine = registry.register(store, kind="ollama", name="alice-own", ollama_name="mine:1")
    with StandIn(models={"mine:1": "Paris."}) as server:
        app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url,
                                      ollama_host=server.url,
                                      extra={"gate": {"general_items": 2}}))
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("f4")
            await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen)
                             and app.screen.selected == mine.id)
            screen = app.screen
            await pilot.press("p")
            await wait_until(pilot, lambda: isinstance(app.screen, TextInputDialog))
            app.screen.query_one("Input").value = "user:alice"
            await pilot.press("enter")
            await wait_until(pilot, lambda: registry.get_model(store, mine.id).stage
                             == "production")
            table = screen.query_one("#model-table")
            await wait_until(pilot, lambda: "user:alice" in map(str, table.get_row_at(0)))
            row = [str(cell) for cell in table.get_row_at(0)]
            assert row[2:4] == ["production", "user:alice"]
    assert registry.get_model(store, mine.id).slot == "user:alice"
