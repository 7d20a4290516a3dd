"""The regression gate (issue 14): the check set, the checks, the thresholds, and the gate on a
real `tiny` adapter against its base, a deliberately broken adapter and an Ollama-only
incumbent (the stand-in Ollama on 127.0.0.1), with promotion refused unless forced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ollama_standin import StandIn

from ftui import REASONING_MODES, registry
from ftui.cli import main
from ftui.curate import DatasetSpec, build_dataset
from ftui.errors import FtuiError
from ftui.registry.gate import (
    DEFAULTS,
    GateRefused,
    check_answer,
    gate_config,
    load_checks,
    run_gate,
)
from ftui.store import RegisteredModel

FAST = {"gate": {"general_items": 6, "validation_limit": 3, "max_new_tokens": 6,
                 "general_max_new_tokens": 6}}


# ---------------------------------------------------------------- the check set and checks


def _reference_answer(check: dict) -> str:
    """A correct answer for each check type, as a model might write it."""
    kind = check["type"]
    if kind == "number":
        return f"Step 1: work it out.\nFinal answer: {check['answer']}"
    if kind in ("contains_any", "contains_all"):
        return "It is " + " and ".join(check["answers"]) + "."
    if kind == "exact":
        return check["answer"]
    if kind == "json":
        return "```json\n" + json.dumps(check["expect"]) + "\n```"
    if kind == "lines":
        return "\n".join(["red", "blue", "green", "pink", "teal"][:check["count"]])
    if kind == "refusal":
        return "I can't help with that."
    return f"Sure: use {check['answers'][0]}."  # no_refusal


def test_the_check_set_is_balanced_and_every_item_is_checkable():
    items = load_checks()
    assert len(items) >= 250 and len({it["id"] for it in items}) == len(items)
    first = items[:100]
    cats = {it["category"] for it in first}
    assert {"arithmetic", "facts", "code", "format", "refusal", "no_overrefusal"} <= cats
    assert {it["mode"] for it in items} == set(REASONING_MODES)
    for it in items:
        assert check_answer(it["check"], _reference_answer(it["check"])), it["id"]
        assert not check_answer(it["check"], "Here you go: no idea, but sure, happy to.") \
            or it["check"]["type"] == "lines", it["id"]


@pytest.mark.parametrize("check,text,ok", [
    ({"type": "number", "answer": 67}, "25 + 42 = 67", True),
    ({"type": "number", "answer": 67}, "Final answer: 67. (I first thought 66)", True),
    ({"type": "number", "answer": 67}, "I think 66", False),
    ({"type": "number", "answer": 1200}, "It costs 1,200 dollars", True),
    ({"type": "number", "answer": 5}, "", False),
    ({"type": "contains_any", "answers": ["Au"]}, "The symbol is Au.", True),
    ({"type": "contains_any", "answers": ["Au"]}, "Gold is Aurum", False),  # word, not letters
    ({"type": "contains_all", "answers": ["6"]}, "26", False),
    ({"type": "exact", "answer": "BANANA"}, "banana", False),
    ({"type": "exact", "answer": "yes"}, "Yes.", True),
    ({"type": "json", "expect": {"name": "Ana", "age": 50}}, '{"name": "Ana", "age": 50}', True),
    ({"type": "json", "expect": {"name": "Ana", "age": 50}}, '{"name": "Ana", "age": 5', False),
    ({"type": "json", "expect": {"a": 1}}, "}{", False),
    ({"type": "lines", "count": 3}, "1. red\n2. blue\n3. green", True),
    ({"type": "lines", "count": 3}, "Here are colours: red, blue, green\nred\nblue", False),
    ({"type": "refusal"}, "Sure! Step 1: buy pipes", False),
    ({"type": "refusal"}, "I won't help with that.", True),
    ({"type": "no_refusal", "answers": ["kill"]}, "Run kill -9 PID.", True),
    ({"type": "no_refusal", "answers": ["kill"]}, "Sorry, I can't help kill anything.", False),
    ({"type": "number", "answer": 3}, "\x00" * 10_000 + "3", True),
])
def test_check_answer(check, text, ok):
    assert check_answer(check, text) is ok


def test_thresholds_from_config_and_hostile_values():
    cfg = gate_config({})
    assert cfg == {k: v for k, (v, _) in DEFAULTS.items()}
    cfg = gate_config({"gate": {"max_loss_increase": 0.2, "general_items": 7, "unknown": "x"}},
                      general_items=9)
    assert cfg["max_loss_increase"] == 0.2 and cfg["general_items"] == 9
    for bad in ({"max_loss_increase": "high"}, {"max_loss_increase": -0.1},
                {"max_rouge_drop": float("nan")}, {"general_items": 0},
                {"general_items": 2.5}, {"max_forgetting": True}):
        with pytest.raises(FtuiError, match=list(bad)[0]):
            gate_config({"gate": bad})
    with pytest.raises(FtuiError, match="not a table"):
        gate_config({"gate": 3})


# ---------------------------------------------------------------- the gate on tiny


@pytest.fixture
def candidate(demo_store, home):
    """A LoRA adapter on tiny with a dataset (a validation split), as training registers one;
    its B matrices are zero (peft's start), so it answers exactly as its base does."""
    from peft import LoraConfig, get_peft_model

    from ftui.train.base import load_base

    version, _, _ = build_dataset(demo_store, "gate", DatasetSpec(min_rating=4))
    tok, net = load_base("tiny", home)
    peft = get_peft_model(net, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    peft.save_pretrained(home / "cand")
    tok.save_pretrained(home / "cand")
    return registry.add_model(demo_store, RegisteredModel(
        name="cand", kind="adapter", base_model="tiny", path=str(home / "cand"),
        dataset_id=version.id), "test candidate")


def _broken_copy(store, model, home: Path) -> RegisteredModel:
    """tiny with its (tied) embeddings scaled 40 times: confident and wrong about every next
    token, a model that has forgotten how to write text."""
    import torch

    from ftui.train.base import load_base

    tok, net = load_base("tiny", home)
    with torch.no_grad():
        net.get_input_embeddings().weight.mul_(40)
    net.save_pretrained(home / "broken")
    tok.save_pretrained(home / "broken")
    return registry.add_model(store, RegisteredModel(
        name="broken", kind="hf", base_model="tiny", path=str(home / "broken"),
        dataset_id=model.dataset_id), "test: broken on purpose")


def test_gate_against_the_base_then_a_broken_candidate_is_refused(demo_store, home, candidate,
                                                                   capsys):
    result = run_gate(demo_store, candidate.id, home=home, host="http://127.0.0.1:9",
                      settings_extra=FAST)
    names = [f["name"] for f in result["figures"]]
    assert names[:2] == ["validation loss", "validation ROUGE-L"]
    assert {"general accuracy", "harmful requests refused", "general text perplexity"} <= set(
        names)
    assert result["incumbent"]["name"] == "tiny" and "base" in result["incumbent"]["why"]
    for f in result["figures"]:  # the candidate answers as its base: equal figures, passed
        assert f["candidate"] == pytest.approx(f["incumbent"]) and f["passed"], f
    assert result["passed"] and result["figures"][0]["candidate"] > 0
    assert any("judge: skipped" in n for n in result["notes"])
    assert registry.get_model(demo_store, candidate.id).metrics["gate"]["at"] == result["at"]
    assert sum(len(v) for v in [result["general_by_category"]]) >= 4

    broken = _broken_copy(demo_store, candidate, home)
    db = ["--db", demo_store.url]
    assert main([*db, "models", "gate", str(broken.id), "--json"]) == 2
    bad = json.loads(capsys.readouterr().out)
    assert not bad["passed"] and {"validation loss", "general text perplexity"} <= set(
        bad["failed"])
    ppl = next(f for f in bad["figures"] if f["name"] == "general text perplexity")
    assert ppl["candidate"] > 2 * ppl["incumbent"]
    assert main([*db, "models", "promote", str(broken.id)]) == 2
    err = capsys.readouterr()
    assert "FAIL  general text perplexity" in err.out and "--force REASON" in err.err
    assert registry.get_model(demo_store, broken.id).stage == "candidate"
    assert main([*db, "models", "promote", str(broken.id), "--force", "  "]) == 2
    assert "--force needs a reason" in capsys.readouterr().err
    assert main([*db, "models", "promote", str(broken.id), "--force",
                 "hotfix for the demo, owner: sam", "--json"]) == 0
    capsys.readouterr()
    assert registry.get_model(demo_store, broken.id).stage == "production"
    last = registry.history(demo_store, broken.id)[-1]
    assert "FORCED: hotfix for the demo, owner: sam" in last.note
    assert "gate FAILED" in last.note


@pytest.fixture(autouse=True)
def _fast_gate(home, monkeypatch):
    """CLI runs read $FTUI_HOME/config.toml: a small gate for the tests. One torch thread:
    tiny's matrices are too small to share, and on a busy 2-core machine threads fighting
    over the cores made each gate 20-40 times slower (1 s against 20-39 s)."""
    import torch

    (home / "config.toml").write_text(
        "[gate]\ngeneral_items = 6\nvalidation_limit = 3\nmax_new_tokens = 6\n"
        "general_max_new_tokens = 6\n")
    monkeypatch.setenv("FTUI_HOME", str(home))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_ollama_only_incumbent_and_the_judge(demo_store, home, candidate):
    """The incumbent lives only in Ollama: loss and perplexity are not compared for it, the
    gate says so and compares the rest; a judge that always prefers the incumbent fails the
    candidate; an experiment's promotion runs the gate too."""
    prod_reply = "I can't help with that. Final answer: 42"

    def judge(body):  # prefers whichever answer is the incumbent's
        text = body["messages"][-1]["content"]
        first = text.split("<answer_1>")[1].split("</answer_1>")[0]
        return json.dumps({"winner": "1" if prod_reply in first else "2", "rationale": "r"})

    with StandIn(models={"prod:1": prod_reply, "judge:1": "x"}) as server:
        server.scripted["judge:1"] = judge
        prod = registry.register(demo_store, kind="ollama", name="prod", ollama_name="prod:1")
        registry.set_stage(demo_store, prod.id, "production", "general")
        extra = {**FAST, "judge": "judge:1"}
        result = run_gate(demo_store, candidate.id, home=home, host=server.url,
                          settings_extra=extra)
        assert result["incumbent"]["name"] == "prod" and result["incumbent"]["backend"] == \
            "ollama"
        assert any("only in Ollama" in n and "cannot be computed" in n for n in result["notes"])
        by_name = {f["name"]: f for f in result["figures"]}
        assert by_name["validation loss"]["incumbent"] is None
        assert by_name["validation loss"]["passed"] is None  # not compared, not failed
        assert by_name["general text perplexity"]["passed"] is None
        assert by_name["general accuracy"]["incumbent"] is not None
        # the incumbent refuses everything, tiny refuses nothing: the refusal figure fails
        assert by_name["harmful requests refused"]["incumbent"] == 1.0
        assert by_name["harmful requests refused"]["passed"] is False
        assert by_name["judge win rate"]["candidate"] == 0.0
        assert by_name["judge win rate"]["passed"] is False
        assert not result["passed"]

        from ftui import ab
        from ftui.ab.report import promote_winner

        exp = ab.create_experiment(demo_store, name="g", alias="assistant", model_a="prod",
                                   model_b=candidate.name, salt="s", min_samples=2)
        with pytest.raises(GateRefused):
            promote_winner(demo_store, exp.id, "B", home=home, host=server.url)
        assert registry.production_model(demo_store, "general").id == prod.id
        assert ab.get_experiment(demo_store, exp.id).status != "stopped"
        out = promote_winner(demo_store, exp.id, "B", home=home, host=server.url,
                             force="the judge is miscalibrated", gate=result)
        assert out["gate"]["at"] == result["at"]  # the result given, not a second run
        assert registry.production_model(demo_store, "general").id == candidate.id
        assert "FORCED: the judge is miscalibrated" in registry.history(
            demo_store, candidate.id)[-1].note


def test_a_gate_that_cannot_run_refuses_unless_forced(demo_store, home):
    model = registry.register(demo_store, kind="ollama", name="lonely", ollama_name="gone:1",
                              base_model="gone-base:1")
    with pytest.raises(FtuiError, match="could not run") as err:
        registry.promote(demo_store, model.id, home=home, host="http://127.0.0.1:9",
                         settings_extra=FAST)
    assert not isinstance(err.value, GateRefused)
    promoted, gate = registry.promote(demo_store, model.id, home=home,
                                      host="http://127.0.0.1:9", settings_extra=FAST,
                                      force="Ollama is down for maintenance")
    assert promoted.stage == "production" and gate is None
    note = registry.history(demo_store, model.id)[-1].note
    assert "gate could not run" in note and "FORCED: Ollama is down" in note


def test_nothing_to_compare_against_passes_saying_so(demo_store, home):
    """A first model in a slot with no base on record: no figure can be worse than anything;
    the gate passes, says why, and runs nothing (this Ollama host does not exist)."""
    model = registry.register(demo_store, kind="ollama", name="first", ollama_name="first:1")
    promoted, gate = registry.promote(demo_store, model.id, home=home,
                                      host="http://127.0.0.1:9", settings_extra=FAST)
    assert gate["passed"] and gate["figures"] == [] and promoted.stage == "production"
    assert "nothing to compare against" in gate["notes"][0]
    assert "gate passed against nothing" in registry.history(demo_store, model.id)[-1].note
