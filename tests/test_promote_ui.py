"""Promotion from the TUI goes through the regression gate (issue 14): F4 `p` and F5 `P` run it in a
worker thread with its progress shown; a refusal lists the figures and promotes only when forced
with a reason, which the stage history keeps. Real gates against the stand-in Ollama."""

from __future__ import annotations

from ftui.screens.app import FtuiApp
from ftui.screens.dialogs import ConfirmDialog, TextInputDialog
from ftui.screens.experiments import ExperimentsScreen
from ftui.screens.help import HelpScreen
from ftui.screens.models import ModelsScreen
from ftui.screens.promote_dialog import GateRefusedDialog
from ollama_standin import StandIn
from test_experiments_screen import _experiment
from ui_wait import wait_for

from ftui import ab, registry
from ftui.config import Settings

FAST = {"gate": {"general_items": 6, "validation_limit": 3, "max_new_tokens": 6,
                 "general_max_new_tokens": 6}}
REFUSES = "I can't help with that. Final answer: 42"  # refuses every harmful request


def _models(store, prod_reply: str, cand_reply: str, server_models: dict) -> tuple:
    server_models.update({"prod:1": prod_reply, "cand:1": cand_reply})
    prod = registry.register(store, kind="ollama", name="prod", ollama_name="prod:1")
    registry.set_stage(store, prod.id, "production", "general")
    cand = registry.register(store, kind="ollama", name="cand", ollama_name="cand:1")
    return prod, cand


def _app(store, tmp_path, server) -> FtuiApp:
    return FtuiApp(store, Settings(home=tmp_path, database_url=store.url,
                                   ollama_host=server.url, extra=FAST))


async def _promote_on_f4(pilot, app, model_id: int) -> ModelsScreen:
    await pilot.press("f4")
    await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen)
                   and app.screen.selected == model_id, what="F4 with the candidate selected")
    screen = app.screen
    await pilot.press("p")
    await wait_for(pilot, lambda: isinstance(app.screen, TextInputDialog), what="slot dialog")
    await pilot.press("enter")  # its own slot, general
    return screen


def _refused_dialog(app) -> GateRefusedDialog | None:
    """The refusal dialog once it is composed (pushed is not enough: its lines come a frame
    later, and a busy machine shows the gap)."""
    screen = app.screen
    if isinstance(screen, GateRefusedDialog) and screen.query("#gate-lines"):
        return screen
    return None


async def test_f4_refused_promotion_lists_the_failed_figures_and_promotes_nothing(
        demo_store, tmp_path):
    with StandIn() as server:
        prod, cand = _models(demo_store, REFUSES, "Sure, here is how.", server.models)
        app = _app(demo_store, tmp_path, server)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await _promote_on_f4(pilot, app, cand.id)
            await wait_for(pilot, lambda: _refused_dialog(app), timeout=30, what="refusal")
            dialog = app.screen
            title = str(dialog.query_one(".dialog-title").render())
            lines = str(dialog.query_one("#gate-lines").render())
            assert "harmful requests refused" in title
            assert "FAIL  harmful requests refused: candidate 0.00, incumbent 1.00" in lines
            marks = [line[:4] for line in lines.splitlines()[1:] if line[:4] in ("FAIL", "pass")]
            assert marks == sorted(marks)  # the failed figures come first
            assert registry.get_model(demo_store, cand.id).stage == "candidate"
            await pilot.press("enter")  # no reason: refused in the dialog, which stays
            await pilot.pause()
            assert _refused_dialog(app) and "a reason is needed" in str(
                dialog.query_one("#force-error").render())
            await pilot.press("escape")
            await wait_for(pilot, lambda: not screen.promotion.running, what="promotion ended")
            assert not screen.query_one("#promote-progress").busy
            activity = "".join(str(line.text) for line in screen.query_one(
                "#model-activity").lines)
            assert "refused by the gate (" in activity and "harmful requests refused" in activity
            assert "not promoted" in activity
    assert registry.get_model(demo_store, cand.id).stage == "candidate"
    assert registry.production_model(demo_store, "general").id == prod.id


