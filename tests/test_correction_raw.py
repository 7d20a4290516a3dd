"""The F1 correction dialog shows the original as the raw text the correction pane holds
(Markdown rendering dropped the backticks, `# `, `**`: the two panes looked different where
nothing was changed; walkthrough 3, row 13)."""

from __future__ import annotations

from ftui.screens.app import FtuiApp
from ftui.screens.dialogs import CorrectionDialog
from textual.widgets import TextArea
from ui_wait import wait_for

ORIGINAL = ("# Check\nRun `systemctl status ssh` and look for **active**.\n"
            "- [link](http://x) [bold]not markup[/bold]")


async def test_original_and_correction_show_the_same_raw_text(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        app.push_screen(CorrectionDialog(ORIGINAL, None))
        await wait_for(pilot, lambda: isinstance(app.screen, CorrectionDialog), what="dialog")
        await pilot.pause()
        assert app.screen.query_one("#editor", TextArea).text == ORIGINAL
        pane = app.screen.query_one("#original-pane").content_region
        screen = app.screen._compositor.render_full_update().strips
        shown = ["".join(s.text for s in screen[y])[pane.x:pane.right].rstrip()
                 for y in range(pane.y, pane.bottom)]
        assert shown[:3] == ORIGINAL.splitlines(), shown
