"""The shared screen foundation: base screen, table widget, log file, UI state, help."""

from __future__ import annotations

import json
import logging

import pytest
from ftui.screens.base import ERROR_TIMEOUT_S, FtuiScreen
from ftui.screens.help import HelpScreen, help_sections
from ftui.widgets.table import RecordTable
from textual.app import App
from textual.widgets import Footer
from ui_wait import wait_for

from ftui.errors import FtuiError
from ftui.logs import current_log_path, setup_logging
from ftui.uistate import UiState


class TableScreen(FtuiScreen):
    def __init__(self) -> None:
        super().__init__()
        self.ticks = 0
        self.gathered: list = []

    def compose(self):
        yield RecordTable("id", "name", empty_text="no runs yet: n starts one", id="t")
        yield Footer()

    def on_mount(self) -> None:
        self.every(0.05, self.tick)

    def tick(self) -> None:
        self.ticks += 1


class OtherScreen(FtuiScreen):
    def compose(self):
        yield Footer()


class HarnessApp(App):
    def __init__(self, home) -> None:
        super().__init__()
        self.home = home
        self.ui_state = UiState(home)
        self.notes: list[tuple[str, str, float | None, bool]] = []

    def notify(self, message, *, title="", severity="information", timeout=None, markup=True):
        self.notes.append((message, severity, timeout, markup))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def on_mount(self) -> None:
        self.install_screen(TableScreen(), "table")
        self.install_screen(OtherScreen(), "other")
        self.push_screen("table")


def rows(n: int):
    return [(i, (str(i), f"name {i}")) for i in range(1, n + 1)]


async def test_table_keeps_selection_and_has_movement_keys(tmp_path):
    app = HarnessApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(RecordTable)
        assert "no runs yet" in "".join(s.text for s in table.render_line(1))
        table.show_rows(rows(40))
        table.focus()
        await pilot.press("j", "j", "down")
        assert table.selected_key == 4
        await pilot.press("k")
        assert table.selected_key == 3
        await pilot.press("G")
        assert table.selected_key == 40
        await pilot.press("g")
        assert table.selected_key == 1
        await pilot.press("end")
        assert table.selected_key == 40
        await pilot.press("home", "pagedown")
        assert table.selected_key > 10
        # A refresh with a new row on top keeps the cursor on the same key.
        table.select_key(7)
        assert table.show_rows([(0, ("0", "new")), *rows(40)]) == 7
        assert table.selected_key == 7
        # Only a cell changed: updated in place, selection kept.
        changed = [(0, ("0", "renamed")), *rows(40)]
        table.show_rows(changed)
        assert table.get_cell_at((0, 1)) == "renamed" and table.selected_key == 7
        # The selected row disappears: the cursor goes to the first row.
        table.show_rows([(k, c) for k, c in rows(40) if k != 7])
        assert table.selected_key == 1
        table.show_rows([])
        assert table.selected_key is None


async def test_a_refresh_in_flight_does_not_undo_a_key_the_operator_just_pressed(tmp_path):
    """A screen keeps its own `selected` from RowHighlighted messages and refreshes with
    keep=selected. A refresh applied after `j` moved the cursor but before the highlight message
    reached the screen put the cursor back (a lost key in F3 under load)."""
    app = HarnessApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(RecordTable)
        table.show_rows(rows(5), keep=1)
        table.focus()
        screen_selected = table.selected_key  # what the screen knew: 1
        table.action_cursor_down()  # the operator's `j`, its message not yet handled
        table.show_rows(rows(5), keep=screen_selected)  # a poll applied in between
        assert table.selected_key == 2
        # a screen that moves the selection on purpose (a new run on top) still can, also
        # right after the operator moved the cursor
        table.action_cursor_down()
        table.show_rows([(0, ("0", "new")), *rows(5)], keep=0)
        assert table.selected_key == 0
        await pilot.pause()


async def test_timers_pause_while_hidden_and_resume(tmp_path):
    app = HarnessApp(tmp_path)
    async with app.run_test() as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.ticks >= 2)
        app.switch_screen("other")
        await wait_for(pilot, lambda: app.screen is not screen, what="the other screen")
        hidden = screen.ticks
        await pilot.pause(0.3)  # an absence: some time must pass (6 periods of the timer)
        assert screen.ticks == hidden  # nothing ran while another screen was shown
        app.switch_screen("table")
        await wait_for(pilot, lambda: screen.ticks > hidden + 1)


