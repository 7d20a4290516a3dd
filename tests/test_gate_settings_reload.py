"""config.toml's [gate] is read as each gate starts, not once when the app starts (walkthrough
11): an edit applies to the next F4 promotion and the next autopilot step without a restart,
a broken edit is refused by name, and the gate's output says where its settings came from."""

from __future__ import annotations

import pytest
from ollama_standin import StandIn
from test_promote_ui import _promote_on_f4, _refused_dialog
from ui_wait import wait_for

from ftui import registry
from ftui.autopilot.policy import policy_path
from ftui.config import Settings, load_settings
from ftui.errors import FtuiError
from ftui.registry.gate import run_gate

FAST = ("[gate]\ngeneral_items = 2\nvalidation_limit = 2\nmax_new_tokens = 4\n"
        "general_max_new_tokens = 4\n")


@pytest.fixture
def config(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("FTUI_HOME", str(home))
    monkeypatch.delenv("FTUI_DATABASE_URL", raising=False)
    (home / "config.toml").write_text(FAST)
    return home / "config.toml"


def test_current_extra_reads_the_file_as_it_is_now(config, store):
    settings = load_settings(store.url)
    config.write_text(FAST.replace("general_items = 2", "general_items = 7"))
    assert settings.extra["gate"]["general_items"] == 2  # as it was at start
    assert settings.current_extra()["gate"]["general_items"] == 7
    config.write_text("[gate\n")
    with pytest.raises(FtuiError, match="cannot read the config file"):
        settings.current_extra()
    config.unlink()
    assert settings.current_extra() == {}  # gone: the defaults, not the old values
    given = Settings(home=config.parent, database_url=store.url, extra={"judge": "j"})
    assert given.current_extra() == {"judge": "j"}  # made by hand: its own values


async def test_f4_promotion_uses_the_gate_settings_edited_after_start(config, demo_store):
    from ftui.screens.app import FtuiApp

    with StandIn(models={"prod:1": "same", "cand:1": "same"}) as server:
        prod = registry.register(demo_store, kind="ollama", name="prod", ollama_name="prod:1")
        registry.set_stage(demo_store, prod.id, "production", "general")
        cand = registry.register(demo_store, kind="ollama", name="cand", ollama_name="cand:1")
        settings = load_settings(demo_store.url)
        app = FtuiApp(demo_store, Settings(**{**settings.__dict__, "ollama_host": server.url}))
        async with app.run_test(size=(120, 40)) as pilot:
            config.write_text(FAST + "max_perplexity_increase = -0.5\n")  # edited while open
            await _promote_on_f4(pilot, app, cand.id)
            await wait_for(pilot, lambda: _refused_dialog(app), timeout=30, what="refusal")
            title = str(app.screen.query_one(".dialog-title").render())
            lines = str(app.screen.query_one("#gate-lines").render())
            assert "could not run" in title and "max_perplexity_increase = -0.5" in lines
            await pilot.press("escape")
    assert registry.get_model(demo_store, cand.id).stage == "candidate"


def test_the_gate_says_where_its_settings_came_from(config, store):
    registry.register(store, kind="ollama", name="cand", ollama_name="cand:1")
    settings = load_settings(store.url)
    with StandIn(models={"cand:1": "hi"}) as server:
        result = run_gate(store, "cand", home=settings.home, host=server.url,
                          settings_extra=settings.current_extra(), keep=False)
    note = result["notes"][-1]
    assert note.startswith("settings: general_items 2, validation_limit 2, max_new_tokens 4")
    assert str(config) in note and "as this gate started" in note


def test_the_autopilot_loop_reads_config_toml_before_each_step(config, store):
    from test_autopilot import write_policy

    from ftui.autopilot import run

    settings = load_settings(store.url)
    write_policy(settings.home)
    assert policy_path(settings.home).is_file()

    def break_the_config(_step) -> None:  # edited between two steps of one running loop
        config.write_text("[gate\nbroken = ")

    steps = run(store, settings.home, "http://127.0.0.1:9", poll_s=0.01, max_steps=2,
                settings_extra=settings.current_extra, on_step=break_the_config)
    assert steps[0].action != "waiting", steps[0]
    assert steps[1].action == "waiting" and "config.toml" in steps[1].did
    assert "cannot read the config file" in steps[1].why and "fix:" in steps[1].why
