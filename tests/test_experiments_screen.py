"""Experiments dashboard and arena through the Pilot, against the stand-in Ollama."""

from __future__ import annotations

import random

from ftui.screens.app import FtuiApp
from ftui.screens.arena import ArenaScreen
from ftui.screens.dialogs import ConfirmDialog, PickDialog
from ftui.screens.experiments import ExperimentsScreen
from ollama_standin import StandIn
from sqlmodel import select
from test_models_screen import wait_until

from ftui import ab, registry
from ftui.ab.experiments import arm_for
from ftui.config import Settings
from ftui.store import ArenaVote

MODELS = {"llama3.2:3b": "base answer", "tuned:1": "tuned answer"}


def _experiment(store, seeded: bool):
    exp = ab.create_experiment(store, name="v2", alias="assistant", model_a="llama3.2:3b",
                               model_b="tuned:1", salt="z", min_samples=20)
    ab.set_status(store, exp.id, "running")
    if seeded:  # B clearly better
        rng = random.Random(3)
        for i in range(300):
            unit = f"u{i}"
            arm = arm_for("z", unit, 0.5)
            rating = rng.choice([4, 5, 5, 4, 3]) if arm == "B" else rng.choice([3, 3, 4, 2, 3])
            ab.log_outcome(store, exp.id, unit, None, rating=rating, latency=100.0)
    return exp


async def test_verdict_and_promote_the_winner(demo_store, tmp_path):
    exp = _experiment(demo_store, seeded=True)
    app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url))
    async with app.run_test(size=(160, 44)) as pilot:
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen)
                         and "B better" in str(app.screen.query_one("#verdict").render()))
        verdict = str(app.screen.query_one("#verdict").render())
        assert "B better, p = " in verdict and "stars [" in verdict
        await pilot.press("P")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: ab.get_experiment(demo_store, exp.id).status == "stopped")
    winner = registry.get_model(demo_store, "tuned:1")
    assert (winner.stage, winner.slot, winner.ollama_name) == ("production", "general", "tuned:1")
    assert ab.get_experiment(demo_store, exp.id).status == "stopped"


async def test_arena_vote_is_blind_and_recorded(demo_store, tmp_path):
    exp = _experiment(demo_store, seeded=False)
    with StandIn(models=dict(MODELS)) as server:
        app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url,
                                           ollama_host=server.url))
        async with app.run_test(size=(160, 44)) as pilot:
            await pilot.press("f5")
            await wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen)
                             and app.screen.selected == exp.id)
            await pilot.press("v")
            await wait_until(pilot, lambda: isinstance(app.screen, PickDialog))
            await pilot.press("enter")  # logged prompts (no dataset in this store)
            await wait_until(pilot, lambda: isinstance(app.screen, ArenaScreen))
            arena = app.screen
            await wait_until(pilot, lambda: arena.ready)
            left_arm, right_arm = arena._side_arm("left"), arena._side_arm("right")
            shown = str(arena.query_one("#side-left").border_title)
            assert "llama" not in shown and "tuned" not in shown  # names hidden
            await pilot.press("4")  # rates the left side
            await pilot.press("right")
            await wait_until(pilot, lambda: arena.votes == 1)
    with demo_store.session() as s:
        vote = s.exec(select(ArenaVote)).one()
    assert vote.experiment_id == exp.id and vote.left == left_arm and vote.winner == right_arm
    assert {vote.answer_a, vote.answer_b} == set(MODELS.values())
    assert vote.answer_a == "base answer"  # A is model_a whatever side it was shown on
    assert (vote.rating_a if left_arm == "A" else vote.rating_b) == 4


async def test_narrow_dashboard_scrolls_to_the_charts(demo_store, tmp_path):
    _experiment(demo_store, seeded=True)
    app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen)
                         and "B better" in str(app.screen.query_one("#verdict").render()))
        screen = app.screen
        assert screen.has_class("-narrow")
        detail = screen.query_one("#exp-detail")
        detail.focus()
        await pilot.press("G")  # the charts are below the fold: the pane scrolls to them
        await wait_until(pilot, lambda: detail.scroll_y > 0)
        win = screen.query_one("#win-plot")
        await wait_until(pilot, lambda: win.region.bottom <= detail.region.bottom
                         and win.region.height >= 10)
        assert win.size.width >= 70
        await pilot.press("g")
        await wait_until(pilot, lambda: detail.scroll_y == 0)


async def test_hidden_dashboard_stops_recomputing_and_j_k_move(demo_store, tmp_path):
    first = _experiment(demo_store, seeded=False)
    second = ab.create_experiment(demo_store, name="v3", alias="assistant2",
                                  model_a="llama3.2:3b", model_b="tuned:1", salt="y")
    app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url))
    async with app.run_test(size=(160, 44)) as pilot:
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen)
                         and app.screen.reports >= 1)
        screen = app.screen
        assert screen.selected == second.id  # newest first
        await pilot.press("j")
        await wait_until(pilot, lambda: screen.selected == first.id
                         and "v2" in str(screen.query_one("#verdict").render()))
        await pilot.press("k")
        await wait_until(pilot, lambda: "v3" in str(screen.query_one("#verdict").render()))
        await pilot.press("f1")
        await wait_until(pilot, lambda: not screen.is_current and not any(
            w.group == "experiments" and not w.is_finished for w in app.workers))
        before = screen.reports
        await pilot.pause(4.5)  # two refresh periods: a visible dashboard would recompute twice
        assert screen.reports == before
        await pilot.press("f5")
        await wait_until(pilot, lambda: screen.reports > before)


async def test_arena_refuses_a_vote_when_one_side_failed(demo_store, tmp_path):
    _experiment(demo_store, seeded=False)
    with StandIn(models={"llama3.2:3b": "base answer"}) as server:  # tuned:1 answers 404
        app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url,
                                           ollama_host=server.url))
        async with app.run_test(size=(160, 44)) as pilot:
            await pilot.press("f5")
            await wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen)
                             and app.screen.selected is not None)
            await pilot.press("v")
            await wait_until(pilot, lambda: isinstance(app.screen, PickDialog))
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ArenaScreen))
            arena = app.screen
            await wait_until(pilot, lambda: arena.ready)
            assert arena.failed == {"B"}
            await pilot.press("left")
            await pilot.press("t")
            await pilot.pause()
            assert arena.votes == 0
            assert any("one side failed" in n.message for n in app._notifications)
    with demo_store.session() as s:
        assert s.exec(select(ArenaVote)).all() == []


async def test_new_experiment_error_keeps_the_dialog_and_what_was_typed(demo_store, tmp_path):
    from ftui.screens.experiments import NewExperimentDialog

    with StandIn(models=dict(MODELS)) as server:  # the models are looked up there
        app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url,
                                           ollama_host=server.url))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f5")
            await wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen))
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(app.screen, NewExperimentDialog))
            dialog = app.screen
            dialog.query_one("#x_name").value = "v9"
            dialog.query_one("#x_a").value = "llama3.2:3b"
            await pilot.press("ctrl+s")  # model B left empty
            await pilot.pause()
            assert app.screen is dialog
            assert "is not a simple name" in str(dialog.query_one("#exp-error").render())
            assert dialog.query_one("#x_name").value == "v9"
            dialog.query_one("#x_b").value = "tuned:1"
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen))
    assert [e.name for e in ab.list_experiments(demo_store)] == ["v9"]