async def test_errors_escape_markup_share_one_timeout_and_log_tracebacks(tmp_path):
    setup_logging(tmp_path)
    app = HarnessApp(tmp_path)
    async with app.run_test() as pilot:
        screen = app.screen
        screen.attempt(lambda: (_ for _ in ()).throw(FtuiError("pip install 'ftui[hf]'", "x")))
        assert app.notes[-1][0].startswith("pip install 'ftui[hf]'")
        assert app.notes[-1][1:] == ("error", ERROR_TIMEOUT_S, False)

        def broken():
            raise KeyError("[b]boom[/b]")

        assert screen.attempt(broken) is None
        message, severity, timeout, markup = app.notes[-1]
        assert "KeyError" in message and "[b]boom[/b]" in message and markup is False
        assert str(current_log_path()) in message
        # gather: a failing fetch in a worker thread is reported the same way.
        screen.gather(broken, lambda _: None, group="g")
        await wait_for(pilot, lambda: len(app.notes) >= 3)
        screen.gather(lambda: 41 + 1, screen.gathered.append, group="g")
        await wait_for(pilot, lambda: screen.gathered == [42])
        screen.say("ftui[hf] is installed")
        assert app.notes[-1][3] is False
    for handler in logging.getLogger("ftui").handlers:
        handler.flush()
    log = (tmp_path / "ftui.log").read_text()
    assert "Traceback" in log and "KeyError" in log and "broken" in log


async def test_help_lists_every_key_of_the_screen_grouped(tmp_path):
    app = HarnessApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one(RecordTable).focus()
        sections = dict(help_sections(app.screen))
        assert ("?", "Help") in sections["This screen"]
        moving = dict((d, k) for k, d in sections["Moving around"])
        assert "j" in moving["Down"] and "G" in moving["Last"]
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, TableScreen))


HOSTILE_STATE = [
    b"",
    b"{not json",
    b"[1, 2, 3]",
    b"null",
    b'"a string"',
    b"\xff\xfe\x00garbage",
    b'{"theme": 42, "mode": ["x"]}',
    b"{" + b'"k": 1,' * 10 + b'"end": 0}',
    b'{"theme": "' + b"x" * 2_000_000 + b'"}',
]


@pytest.mark.parametrize("content", HOSTILE_STATE)
def test_ui_state_never_fails_on_a_broken_file(tmp_path, content):
    (tmp_path / "ui-state.json").write_bytes(content)
    state = UiState(tmp_path)
    assert state.get("theme", "dark", kind=str) in ("dark",)
    state.set("theme", "textual-light")
    assert UiState(tmp_path).get("theme") == "textual-light"


def test_ui_state_round_trip_and_refuses_what_json_cannot_hold(tmp_path):
    state = UiState(tmp_path)
    state.set("training.new_run", {"epochs": 3, "lr": 2e-4, "base": "demo"})
    state.set("mode", "datasets")
    again = UiState(tmp_path)
    assert again.get("training.new_run") == {"epochs": 3, "lr": 2e-4, "base": "demo"}
    assert again.get("mode", kind=str) == "datasets"
    with pytest.raises(TypeError):
        state.set("bad", object())
    assert json.loads((tmp_path / "ui-state.json").read_text())["mode"] == "datasets"
    assert UiState(None).save() is False  # no home: nothing written, nothing raised


def test_ui_state_unwritable_home_is_not_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    state = UiState(blocker / "home")  # a path under a file: cannot be created
    state.set("theme", "textual-dark")  # remembered for this session, logged, no exception
    assert state.get("theme") == "textual-dark"


async def test_gather_latest_runs_once_more_with_the_newest_request(tmp_path):
    import threading

    app = HarnessApp(tmp_path)
    async with app.run_test() as pilot:
        screen = app.screen
        release = threading.Event()
        runs: list[int] = []

        def fetch(n):
            def run():
                runs.append(n)
                if n == 1:
                    release.wait(5)
                return n
            return run

        for n in (1, 2, 3, 4):
            screen.gather(fetch(n), screen.gathered.append, group="count", latest=True)
        release.set()
        await wait_for(pilot, lambda: screen.gathered == [1, 4], what="first, then newest")
        await app.workers.wait_for_complete()
        assert runs == [1, 4]
        # a poll (the default) is skipped while its group is busy
        release.clear()
        screen.gather(fetch(1), screen.gathered.append, group="poll")
        assert screen.gather(fetch(9), screen.gathered.append, group="poll") is None
        release.set()
        await wait_for(pilot, lambda: screen.gathered == [1, 4, 1])


@pytest.mark.parametrize("width", [80, 160])
async def test_every_tab_shows_a_whole_word(width, demo_store, settings):
    """At 80 columns the tabs were cut mid-word ("F2 Datas", "F5 Exper")."""
    from ftui.screens.app import FtuiApp
    from ftui.widgets.section_bar import SECTIONS, SectionBar

    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(width, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query(SectionBar), what="the tab bar")
        bar = app.screen.query_one(SectionBar)
        text = str(bar.render())
        assert len(text) <= width, text
        words = set(text.replace("ftui", "").split())
        assert {key for _, key, _label in SECTIONS} <= words
        for cut in ("Datas", "Exper", "Inter", "Playg", "Model"):
            assert cut not in words, text
