"""One-line dialogs say what enter does there: F4's promote dialog promotes, deploy deploys
(both said "enter saves"), the arena's prompt sends and esc ends the arena."""

from __future__ import annotations

from test_models_screen import _models_app, wait_until

from ftui import registry


async def test_f4_promote_and_deploy_dialogs_name_what_enter_does(demo_store, tmp_path):
    from ftui.screens.dialogs import TextInputDialog
    from ftui.screens.models import ModelsScreen

    registry.register(demo_store, kind="ollama", name="m1", ollama_name="m1:1")
    app = _models_app(demo_store, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen)
                         and app.screen.selected is not None)
        for key, words in (("p", "enter promotes, esc cancels"),
                           ("D", "enter deploys, esc cancels")):
            await pilot.press(key)
            await wait_until(pilot, lambda: isinstance(app.screen, TextInputDialog))
            title = str(app.screen.query_one(".dialog-title").render())
            assert words in title and "saves" not in title, title
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen))
