"""Defects found by walking through ftui as a newcomer (80x24 and 160x48), each with its test."""

from __future__ import annotations

import pytest
from ftui.screens.app import FtuiApp
from ftui.screens.dialogs import ConfirmDialog
from ftui.widgets.table import RecordTable
from textual.app import App
from ui_wait import wait_for

from ftui.curate import DatasetSpec
from ftui.curate.build import count_matching
from ftui.curate.versions import build_dataset
from ftui.demo import load_demo


class OneTable(App):
    def compose(self):
        yield RecordTable("id", "status", "started", id="t")


async def test_a_cell_that_grows_in_place_is_shown_whole():
    """F3's runs list showed 'runnin' and '11-26 0' at 160 columns: a run first listed as
    `queued` with no start time kept those narrow widths when its cells changed in place."""
    app = OneTable()
    async with app.run_test(size=(160, 10)) as pilot:
        table = app.query_one(RecordTable)
        table.show_rows([(1, ("1", "queued", "-"))])
        await pilot.pause()
        table.show_rows([(1, ("1", "running", "11-26 00:22"))])  # same key: updated in place
        await pilot.pause()
        line = "".join(s.text for s in table.render_line(1))
        assert "running" in line and "11-26 00:22" in line, line


async def test_datasets_preview_follows_data_loaded_while_it_was_hidden(store, settings):
    """F2 is built before it is first shown (and stays built): its preview said '0 interactions
    match the rules' after the demo was loaded on the empty store's first start."""
    app = FtuiApp(store, settings)
    async with app.run_test(size=(140, 44)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="demo offer")
        await pilot.press("n")  # loaded below, while F2 is hidden
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.screen.result is not None, what="first preview")
        assert app.screen.result.matched == 0
        await pilot.press("f1")
        load_demo(store)
        build_dataset(store, "elsewhere", DatasetSpec())  # e.g. `ftui dataset build` meanwhile
        await pilot.press("f2")
        expected = count_matching(store, DatasetSpec())
        await wait_for(pilot, lambda: app.screen.result.matched == expected > 0,
                       what="a preview of the loaded data")
        await wait_for(pilot, lambda: app.screen.query_one("#versions").row_count == 1,
                       what="the version built elsewhere")


async def test_models_evaluate_on_a_preference_version_reports_its_accuracy(demo_store, home):
    """F4 `e` on a DPO model's own (preference) version said 'unexpected error KeyError: loss':
    preference accuracy was computed and stored, and the activity line expected loss figures."""
    from ftui.screens.evaluate_dialog import EvaluateDialog
    from ftui.screens.models import ModelsScreen

    from ftui import registry
    from ftui.config import Settings
    from ftui.train.base import load_base

    prefs, _, _ = build_dataset(demo_store, "prefs", DatasetSpec(kind="preference"))
    load_base("tiny", home)  # home/models/tiny, registered as a transformers folder
    m = registry.register(demo_store, kind="hf", name="tiny-hf", path=str(home / "models" / "tiny"))
    app = FtuiApp(demo_store, Settings(home=home, database_url=demo_store.url,
                                       ollama_host="http://127.0.0.1:9"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen), what="F4")
        screen = app.screen
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EvaluateDialog), what="dialog")
        app.screen.query_one("#ev-dataset").value = prefs.id
        app.screen.query_one("#ev-limit").value = "3"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.evaluating is None
                       and "preference" in _activity(screen), timeout=120, what="the result")
        log = _activity(screen)
        assert "unexpected error" not in log
        ev = registry.get_model(demo_store, m.id).metrics["eval_preference"]
        assert f"preference accuracy {ev['preference_accuracy']:.3f}" in log, log
        # and the model's detail shows the stored figure (it showed none)
        await wait_for(pilot, lambda: "preference evaluation" in str(
            screen.query_one("#model-info").render()), what="the figure in the detail")


def _activity(screen) -> str:
    return "\n".join(str(line) for line in screen.query_one("#model-activity").lines)


async def test_training_header_tokens_per_second_is_the_runs_figure(demo_store, tmp_path):
    """F3 said '50 tokens/s' for a run whose `ftui runs show` (and model card) said 136.7: the
    header took the last logging window's speed instead of trained tokens / running seconds."""
    import json

    from ftui.screens.training import TrainingScreen

    from ftui.config import Settings
    from ftui.train import runs
    from ftui.train.config import RunConfig

    version, _, _ = build_dataset(demo_store, "v", DatasetSpec(min_rating=4))
    run = runs.create_run(demo_store, version.id, "tiny", RunConfig(max_steps=2).validate())
    runs.write_metrics(demo_store, run.id, 2, {"train_loss": 2.0, "tokens_per_second": 50.0})
    runs.update_run(demo_store, run.id, status="completed", step=2, total_steps=2,
                    train_tokens=16916,
                    summary_json=json.dumps({"trained_tokens": 16916, "running_seconds": 123.73,
                                             "tokens_per_second": 136.7}))
    assert round(runs.tokens_per_second(runs.get_run(demo_store, run.id)), 1) == 136.7
    home = tmp_path / "home"
    home.mkdir()
    app = FtuiApp(demo_store, Settings(home=home, database_url=demo_store.url))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen)
                       and "tokens/s" in str(app.screen.query_one("#run-header").render()),
                       what="the run's header")
        text = str(app.screen.query_one("#run-header").render())
        assert "137 tokens/s" in text, text


