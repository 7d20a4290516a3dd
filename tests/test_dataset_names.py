"""Dataset names are simple names, as experiment, slot and model names are: a model trained on
a dataset is registered as `<dataset>-run<N>`, and F5 refuses a model name with a space or a
slash (walkthrough 3, rows 12 and 22). Hostile names are refused with a cause and a fix."""

from __future__ import annotations

import pytest
from ftui.screens.app import FtuiApp
from ftui.screens.datasets import DatasetsScreen
from textual.widgets import Input
from ui_wait import wait_for

from ftui.cli import main
from ftui.curate import DatasetSpec, build_dataset, list_datasets
from ftui.errors import FtuiError

HOSTILE = ["bad name/x", "../etc", "a/b", " ", "", "-leading-dash", "tab\there", "new\nline",
           "semi;colon", "quote'", "x" * 70, "ünïcode", "emoji😀", "back\\slash"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_dataset_names_are_refused(demo_store, name):
    with pytest.raises(FtuiError) as err:
        build_dataset(demo_store, name, DatasetSpec())
    assert err.value.hint
    assert list_datasets(demo_store) == []


@pytest.mark.parametrize("name", ["support-v1", "v2.1", "team_a:latest", "A1"])
def test_simple_dataset_names_are_kept(demo_store, name):
    version, _, _ = build_dataset(demo_store, name, DatasetSpec())
    assert version.name == name


def test_cli_build_refuses_a_name_with_a_space_and_a_slash(demo_store, capsys):
    assert main(["--db", demo_store.url, "dataset", "build", "bad name/x"]) == 2
    err = capsys.readouterr().err
    assert "'bad name/x' is not a simple name" in err and "fix:" in err, err
    assert "Traceback" not in err
    assert list_datasets(demo_store) == []


async def test_f2_save_refuses_a_name_with_a_space_and_a_slash(demo_store, settings):
    app = FtuiApp(demo_store, settings)
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, DatasetsScreen), what="F2")
        await app.workers.wait_for_complete()
        app.screen.query_one("#name", Input).value = "bad name/x"
        await pilot.press("escape", "b")
        await wait_for(pilot, lambda: any("not a simple name" in n.message
                                          for n in app._notifications), what="the refusal")
        await app.workers.wait_for_complete()
        assert list_datasets(demo_store) == []
