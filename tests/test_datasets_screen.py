"""The Datasets screen through the Pilot: live preview, build, bad input, export."""

from __future__ import annotations

from ftui.screens.app import FtuiApp
from ftui.screens.datasets import DatasetsScreen, ExportDialog
from textual.widgets import DataTable, Input, Select

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
        assert screen.query_one("#versions", DataTable).row_count == 1

        await pilot.press("x")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ExportDialog)
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
