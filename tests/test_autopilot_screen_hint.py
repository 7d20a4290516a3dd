"""F7 with no policy: the fix names the key on this screen (p), not "the TUI's Autopilot screen"
the person is looking at (walkthrough 3)."""

from __future__ import annotations

from test_autopilot_screen import _text
from ui_wait import decline_the_demo, wait_for

from ftui.config import Settings


async def test_no_policy_says_p_writes_one_here(store, tmp_path):
    from ftui.screens.app import FtuiApp
    from ftui.screens.autopilot import AutopilotScreen

    app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url,
                                  ollama_host="http://127.0.0.1:9"))
    async with app.run_test(size=(100, 30)) as pilot:
        await decline_the_demo(pilot)
        await pilot.press("f7")
        await wait_for(pilot, lambda: isinstance(app.screen, AutopilotScreen)
                       and "policy:" in _text(app, "#ap-head"))
        head = _text(app, "#ap-head")
    assert "no autopilot policy" in head and "p here" in head
    assert "TUI's Autopilot screen" not in head
