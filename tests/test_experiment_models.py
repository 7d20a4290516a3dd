"""An experiment names two models that exist: registered, or known to Ollama (walkthrough 8).
A name that is neither is refused; when Ollama cannot be asked, creating is refused with a way
on (start Ollama, or create it unchecked on purpose: --no-check, or ctrl+s again in F5)."""

from __future__ import annotations

import socket

import pytest
from ollama_standin import StandIn
from test_models_screen import wait_until

from ftui import ab, registry
from ftui.ab.experiments import ModelsUnchecked
from ftui.cli import main
from ftui.config import Settings
from ftui.errors import FtuiError

MODELS = {"llama3.2:3b": "base answer", "mistral:latest": "other answer"}


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _create(store, a: str, b: str, host: str | None):
    return ab.create_experiment(store, name="e1", alias="assistant", model_a=a, model_b=b,
                                check_host=host)


def test_models_known_to_ollama_or_registered_are_accepted(store):
    registry.register(store, kind="ollama", name="mine", ollama_name="mine:v1")
    with StandIn(models=dict(MODELS)) as ollama:
        made = _create(store, "mine", "llama3.2:3b", ollama.url)
        assert (made.model_a, made.model_b) == ("mine", "llama3.2:3b")
        ab.create_experiment(store, name="e2", alias="x", model_a="mistral",  # = mistral:latest
                             model_b="1", check_host=ollama.url)  # "1": the registry id


@pytest.mark.parametrize("bad", ["nosuchmodel", "llama3.2", "llama3.2:3b-typo", "mine:v2"])
def test_an_unknown_model_is_refused_and_nothing_is_created(store, bad):
    with StandIn(models=dict(MODELS)) as ollama, pytest.raises(FtuiError) as err:
        _create(store, "llama3.2:3b", bad, ollama.url)
    assert f"model B {bad!r} is neither registered nor in Ollama" in err.value.message
    assert "llama3.2:3b" in err.value.message  # what Ollama has, to pick from
    assert "ollama pull" in err.value.hint and "ftui models register" in err.value.hint
    assert ab.list_experiments(store) == []


def test_ollama_down_says_it_could_not_check(store):
    host = closed_port_url()
    with pytest.raises(ModelsUnchecked) as err:
        _create(store, "llama3.2:3b", "nosuchmodel", host)
    assert "could not check" in err.value.message and host in err.value.message
    assert "--no-check" in err.value.hint and "ollama serve" in err.value.hint
    assert ab.list_experiments(store) == []
    registry.register(store, kind="ollama", name="a1", ollama_name="a1:v1")
    registry.register(store, kind="ollama", name="b1", ollama_name="b1:v1")
    assert _create(store, "a1", "b1", host).id  # both registered: Ollama is not asked


def test_cli_refuses_with_a_fix_and_no_check_creates(store, capsys):
    db = ["--db", store.url]
    argv = [*db, "ab", "create", "e1", "--alias", "assistant", "--a", "llama3.2:3b"]
    with StandIn(models=dict(MODELS)) as ollama:
        assert main([*argv, "--b", "nosuchmodel", "--ollama-host", ollama.url]) == 2
        err = capsys.readouterr().err
        assert "neither registered nor in Ollama" in err and "fix:" in err
        assert "Traceback" not in err
    down = closed_port_url()
    assert main([*argv, "--b", "nosuchmodel", "--ollama-host", down]) == 2
    err = capsys.readouterr().err
    assert "could not check" in err and "fix:" in err and "--no-check" in err
    assert ab.list_experiments(store) == []
    assert main([*argv, "--b", "nosuchmodel", "--ollama-host", down, "--no-check"]) == 0
    assert [e.model_b for e in ab.list_experiments(store)] == ["nosuchmodel"]


async def new_experiment_dialog(app, pilot, name: str, model_a: str, model_b: str):
    """F5, `n`, the dialog filled in with these values (not yet saved)."""
    from ftui.screens.experiments import ExperimentsScreen, NewExperimentDialog

    await pilot.press("f5")
    await wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen))
    await pilot.press("n")
    await wait_until(pilot, lambda: isinstance(app.screen, NewExperimentDialog))
    dialog = app.screen
    for field, value in (("#x_name", name), ("#x_a", model_a), ("#x_b", model_b)):
        dialog.query_one(field).value = value
    return dialog

async def test_f5_dialog_refuses_an_unknown_model(demo_store, tmp_path):
    from ftui.screens.app import FtuiApp
    from ftui.screens.experiments import ExperimentsScreen

    with StandIn(models=dict(MODELS)) as ollama:
        app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url,
                                           ollama_host=ollama.url))
        async with app.run_test(size=(100, 30)) as pilot:
            dialog = await new_experiment_dialog(app, pilot, "v9", "llama3.2:3b", "nosuchmodel")
            for _ in range(2):  # asking again does not slip it through
                await pilot.press("ctrl+s")
                await pilot.pause()
                assert app.screen is dialog
                shown = str(dialog.query_one("#exp-error").render())
                assert "neither registered nor in Ollama" in shown and "ollama pull" in shown
            dialog.query_one("#x_b").value = "mistral"
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen))
    assert [e.model_b for e in ab.list_experiments(demo_store)] == ["mistral"]


async def test_f5_dialog_with_ollama_down_creates_only_when_asked_again(demo_store, tmp_path):
    from ftui.screens.app import FtuiApp
    from ftui.screens.experiments import ExperimentsScreen

    app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url,
                                       ollama_host=closed_port_url()))
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await new_experiment_dialog(app, pilot, "v9", "llama3.2:3b", "tuned:1")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog and ab.list_experiments(demo_store) == []
        shown = str(dialog.query_one("#exp-error").render())
        assert "could not check" in shown and "ctrl+s again" in shown
        assert "--no-check" not in shown  # a CLI flag means nothing here
        dialog.query_one("#x_b").value = "tuned:2"  # changed: checked again, refused again
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is dialog and ab.list_experiments(demo_store) == []
        await pilot.press("ctrl+s")  # the same values a second time: created unchecked
        await wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen))
    assert [e.model_b for e in ab.list_experiments(demo_store)] == ["tuned:2"]
