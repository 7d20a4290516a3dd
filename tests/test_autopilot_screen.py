"""The Autopilot screen (F7) through the Pilot: cycles and their steps with the gate figures,
the kill switch key, the policy editor (invalid text is refused in the dialog), a notification
when a cycle ends, and no reading while another section is shown."""

from __future__ import annotations

from ftui.screens import autopilot as screen_module
from ftui.screens.app import FtuiApp
from ftui.screens.autopilot import AutopilotScreen, PolicyDialog
from ftui.screens.dialogs import ConfirmDialog
from test_autopilot import write_policy
from textual.widgets import TextArea
from ui_wait import wait_for

from ftui import ab, registry
from ftui.autopilot import state
from ftui.autopilot.policy import policy_path
from ftui.config import Settings

GATE = {"passed": True, "failed": [], "notes": [], "incumbent": {"name": "tiny"}, "figures": [
    {"name": "validation loss", "candidate": 1.234, "incumbent": 1.3, "rule": "at most 1.365",
     "passed": True, "line": "validation loss ..."},
    {"name": "general accuracy", "candidate": 0.5, "incumbent": None, "rule": "not compared",
     "passed": None, "line": "general accuracy ..."}]}


def _cycles(store):
    """A finished cycle with its steps, and a running one waiting for its experiment."""
    done = state.start_cycle(store, "{}", "60 new rated or corrected interactions")
    state.record_step(store, done.id, "dataset", "done", "dataset 3 (auto): 40 examples")
    state.record_step(store, done.id, "gate", "done", "gate passed against tiny", GATE)
    model = registry.register(store, kind="ollama", name="auto-run7", ollama_name="auto-1:l")
    registry.set_stage(store, model.id, "production", "general", "autopilot cycle 1: won")
    state.record_step(store, done.id, "decision", "done", "promoted: B better, p = 0.01",
                      {"previous_production": None})
    state.update_cycle(store, done.id, status="finished", outcome="promoted", model_id=model.id,
                       reason="auto-run7 promoted to production in general")
    running = state.start_cycle(store, "{}", "schedule: every 24 h")
    exp = ab.create_experiment(store, name="autopilot-2", alias="assistant", model_a="base:1",
                               model_b="auto:2", min_samples=8)
    ab.set_status(store, exp.id, "running")
    state.record_step(store, running.id, "decision", "waiting", "not enough data: A has 2 of 8")
    state.update_cycle(store, running.id, stage="decision", experiment_id=exp.id)
    return done, running


def _text(app, selector: str) -> str:
    """What a Static shows, as plain text (rich tables and groups included)."""
    import io

    from rich.console import Console

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(app.screen.query_one(selector).content)
    return console.export_text()


async def test_pipeline_kill_switch_policy_form_and_notifications(demo_store, home,
                                                                  monkeypatch):
    monkeypatch.setattr(screen_module, "REFRESH_S", 0.2)
    monkeypatch.setattr(screen_module, "ENDS_S", 0.2)
    write_policy(home)
    done, running = _cycles(demo_store)
    state.unnotified_ends(demo_store)  # ended before the app started: already said
    app = FtuiApp(demo_store, Settings(home=home, database_url=demo_store.url,
                                       ollama_host="http://127.0.0.1:9"))
    said: list[str] = []
    monkeypatch.setattr(app, "notify", lambda message, **kw: said.append(message))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("f7")
        await wait_for(pilot, lambda: isinstance(app.screen, AutopilotScreen)
                       and app.screen.reads > 0 and "next:" in _text(app, "#ap-head"))
        head = _text(app, "#ap-head")
        assert "active" in head and "not running" in head
        steps = _text(app, "#ap-steps")  # the newest cycle is selected first
        assert f"cycle {running.id}" in steps and "not enough data" in steps
        await pilot.press("down")
        await wait_for(pilot, lambda: f"cycle {done.id}" in _text(app, "#ap-steps"))
        steps = _text(app, "#ap-steps")
        assert "promoted" in steps and "gate figures" in steps and "1.23 " in steps and "at most 1.365  pass" in steps

        await pilot.press("x")  # the kill switch
        await wait_for(pilot, lambda: state.is_paused(demo_store))
        await wait_for(pilot, lambda: "PAUSED" in _text(app, "#ap-head"))
        await pilot.press("x")
        await wait_for(pilot, lambda: not state.is_paused(demo_store))

        # a cycle ends (the autopilot runs elsewhere): one notification says so
        state.update_cycle(demo_store, running.id, status="failed", outcome="failed",
                           error="run 4 failed: out of memory")
        await wait_for(pilot, lambda: any("cycle 2 failed: run 4 failed" in m for m in said))

        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PolicyDialog))
        editor = app.screen.query_one("#policy-editor", TextArea)
        before = policy_path(home).read_text()
        assert editor.text == before
        editor.text = "[experiment]\nb_share = 7\n"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, PolicyDialog)  # refused: the dialog stays, saying why
        assert "experiment.b_share = 7.0" in _text(app, "#policy-error")
        assert policy_path(home).read_text() == before
        editor.text = before.replace("b_share = 0.5", "b_share = 0.2")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, AutopilotScreen))
        assert "b_share = 0.2" in policy_path(home).read_text()
        assert any("policy saved" in m for m in said)

        await pilot.press("up")
        await wait_for(pilot, lambda: app.screen.selected == running.id)
        await pilot.press("t")  # the failed cycle is taken up again
        await wait_for(pilot, lambda: state.get_cycle(demo_store, running.id).status
                       == "running")
        await pilot.press("down")
        await wait_for(pilot, lambda: app.screen.selected == done.id)
        await pilot.press("u")  # undo the promotion: the stage history is the record
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: any("moved back to staging" in m for m in said))
        assert registry.production_model(demo_store, "general") is None

        screen = app.screen
        await pilot.press("f1")  # hidden: no more reading
        await pilot.pause(0.3)
        reads = screen.reads
        await pilot.pause(0.8)
        assert screen.reads == reads
