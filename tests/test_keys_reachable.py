"""Every key of every screen is reachable at 80x24: the footer shows whole keys only (the most
important, listed first by each screen; never one cut in half) and `?` lists every key."""

from __future__ import annotations

import pytest
from ftui.screens.app import FtuiApp
from ftui.screens.help import HelpScreen
from ftui.widgets.footer import KeyFooter
from textual.binding import Binding
from ui_wait import wait_for

from ftui.config import Settings

SECTIONS = ("f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8")
MUST_SHOW = {  # at 80 columns: the keys each screen cannot do without in its footer
    "f3": {"n", "c", "p", "r"},
    "f4": {"e", "p", "D", "t", "c"},
    "f5": {"n", "s", "v", "P"},
    "f7": {"x", "p"},
}


def footer_state(screen) -> tuple[set[str], list]:
    footer = screen.query_one(KeyFooter)
    keys = list(footer.query("FooterKey"))
    cut = [k.key for k in keys if k.region.width == 0 or k.region.right > footer.region.right]
    return {k.key for k in keys}, cut


def described(screen) -> list:
    """(key, binding) active on the screen with a name: the ones help lists."""
    return [(k, b) for k, (_, b, _, _) in screen.active_bindings.items()
            if b.description and not b.system]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_footer_keys_are_whole_and_help_lists_every_key(demo_store, tmp_path, size):
    app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url))
    async with app.run_test(size=size) as pilot:
        for key in SECTIONS:
            await pilot.press(key)
            await wait_for(pilot, lambda: app.screen.query(KeyFooter)
                           and app.screen.query_one(KeyFooter).query("FooterKey"),
                           what=f"{key} and its footer")
            screen = app.screen
            if key == "f6":  # the prompt has the focus: esc is the key shown
                assert footer_state(screen)[0] - {"ctrl+p"} == {"escape"}
                await pilot.press("escape")
                await wait_for(pilot, lambda s=screen: "m" in footer_state(s)[0], what="F6 keys")
            await pilot.pause()
            shown, cut = footer_state(screen)
            assert not cut, (key, cut)
            assert MUST_SHOW.get(key, set()) <= shown, (key, shown)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
            listed = {k for _, entries in app.screen.sections for keys, _ in entries
                      for k in keys.split(", ")}
            missing = [(k, b.description) for k, b in described(screen)
                       if app.get_key_display(Binding(k, b.action)) not in listed
                       and not b.action.startswith("rate(")]
            assert not missing, (key, missing)
            assert "1-5" in listed or not any(b.action.startswith("rate(")
                                              for _, b in described(screen))
            await pilot.press("escape")
            await wait_for(pilot, lambda s=screen: app.screen is s, what="help closed")
