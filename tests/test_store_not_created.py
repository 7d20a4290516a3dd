"""Commands that create a missing store check their input first: `ftui import` of files that
cannot be read and `ftui models register` of a model that is not there end with a message and
a fix, and leave no empty $FTUI_HOME/ftui.db behind (walkthrough 10)."""

from __future__ import annotations

import json
import os

import pytest
from conftest import write_lines
from test_experiment_models import closed_port_url

from ftui.cli import main

GOOD = {"messages": [{"role": "user", "content": "What is 2+2?"},
                     {"role": "assistant", "content": "4."}]}


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("FTUI_HOME", str(h))
    monkeypatch.delenv("FTUI_DATABASE_URL", raising=False)
    monkeypatch.setenv("OLLAMA_HOST", closed_port_url())
    return h


def _refused(capsys, argv: list[str], words: str, home) -> None:
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert words in err and "fix:" in err and "Traceback" not in err, err
    assert "created a new store" not in err
    assert not (home / "ftui.db").exists(), argv


def test_import_of_nothing_readable_creates_no_store(home, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    _refused(capsys, ["import", str(tmp_path / "missing.jsonl")], "no such file", home)
    _refused(capsys, ["import", str(tmp_path)], "is a folder", home)
    _refused(capsys, ["import", str(fifo)], "named pipe", home)
    _refused(capsys, ["import", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")],
             "b.jsonl: no such file", home)


def test_import_of_one_good_file_among_missing_ones_still_imports(home, tmp_path, capsys):
    good = write_lines(tmp_path / "good.jsonl", [json.dumps(GOOD)])
    assert main(["import", str(tmp_path / "missing.jsonl"), str(good), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["imported"] == 1 and "no such file" in report["errors"][0]["reason"]
    assert (home / "ftui.db").exists()


@pytest.mark.parametrize("args,words", [
    (["--kind", "adapter", "--path", "{tmp}/nope"], "no file or folder"),
    (["--kind", "adapter", "--path", "{tmp}/empty"], "no adapter_config.json"),
    (["--kind", "hf", "--path", "{tmp}/empty"], "no config.json"),
    (["--kind", "gguf", "--path", "{tmp}/empty"], "is not a .gguf file"),
    (["--kind", "adapter"], "no file or folder"),
    (["--kind", "ollama"], "needs its Ollama name"),
    (["--kind", "ollama", "--ollama", "nosuch:1"], "cannot reach Ollama"),
    (["--kind", "adapter", "--path", "{tmp}/empty", "--slot", "bad slot"], "not a simple name"),
    (["--kind", "adapter", "--path", "{tmp}/empty", "--name", "  "], "needs a name"),
])
def test_models_register_of_a_bad_model_creates_no_store(home, tmp_path, capsys, args, words):
    (tmp_path / "empty").mkdir()
    argv = ["models", "register", "--name", "m", *[a.format(tmp=tmp_path) for a in args]]
    _refused(capsys, argv, words, home)


@pytest.mark.parametrize("argv,words", [
    (["proxy", "--listen", "nonsense"], "is not HOST:PORT"),
    (["proxy", "--listen", "0.0.0.0:0"], "without a token"),
    (["proxy", "--max-body", "lots"], "--max-body"),
    (["train", "--dataset", "1", "--base", "tiny"], "no store at"),
])
def test_proxy_flags_and_train_are_checked_before_a_store_is_made(home, capsys, argv, words):
    """The gateway checks its flags first; `train` needs a dataset, so a missing store is an
    error there (it was created empty, then 'no dataset 1')."""
    _refused(capsys, argv, words, home)
