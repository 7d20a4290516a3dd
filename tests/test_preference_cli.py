"""Issue 12 in the CLI: `ftui demo` loads the preference signals, `dataset show` shows the
rejected side, `models compare` shows preference accuracy and margin when both models have them."""

from __future__ import annotations

import json

import pytest

from ftui.cli import main
from ftui.errors import FtuiError
from ftui.registry.evaluate import compare
from ftui.store import RegisteredModel, open_store


@pytest.fixture
def demo_db(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FTUI_HOME", str(tmp_path / "home"))
    db = str(tmp_path / "d.db")
    assert main(["--db", db, "demo", "--json"]) == 0
    capsys.readouterr()
    return db


def test_demo_loads_pairs_and_show_gives_the_rejected_side(demo_db, capsys):
    assert main(["--db", demo_db, "dataset", "build", "pairs", "--kind", "preference",
                 "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert main(["--db", demo_db, "dataset", "show", str(built["id"]), "--examples", "3",
                 "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["sample"]) == 3
    for row in shown["sample"]:
        assert row["chosen"]["role"] == row["rejected"]["role"] == "assistant"
        assert row["chosen"]["content"] != row["rejected"]["content"]
        assert row["prompt"][-1]["role"] == "user"
    assert main(["--db", demo_db, "dataset", "show", str(built["id"]), "--examples", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("chosen:") == 2 and out.count("rejected:") == 2
    assert "by source: " in out and "arena" in out and "correction" in out
    first = " ".join(shown["sample"][0]["rejected"]["content"].split())[:30]
    assert first in out


def test_unpaired_show_gives_the_label(demo_db, capsys):
    assert main(["--db", demo_db, "dataset", "build", "labels", "--kind", "unpaired",
                 "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert main(["--db", demo_db, "dataset", "show", str(built["id"]), "--examples", "4"]) == 0
    out = capsys.readouterr().out
    assert "balance: " in out and ("desirable:" in out or "undesirable:" in out)


def _model(store, name: str, **evals) -> int:
    with store.session() as s:
        row = RegisteredModel(name=name, kind="adapter", base_model="tiny",
                              metrics_json=json.dumps(evals))
        s.add(row)
        s.commit()
        return row.id


def _pref(acc: float, ci: list[float], margin: float, **over) -> dict:
    return {"dataset_id": 1, "split": "validation", "pairs": 138, "max_len": 512,
            "preference_accuracy": acc, "ci95": ci, "mean_margin": margin, **over}


def test_compare_shows_preference_accuracy_and_margin(demo_db, capsys):
    store = open_store(f"sqlite:///{demo_db}")
    base = _model(store, "sft", eval_preference=_pref(0.42, [0.34, 0.50], -0.21))
    dpo = _model(store, "dpo", eval_preference=_pref(0.91, [0.85, 0.95], 0.64))
    result = compare(store, base, dpo)
    rows = {r["metric"]: r for r in result["preference"]["rows"]}
    assert rows["preference_accuracy"]["better"] == "B" and rows["mean_margin"]["better"] == "B"
    assert result["preference"]["comparable"] and result["rows"] == []
    assert main(["--db", demo_db, "models", "compare", str(base), str(dpo)]) == 0
    out = capsys.readouterr().out
    assert "preference accuracy" in out and "0.910 [0.85-0.95]" in out and "0.420" in out
    assert "mean margin" in out

    # intervals that overlap name no better accuracy; other pairs compare nothing
    close = _model(store, "close", eval_preference=_pref(0.47, [0.39, 0.55], -0.1))
    rows = {r["metric"]: r for r in compare(store, base, close)["preference"]["rows"]}
    assert rows["preference_accuracy"]["better"] is None and rows["mean_margin"]["better"] == "B"
    other = _model(store, "other", eval_preference=_pref(0.9, [0.8, 0.95], 0.5, split="test"))
    pref = compare(store, base, other)["preference"]
    assert not pref["comparable"] and pref["differences"] == ["split validation vs test"]
    assert all(r["better"] is None for r in pref["rows"])
    # neither evaluation at all: the old message
    none = _model(store, "none")
    with pytest.raises(FtuiError, match="not evaluated yet"):
        compare(store, base, none)
