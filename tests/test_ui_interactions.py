"""F1 Interactions, the app shell and the dialogs, driven through Pilot on a real SQLite store:
undo, bulk actions, live refresh, remembered state, help, focus, the 80x24 footer, the log."""

from __future__ import annotations

import logging

from ftui.screens.app import FtuiApp
from ftui.screens.dialogs import (
    ConfirmDialog,
    CorrectionDialog,
    FilterDialog,
    PickDialog,
    TextInputDialog,
)
from ftui.screens.help import HelpScreen
from ftui.screens.interactions import InteractionsScreen
from ftui.widgets.interaction_list import InteractionList
from textual.color import Color
from textual.widgets import Input, Select, TextArea
from ui_wait import footer_entries, settled, wait_for, wait_for_footer

from ftui.ingest import log_interaction
from ftui.store import interactions as q
from ftui.store.interactions import InteractionFilter


def lst(app) -> InteractionList:
    return app.screen.query_one(InteractionList)


def state(store, row_id):
    item = q.get(store, row_id)
    return item.rating, item.status, item.correction, item.tags


async def started(app, pilot) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, InteractionsScreen)
                   and lst(app).current is not None, what="F1 with rows")
    await settled(pilot)


def add_interaction(store, text: str, mode: str = "agent"):
    return log_interaction(store, [{"role": "user", "content": text},
                                   {"role": "assistant", "content": "an answer"}],
                           mode=mode, source="gateway")


async def test_undo_takes_back_rating_status_correction_and_tags_several_steps(
        demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        row = lst(app).current
        before = state(demo_store, row.id)
        await pilot.press("5")  # advances
        await pilot.press("k", "x")
        await pilot.press("k", "e")
        await wait_for(pilot, lambda: isinstance(app.screen, CorrectionDialog))
        app.screen.query_one(TextArea).text = "Better."
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, InteractionsScreen))
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TextInputDialog))
        await pilot.press(*"keep", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InteractionsScreen))
        tags = ",".join(sorted({*filter(None, before[3].split(",")), "keep"}))
        assert state(demo_store, row.id) == (5, "rejected", "Better.", tags)
        for expected in [(5, "rejected", "Better.", before[3]), (5, "rejected", None, before[3]),
                         (5, before[1], None, before[3]), before]:
            await pilot.press("ctrl+z")
            assert state(demo_store, row.id) == expected
        assert lst(app).current.id == row.id  # undo shows the row it took back
        assert lst(app).current.rating == before[0]
        await pilot.press("ctrl+z")  # nothing left: says so, changes nothing
        assert state(demo_store, row.id) == before


