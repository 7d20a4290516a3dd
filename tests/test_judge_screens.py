"""The judge on the screens (issue 13): F2's judged-min rule, judged evaluation and the pairwise
judge in F4, the judge metric and a judged verdict in F5. Real HTTP: the stand-in Ollama plays
both the models and a scripted judge."""

from __future__ import annotations

from ftui.screens.app import FtuiApp
from test_datasets_screen import settle
from textual.widgets import Select

from ftui.curate import DatasetSpec
from ftui.curate.build import count_matching


async def test_f2_judged_min_rule_keeps_unrated_ones_the_judge_scored_high(store, settings):
    from test_judge import add, judged

    ids = [add(store, f"question {k}", answer=f"A full answer to {k}, long enough.")
           for k in "abc"]
    judged(store, ids[0], 5, "k0")
    judged(store, ids[1], 2, "k1")
    app = FtuiApp(store, settings)
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.press("f2")
        await settle(pilot)
        screen = app.screen
        screen.query_one("#min_rating", Select).value = 4
        await settle(pilot)
        assert screen.result.matched == 0  # nobody rated them
        screen.query_one("#judged_min", Select).value = 4
        await settle(pilot)
        assert screen.spec().judged_min == 4
        assert screen.result.matched == 1 == count_matching(
            store, DatasetSpec(min_rating=4, judged_min=4))
