"""The Interactions screen driven through Textual's Pilot, against a real SQLite store."""

from __future__ import annotations

from dataclasses import replace

from ftui.screens.app import FtuiApp
from ftui.screens.dialogs import ConfirmDialog, CorrectionDialog, FilterDialog, TextInputDialog
from ftui.screens.interactions import InteractionsScreen
from ftui.widgets.interaction_list import InteractionList
from textual.widgets import Input, Select, TextArea
from ui_wait import settled, wait_for

from ftui.store import interactions as q
from ftui.store.interactions import InteractionFilter

DEMO_SET = 586  # `ftui demo` and D: 276 sample interactions + 310 with preference signals


async def settle(pilot) -> None:
    """F1 is up with its first page (or its empty state) and no worker is still running."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, (InteractionsScreen, ConfirmDialog))
                   and (not isinstance(app.screen, InteractionsScreen)
                        or lst(app).source is not None), what="F1 loaded")
    await settled(pilot)


def lst(app) -> InteractionList:
    return app.screen.query_one(InteractionList)


async def test_rating_keys_save_and_advance(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        first = lst(app).current
        await pilot.press("4")
        assert q.get(demo_store, first.id).rating == 4
        assert lst(app).current.id != first.id  # advanced to the next interaction
        second = lst(app).current
        await pilot.press("0")  # clearing a rating does not advance
        assert q.get(demo_store, second.id).rating is None
        assert lst(app).current.id == second.id
        await pilot.press("x")
        assert q.get(demo_store, second.id).status == "rejected"
        await pilot.press("k", "k", "a")
        assert q.get(demo_store, first.id).status == "accepted"
        counters = q.counters(demo_store)
        assert app.screen.counters.unrated == counters.unrated
        assert app.screen.counters.accepted == counters.accepted
        assert str(counters.unrated) in str(app.screen.query_one("#counters").render())


async def test_no_advance_when_turned_off(demo_store, settings):
    app = FtuiApp(demo_store, replace(settings, advance_on_rate=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        first = lst(app).current
        await pilot.press("5")
        assert lst(app).current.id == first.id
        assert q.get(demo_store, first.id).rating == 5


async def test_navigation_keys(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        ids = [r.id for r in q.page_first(demo_store, InteractionFilter(), 1000)]
        await pilot.press("j", "j", "down")
        assert lst(app).current.id == ids[3]
        await pilot.press("G")
        await settle(pilot)
        assert lst(app).current.id == ids[-1]
        assert lst(app).position == len(ids) - 1
        await pilot.press("g")
        assert lst(app).current.id == ids[0]
        await pilot.press("pagedown")
        assert lst(app).position == lst(app).page_size


async def test_search_filters_the_list(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"rsync", "enter")
        await settle(pilot)
        rows = lst(app).rows
        assert rows and all("rsync" in q.get(demo_store, r.id).messages_json for r in rows)
        assert lst(app).total == q.count(demo_store, InteractionFilter(text="rsync"))
        assert "rsync" in str(app.screen.query_one("#list-status").render())
        await pilot.press("escape")  # clears search and filters
        await settle(pilot)
        assert lst(app).total == 276


async def test_filter_dialog_applies_and_rejects_bad_input(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FilterDialog))
        dialog = app.screen
        assert isinstance(dialog, FilterDialog)
        dialog.query_one("#mode", Select).value = "agent"
        dialog.query_one("#rating-min", Input).value = "9"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "not a rating" in str(
            dialog.query_one("#filter-error").render()))
        assert app.screen is dialog  # stays open, says what is wrong
        assert "not a rating" in str(dialog.query_one("#filter-error").render())
        dialog.query_one("#rating-min", Input).value = "4"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, InteractionsScreen)
        assert app.screen.filter.modes == ("agent",) and app.screen.filter.rating_min == 4
        rows = lst(app).rows
        expected = q.count(demo_store, InteractionFilter(modes=("agent",), rating_min=4))
        assert len(rows) == expected > 0
        assert all(r.reasoning_mode == "agent" and r.rating >= 4 for r in rows)


async def test_correction_is_saved_and_shown_beside_the_original(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(140, 44)) as pilot:
        await settle(pilot)
        row = lst(app).current
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, CorrectionDialog))
        assert isinstance(app.screen, CorrectionDialog)
        editor = app.screen.query_one(TextArea)
        editor.text = "A corrected, better answer."
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert q.get(demo_store, row.id).correction == "A corrected, better answer."
        assert lst(app).current.has_correction
        compare = app.screen.query_one("#compare")
        assert compare.has_class("shown")
        # Cancelling leaves the correction alone; an empty text removes it.
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, CorrectionDialog))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, InteractionsScreen))
        assert q.get(demo_store, row.id).correction == "A corrected, better answer."
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, CorrectionDialog))
        app.screen.query_one(TextArea).text = "  "
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert q.get(demo_store, row.id).correction is None


async def test_tags_and_next_unrated(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        row = lst(app).current
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TextInputDialog))
        tag_input = app.screen.query_one(Input)
        tag_input.value = "Great Example, keep"
        await pilot.press("enter")
        await settle(pilot)
        assert q.get(demo_store, row.id).tag_list == ["great-example", "keep"]
        await pilot.press("n")
        await settle(pilot)
        current = lst(app).current
        assert current.rating is None
        assert current.id == q.next_unrated(demo_store, InteractionFilter(), row.key).id


async def test_empty_store_offers_the_demo(store, settings):
    app = FtuiApp(store, settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert q.count(store, InteractionFilter()) == DEMO_SET  # with its preference signals
        assert lst(app).total == DEMO_SET and lst(app).current is not None


async def test_small_terminal_and_sections(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#body").styles.layout.name == "vertical"
        assert lst(app).size.height >= 5
        await pilot.press("f3")
        await wait_for(pilot, lambda: app.current_mode == "training")
        await pilot.press("f1")
        await wait_for(pilot, lambda: app.current_mode == "interactions")
        await pilot.press("ctrl+t")
        assert not app.current_theme.dark


async def test_declining_the_demo_leaves_a_hint_and_D_loads_it_later(store, settings):
    app = FtuiApp(store, settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert q.count(store, InteractionFilter()) == 0
        assert "no interactions yet" in lst(app).empty_text
        await pilot.press("D")
        await settle(pilot)
        assert q.count(store, InteractionFilter()) == DEMO_SET
        assert lst(app).current is not None