async def test_bulk_on_marked_rows_states_the_count_and_undoes_as_one_step(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        ids = [r.id for r in lst(app).rows[:3]]
        before = {i: state(demo_store, i) for i in ids}
        await pilot.press("space", "space", "space")
        assert lst(app).marked == set(ids)
        assert "marked 3" in str(app.screen.query_one("#counters").render())
        await pilot.press("B")
        await wait_for(pilot, lambda: isinstance(app.screen, PickDialog))
        assert "3 marked" in str(app.screen.query_one(".dialog-title").render())
        await pilot.press("enter")  # the first action: accept
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "3 interactions will change" in str(app.screen.query_one(".dialog-text").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: all(q.get(demo_store, i).status == "accepted"
                                          for i in ids), what="bulk accept")
        await settled(pilot)
        assert lst(app).marked == set()
        await pilot.press("ctrl+z")
        assert {i: state(demo_store, i) for i in ids} == before


async def test_bulk_over_the_filter_tags_every_matching_row(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        agent = InteractionFilter(modes=("agent",))
        app.screen.apply_filter(agent)
        await settled(pilot)
        n = q.count(demo_store, agent)
        await pilot.press("B")
        await wait_for(pilot, lambda: isinstance(app.screen, PickDialog))
        await pilot.press("end", "enter")  # the last action: add a tag
        await wait_for(pilot, lambda: isinstance(app.screen, TextInputDialog))
        await pilot.press(*"batch-1", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert f"{n} interactions will change" in str(
            app.screen.query_one(".dialog-text").render())
        await pilot.press("y")
        tagged = InteractionFilter(tag="batch-1")
        await wait_for(pilot, lambda: q.count(demo_store, tagged) == n, what="bulk tag")
        assert q.count(demo_store, agent.with_(tag="batch-1")) == n


async def test_new_interactions_appear_without_moving_the_selection(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        app.screen.apply_filter(InteractionFilter(modes=("agent",)))
        await settled(pilot)
        await pilot.press("j", "j")
        selected = lst(app).current.id
        total = lst(app).total
        agent_counters = q.counters(demo_store, InteractionFilter(modes=("agent",)))
        assert app.screen.counters.total == agent_counters.total < 276  # counters follow filter
        new = add_interaction(demo_store, "a question from the gateway")
        add_interaction(demo_store, "filtered out", mode="standard")
        await wait_for(pilot, lambda: any(r.id == new.id for r in lst(app).rows),
                       what="the new interaction in the list")
        assert lst(app).current.id == selected
        assert lst(app).rows[0].id == new.id
        assert lst(app).total == total + 1
        await wait_for(pilot, lambda: app.screen.counters.total == agent_counters.total + 1)
        assert app.screen.counters.unrated == agent_counters.unrated + 1


async def test_hidden_f1_does_not_poll_and_catches_up_when_shown(demo_store, settings,
                                                                 monkeypatch):
    app = FtuiApp(demo_store, settings)
    polls = []
    marker = q.newest_id

    def counting(store):
        polls.append(1)
        return marker(store)

    monkeypatch.setattr(q, "newest_id", counting)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await wait_for(pilot, lambda: len(polls) >= 2, what="F1 polls while shown")
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.current_mode == "models")
        await settled(pilot)
        polls.clear()
        new = add_interaction(demo_store, "arrived while F4 was shown")
        await pilot.pause(2.5)
        assert polls == []
        await pilot.press("f1")
        await wait_for(pilot, lambda: lst(app).rows and lst(app).rows[0].id == new.id,
                       what="catch up on return")


async def test_esc_after_a_search_keeps_the_selection(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("slash", *"rsync", "enter")
        await wait_for(pilot, lambda: app.screen.filter.text == "rsync" and lst(app).rows
                       and lst(app).total is not None)
        await pilot.press("j")
        chosen = lst(app).current.id
        await pilot.press("escape")
        await settled(pilot)
        assert app.screen.filter.is_empty and lst(app).current.id == chosen
        await wait_for(pilot, lambda: lst(app).position is not None)
        ids = [r.id for r in q.page_first(demo_store, InteractionFilter(), 1000)]
        assert lst(app).position == ids.index(chosen)
        await pilot.press("j")
        assert lst(app).current.id == ids[ids.index(chosen) + 1]


async def test_state_is_remembered_across_starts(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        app.screen.apply_filter(InteractionFilter(modes=("agent",), rating_min=4))
        await pilot.press("ctrl+t")
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.current_mode == "datasets")
        light = app.theme
    again = FtuiApp(demo_store, settings)
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: again.current_mode == "datasets")
        assert again.theme == light
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(again.screen, InteractionsScreen))
        assert again.screen.filter == InteractionFilter(modes=("agent",), rating_min=4)
        await settled(pilot)
        assert all(r.reasoning_mode == "agent" for r in lst(again).rows)


async def test_help_shows_every_key_grouped_and_is_in_the_palette(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert any(t.startswith("Help") for t in commands)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        sections = dict(app.screen.sections)
        keys = {k for entries in sections.values() for k, _ in entries}
        for binding in InteractionsScreen.BINDINGS:
            if binding.action not in {f"rate({n})" for n in range(2, 6)}:
                shown = binding.key_display or binding.key.split(",")[0]
                assert any(shown in k or app.get_key_display(binding) in k for k in keys), shown
        assert {"Rate and review", "Bulk", "Find", "Moving around", "Everywhere"} <= set(sections)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, InteractionsScreen))


async def test_footer_at_80x24_keeps_the_keys_that_matter(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await wait_for_footer(pilot, {"Help", "Rate", "Accept", "Reject", "Correct", "Tags",
                                      "Undo", "Search", "Filter"}, 80)
        assert lst(app).size.height >= 5 and app.screen.query_one("#counters").region.width


async def test_dialogs_open_on_their_first_field_and_enter_applies(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FilterDialog))
        assert app.focused is app.screen.query_one("#mode", Select)
        await pilot.press("tab", "tab", "4")  # status, then rating min
        assert app.screen.query_one("#rating-min", Input).value == "4"
        await pilot.press("tab", "tab", "tab", "enter")  # on the model list: enter applies
        await wait_for(pilot, lambda: isinstance(app.screen, InteractionsScreen))
        assert app.screen.filter.rating_min == 4


async def test_tag_editor_adds_and_correction_editor_shows_keys(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        row = lst(app).current
        q.set_tags(demo_store, row.id, ["existing"])
        await pilot.press("r")
        await settled(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TextInputDialog))
        field = app.screen.query_one(Input)
        assert app.focused is field and field.selection.is_empty
        assert field.cursor_position == len(field.value)
        await pilot.press(*"added", "enter")
        await wait_for(pilot, lambda: q.get(demo_store, row.id).tag_list == ["added", "existing"])
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, CorrectionDialog))
        keys = str(app.screen.query_one("#correction-keys").render())
        assert "ctrl+s" in keys and "ctrl+a select all" in keys and "esc" in keys
        editor = app.screen.query_one(TextArea)
        assert app.focused is editor
        await pilot.press("ctrl+a")
        assert editor.selected_text == editor.text and editor.text
        await pilot.press(*"new")
        assert editor.text == "new"
        await pilot.press("escape")