async def test_f4_forced_promotion_keeps_the_reason_in_the_history(demo_store, tmp_path):
    with StandIn() as server:
        prod, cand = _models(demo_store, REFUSES, "Sure, here is how.", server.models)
        app = _app(demo_store, tmp_path, server)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await _promote_on_f4(pilot, app, cand.id)
            await wait_for(pilot, lambda: _refused_dialog(app), timeout=30, what="refusal")
            await pilot.press(*"hotfix, owner sam")
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.promotion.running, timeout=30,
                           what="forced promotion")
            assert "production" in str(screen.query_one("#model-info").render())
    assert registry.get_model(demo_store, cand.id).stage == "production"
    assert registry.get_model(demo_store, prod.id).stage == "staging"
    note = registry.history(demo_store, cand.id)[-1].note
    assert "gate FAILED (" in note and "harmful requests refused" in note
    assert note.endswith("FORCED: hotfix, owner sam")


async def test_f4_passing_gate_promotes_and_the_ui_stays_responsive(demo_store, tmp_path):
    """The candidate answers as the incumbent does (equal figures: passed), slowly: while the
    gate waits for it, keys are handled at once (the help opens and closes)."""
    with StandIn(slow={"cand:1": 1.5}) as server:
        prod, cand = _models(demo_store, REFUSES, REFUSES, server.models)
        app = _app(demo_store, tmp_path, server)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await _promote_on_f4(pilot, app, cand.id)
            await wait_for(pilot, lambda: "general set: cand" in screen.query_one(
                "#promote-progress").latest, what="the gate asking the candidate")
            await pilot.press("question_mark")
            # The witness is that help opened while the gate still ran: a gate on the UI thread
            # would hold the key until it ended (the wall clock is no witness on a busy machine).
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=10.0,
                           what="help while the gate runs")
            assert screen.promotion.running
            await pilot.press("escape")
            await wait_for(pilot, lambda: not screen.promotion.running, timeout=30,
                           what="the gate to pass")
            assert _refused_dialog(app) is None
    assert registry.get_model(demo_store, cand.id).stage == "production"
    note = registry.history(demo_store, cand.id)[-1].note
    assert "gate passed against prod" in note and "FORCED" not in note


async def test_f5_promote_winner_goes_through_the_gate_and_can_be_forced(
        demo_store, tmp_path, monkeypatch):
    """promote_winner reads the gate thresholds from $FTUI_HOME/config.toml."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        "[gate]\ngeneral_items = 6\nvalidation_limit = 3\nmax_new_tokens = 6\n"
        "general_max_new_tokens = 6\n")
    monkeypatch.setenv("FTUI_HOME", str(home))
    exp = _experiment(demo_store, seeded=True)  # B (tuned:1) clearly better than A
    a = registry.register(demo_store, kind="ollama", name="llama3.2:3b",
                          ollama_name="llama3.2:3b")
    registry.set_stage(demo_store, a.id, "production", "general")
    with StandIn(models={"llama3.2:3b": REFUSES, "tuned:1": "Sure."}) as server:
        app = FtuiApp(demo_store, Settings(home=home, database_url=demo_store.url,
                                           ollama_host=server.url))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f5")
            await wait_for(pilot, lambda: isinstance(app.screen, ExperimentsScreen)
                           and app.screen.shown_report is not None, what="the report")
            screen = app.screen
            await pilot.press("P")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("y")
            await wait_for(pilot, lambda: _refused_dialog(app), timeout=30, what="refusal")
            assert "FAIL  harmful requests refused" in str(
                app.screen.query_one("#gate-lines").render())
            assert ab.get_experiment(demo_store, exp.id).status == "running"
            await pilot.press(*"B wins on ratings")
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.promotion.running, timeout=30,
                           what="forced promotion")
    winner = registry.get_model(demo_store, "tuned:1")
    assert (winner.stage, winner.slot) == ("production", "general")
    assert ab.get_experiment(demo_store, exp.id).status == "stopped"
    assert "FORCED: B wins on ratings" in registry.history(demo_store, winner.id)[-1].note
