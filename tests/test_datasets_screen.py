"""The Datasets screen through the Pilot: live preview, build, bad input, export."""

from __future__ import annotations

from ftui.screens.app import FtuiApp
from ftui.screens.datasets import DatasetsScreen, ExportDialog
from textual.widgets import Input, Select
from ui_wait import wait_for, wait_for_footer

from ftui.curate import DatasetSpec, list_datasets
from ftui.curate.build import count_matching


async def settle(pilot, rounds: int = 4) -> None:
    for _ in range(rounds):
        await pilot.pause(0.15)
        await pilot.app.workers.wait_for_complete()


async def test_preview_build_and_export(demo_store, settings, tmp_path):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.press("f2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DatasetsScreen)
        expected = count_matching(demo_store, DatasetSpec())
        assert screen.result is not None and screen.result.matched == expected
        assert f"{expected} interactions match" in str(screen.query_one("#funnel").render())

        screen.query_one("#min_rating", Select).value = 5
        await settle(pilot)
        five = count_matching(demo_store, DatasetSpec(min_rating=5))
        assert screen.result.matched == five < expected

        screen.query_one("#name", Input).value = "five-stars"
        await pilot.press("escape", "b")
        await settle(pilot)
        versions = list_datasets(demo_store)
        assert [v.name for v in versions] == ["five-stars"]
        assert versions[0].examples == len(screen.result.examples)
        assert screen.query_one("#versions").row_count == 1

        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog), what="export dialog")
        app.screen.query_one("#out", Input).value = str(tmp_path / "out")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert (tmp_path / "out" / "train.jsonl").is_file()


async def test_bad_rule_is_shown_and_nothing_is_built(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.press("f2")
        await settle(pilot)
        screen = app.screen
        screen.query_one("#max_tokens", Input).value = "lots"
        await settle(pilot)
        assert "not a whole number" in str(screen.query_one("#funnel").render())
        await pilot.press("escape", "b")
        await settle(pilot)
        assert list_datasets(demo_store) == []


async def test_first_visit_says_it_is_loading_then_narrow_layout_and_versions_keys(
        demo_store, settings):
    from ftui.widgets.dataset_plots import ModeBars, RatingBars

    from ftui.curate import build_dataset

    ids = [build_dataset(demo_store, f"v{i}", DatasetSpec(min_rating=5 - i))[0].id
           for i in range(3)]  # newest first in the table
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DatasetsScreen)
        funnel = str(screen.query_one("#funnel").render())
        assert "loading" in funnel or "previewing" in funnel or "match" in funnel
        await settle(pilot)
        assert screen.has_class("-narrow")
        assert "interactions match" in str(screen.query_one("#funnel").render())
        for wid in ("#ds-rules", "#ds-preview"):
            assert screen.query_one(wid).region.right <= 80
        table = screen.query_one("#versions")
        assert table.selected_key == ids[2]
        for key, expect in (("j", ids[1]), ("G", ids[0]), ("k", ids[1]), ("g", ids[2]),
                            ("end", ids[0]), ("home", ids[2])):
            await pilot.press(key)
            assert table.selected_key == expect, key
        # modes and stars in two charts, each with its own labels
        modes, ratings = (str(screen.query_one(c).render()) for c in (ModeBars, RatingBars))
        assert "★" in ratings and "★" not in modes and "std" in modes
        await wait_for_footer(pilot, {"b", "d", "x"}, 80, by="key")


async def test_the_first_visit_paints_without_a_key(demo_store, settings):
    """It did not: a hidden progress bar kept the screen from ever laying out (blank at 80x24)."""
    from ftui.curate import build_dataset

    build_dataset(demo_store, "v", DatasetSpec(min_rating=4))
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, DatasetsScreen)
        await settle(pilot)
        assert screen.result is not None

        def laid_out() -> bool:  # every shown widget got a place on the screen
            shown = [w for w in screen.query("*") if w.display and w.visible]
            return bool(shown) and all(w.region.width > 0 for w in shown[:5])

        for _ in range(200):
            if laid_out():
                break
            await pilot.pause(0.05)
        assert laid_out(), "the Datasets screen never laid itself out"
        # the cause seen in tmux (blank F2 until a key): a ProgressBar hidden at mount
        from textual.widgets import ProgressBar

        assert not [bar for bar in screen.query(ProgressBar) if not bar.display]