async def test_arena_says_no_answer_for_a_blank_reply(demo_store, tmp_path):
    """A local `tiny` arm answered only whitespace: its pane stayed blank, like one still
    waiting, while the vote keys were live (the vote is refused: say why on the pane)."""
    from ftui.screens.arena import ArenaScreen
    from ftui.screens.dialogs import PickDialog
    from ftui.screens.experiments import ExperimentsScreen
    from ollama_standin import StandIn

    from ftui import ab
    from ftui.config import Settings

    exp = ab.create_experiment(demo_store, name="e", alias="assistant", model_a="blank:1",
                               model_b="ok:1", salt="z")
    ab.set_status(demo_store, exp.id, "running")
    with StandIn(models={"blank:1": " \n ", "ok:1": "a real answer"}) as server:
        app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url,
                                           ollama_host=server.url))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f5")
            await wait_for(pilot, lambda: isinstance(app.screen, ExperimentsScreen)
                           and app.screen.selected is not None, what="F5")
            await pilot.press("v")
            await wait_for(pilot, lambda: isinstance(app.screen, PickDialog), what="sources")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ArenaScreen), what="arena")
            arena = app.screen
            await wait_for(pilot, lambda: arena.ready, timeout=30, what="both answers")
            await pilot.pause()
            assert arena.failed == {"A"}
            blank_side = "left" if arena.left == "A" else "right"
            shown = _plain(arena.query_one(f"#answer-{blank_side}").content)
            assert "no answer" in shown, shown


def _plain(renderable) -> str:
    import io

    from rich.console import Console

    console = Console(width=60, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def test_playground_says_when_ollama_is_unreachable(demo_store, tmp_path):
    """No Ollama: F6's model list silently held only the registered models (none on a fresh
    store), with nothing saying why Ollama's models were missing or how to fix it."""
    from ftui.screens.playground import PlaygroundScreen
    from ollama_standin import StandIn

    from ftui.config import Settings

    app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url,
                                       ollama_host="http://127.0.0.1:9"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f6")
        await wait_for(pilot, lambda: isinstance(app.screen, PlaygroundScreen), what="F6")
        note = app.screen.query_one("#play-ollama")
        await wait_for(pilot, lambda: note.display, timeout=15, what="the Ollama note")
        text = str(note.content)
        assert "cannot reach Ollama at http://127.0.0.1:9" in text and "fix:" in text, text
    with StandIn(models={"llama3.2:3b": "hi"}) as server:
        app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url,
                                           ollama_host=server.url))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f6")
            await wait_for(pilot, lambda: isinstance(app.screen, PlaygroundScreen), what="F6")
            select = app.screen.query_one("#play-model")
            await wait_for(pilot, lambda: any("(Ollama)" in str(label) for label, _
                                              in select._options), what="Ollama's models")
            assert not app.screen.query_one("#play-ollama").display


@pytest.mark.parametrize("argv", [["runs", "show", "abc"], ["runs", "cancel", "1x"],
                                  ["runs", "pause", ""], ["runs", "unpause", "abc"],
                                  ["runs", "resume", "abc"], ["runs", "logs", "abc"],
                                  ["runs", "delete", "abc", "--yes"]])
def test_a_run_id_that_is_not_a_number_is_an_error_not_a_bug(demo_store, capsys, argv):
    """`ftui runs show abc` said 'unexpected ValueError ... this is a bug in ftui'."""
    from ftui.cli import main

    assert main(["--db", demo_store.url, *argv]) == 2
    err = capsys.readouterr().err
    assert "unexpected" not in err and "no run" in err and "fix: " in err, err


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_logs_of_a_run_that_does_not_exist_is_an_error(demo_store, capsys, json_flag):
    """`ftui runs logs 999` printed nothing and exited 0 (walkthrough 3)."""
    from ftui.cli import main

    assert main(["--db", demo_store.url, "runs", "logs", "999", *json_flag]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "no run 999" in out.err and "fix: " in out.err


async def test_f4_promoting_the_production_model_again_does_nothing(demo_store, tmp_path):
    """F4 `p` on the model already production in that slot ran the whole gate again and wrote
    'moved production -> production' into its history."""
    from ftui.screens.dialogs import TextInputDialog
    from ftui.screens.models import ModelsScreen

    from ftui import registry
    from ftui.config import Settings

    prod = registry.register(demo_store, kind="ollama", name="prod", ollama_name="prod:1")
    registry.set_stage(demo_store, prod.id, "production", "general")
    before = len(registry.history(demo_store, prod.id))
    app = FtuiApp(demo_store, Settings(home=tmp_path, database_url=demo_store.url,
                                       ollama_host="http://127.0.0.1:9"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen)
                       and app.screen.selected == prod.id, what="F4")
        screen = app.screen
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, TextInputDialog), what="slot")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("already production" in n.message
                                          for n in app._notifications), what="the note")
        await pilot.pause(0.3)
        assert not screen.promotion.running
    assert len(registry.history(demo_store, prod.id)) == before