async def test_unexpected_errors_are_one_line_on_screen_and_a_traceback_in_the_log(
        demo_store, settings, monkeypatch):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        notes = []
        monkeypatch.setattr(app, "notify", lambda m, **kw: notes.append((m, kw)))

        def broken(*_a, **_k):
            raise RuntimeError("disk [on fire]")

        monkeypatch.setattr(app.edit_history, "change", broken)
        await pilot.press("4")
        assert notes and "disk [on fire]" in notes[-1][0]
        assert notes[-1][1]["severity"] == "error" and notes[-1][1].get("markup") is False
    for handler in logging.getLogger("ftui").handlers:
        handler.flush()
    log = (settings.home / "ftui.log").read_text()
    assert "Traceback" in log and "RuntimeError: disk [on fire]" in log


async def test_question_mark_types_in_the_search_and_opens_help_elsewhere(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("slash", *"why?", "enter")
        await wait_for(pilot, lambda: app.screen.filter.text == "why?")
        await pilot.press("f3")  # a screen of its own: the app's `?` serves it
        await wait_for(pilot, lambda: app.current_mode == "training")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "Everywhere" in dict(app.screen.sections)


async def test_the_focused_field_has_a_ring_in_dark_and_light(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(app, pilot)
        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            await pilot.press("f")
            await wait_for(pilot, lambda: isinstance(app.screen, FilterDialog))
            await pilot.press("tab", "tab")  # the rating-min input
            focused = app.screen.query_one("#rating-min", Input)
            other = app.screen.query_one("#rating-max", Input)
            assert app.focused is focused
            ring, plain = focused.styles.border_top, other.styles.border_top
            assert ring[0] == "thick" and plain[0] != "thick"
            accent = Color.parse(app.current_theme.accent)
            assert all(abs(a - b) <= 3 for a, b in zip(ring[1].rgb, accent.rgb, strict=True))
            assert ring[1] != plain[1]
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, InteractionsScreen))
        await pilot.press("tab")  # list -> detail pane: it shows the focus too
        detail = app.screen.query_one("#detail")
        assert app.focused is detail and detail.styles.border_left[0] == "thick"
        await pilot.resize_terminal(80, 24)  # stacked panes: the ring is on top
        await wait_for(pilot, lambda: detail.styles.border_top[0] == "thick")
        await wait_for(pilot, lambda: detail.max_scroll_y > 2, what="a conversation to scroll")
        await pilot.press("j")
        await wait_for(pilot, lambda: detail.scroll_y == 1)
        await pilot.press("G")
        await wait_for(pilot, lambda: detail.scroll_y == detail.max_scroll_y)
        await pilot.press("g")
        await wait_for(pilot, lambda: detail.scroll_y == 0)


def _row(i: int, minute: int):
    from datetime import datetime

    from ftui.store.interactions import InteractionRow

    return InteractionRow(i, datetime(2026, 1, 1, 12, minute), "agent", None, None, "new",
                          f"row {i}", "", False)


async def test_merge_new_puts_rows_in_order_and_keeps_the_selection(tmp_path):
    from textual.app import App

    class ListApp(App):
        def compose(self):
            yield InteractionList(id="list")

    app = ListApp()
    async with app.run_test(size=(80, 10)) as pilot:
        widget = app.query_one(InteractionList)
        rows = [_row(i, 50 - i) for i in range(1, 21)]  # newest first, minutes 49..30
        widget.rows, widget.at_start, widget.at_end = rows, False, False
        widget.first_abs, widget.total, widget.cursor, widget.top = 10, 100, 5, 3
        chosen = widget.current.id
        new = [_row(101, 55), _row(102, 47), _row(103, 10)]  # above, inside, below the buffer
        assert widget.merge_new(new) == 3
        await pilot.pause()
        ids = [r.id for r in widget.rows]
        assert 102 in ids and 101 not in ids and 103 not in ids  # only what the buffer covers
        assert ids == [r.id for r in sorted(widget.rows, key=lambda r: r.key, reverse=True)]
        assert widget.current.id == chosen and widget.rows[widget.top].id == rows[3].id
        assert widget.first_abs == 11 and widget.total == 103  # one arrived above the buffer
        assert widget.merge_new([_row(102, 47)]) == 0  # known rows are not added twice


async def test_filter_dialog_fits_80x24(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FilterDialog))
        await settled(pilot)
        dialog = app.screen
        for wid in ("rating-min", "rating-max"):  # room for "min 1-5" and a typed digit
            assert dialog.query_one(f"#{wid}", Input).content_size.width >= len("min 1-5")
        for wid in ("unrated", "judge-disagrees"):  # a whole framed checkbox, label uncut
            box = dialog.query_one(f"#{wid}")
            assert box.region.height == 3 and box.region.right <= 80
        title = dialog.query_one(".dialog-title")
        text = str(title.render())
        assert "esc cancels" in text and title.region.right <= 80
        assert title.content_size.width * title.region.height >= len(text)  # wrapped, not cut


async def test_footer_shows_search_keys_while_typing_and_more_keys_when_wide(demo_store,
                                                                             settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        await pilot.press("slash")
        await wait_for(pilot, lambda: {"Apply search", "Cancel search"} <= footer_entries(app, 80),
                       what="the search keys in the footer")
        assert "Accept" not in footer_entries(app, 80)  # a typed `a` goes to the field
        await pilot.press("a", "escape")
        await wait_for(pilot, lambda: "Accept" in footer_entries(app, 80), what="keys back")
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(app, pilot)
        await wait_for_footer(pilot, {"Filter", "Next unrated", "Mark", "Bulk", "Notes"}, 160)


async def test_toasts_are_brief_and_clear_for_the_help(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        app.notify("an info toast")
        await wait_for(pilot, lambda: list(app._notifications), what="the toast")
        assert max(n.timeout for n in app._notifications) <= 3
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert not list(app._notifications)  # nothing covers the keys


async def test_counters_after_the_demo_load_are_the_final_ones(store, settings, monkeypatch):
    import time

    import ftui.screens.interactions as f1

    from ftui.demo import load_demo_set

    def slow_demo(s):  # rows arrive over more than one poll period before the bulk of them
        for i in range(30):
            add_interaction(s, f"early {i}")
            time.sleep(0.1)
        return load_demo_set(s)

    monkeypatch.setattr(f1, "load_demo_set", slow_demo)
    app = FtuiApp(store, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="demo offer")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, InteractionsScreen))
        screen = app.screen
        shown = []
        original = screen.render_counters
        monkeypatch.setattr(screen, "render_counters",
                            lambda: (shown.append(screen.counters.total), original())[1])
        await wait_for(pilot, lambda: shown and shown[-1] >= 30
                       and lst(app).total == q.count(store, InteractionFilter()), timeout=30,
                       what="the load to finish")
        await settled(pilot)
        total = q.count(store, InteractionFilter())
        assert screen.counters.total == lst(app).total == total
        assert all(n in (0, total) for n in shown), shown  # no half-import count was shown
