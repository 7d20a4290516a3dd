"""Mode choice, system prompts, model selection per slot, and fallback to the base."""

from __future__ import annotations

import pytest
from ollama_standin import StandIn

from ftui import registry
from ftui.errors import FtuiError
from ftui.inference.router import generate, pick_mode, select_model, with_mode
from ftui.prompts import system_prompts


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("text,tools,mode", [
    ("What is the capital of France?", None, "standard"),
    ("Why does my loop never end?", None, "chain_of_thought"),
    ("What is 17 * 23?", None, "chain_of_thought"),
    ("Compare Postgres and SQLite for a small app", None, "multi_step"),
    ("How do I install it? And how do I configure it?", None, "multi_step"),
    ("Find the weather in Oslo", [{"name": "weather"}], "agent"),
])
def test_auto_rule(text, tools, mode):
    assert pick_mode(user(text), tools) == mode


def test_mode_prompt_goes_first_and_keeps_the_apps_own():
    prompts = system_prompts()
    plain = with_mode(user("hi"), "chain_of_thought", prompts)
    assert plain[0] == {"role": "system", "content": prompts["chain_of_thought"]}
    assert "Final answer" in prompts["chain_of_thought"] and "sub-questions" in prompts["multi_step"]
    own = with_mode([{"role": "system", "content": "Be terse."}, *user("hi")], "standard", prompts)
    assert own[0]["content"].endswith("Be terse.") and len(own) == 2


def test_selection_by_slot_then_general(store):
    general = registry.register(store, kind="ollama", name="g", ollama_name="g:1")
    cot = registry.register(store, kind="ollama", name="c", ollama_name="c:1")
    assert select_model(store, "chain_of_thought") is None
    registry.set_stage(store, general.id, "production")
    assert select_model(store, "chain_of_thought").id == general.id
    registry.set_stage(store, cot.id, "production", slot="chain_of_thought")
    assert select_model(store, "chain_of_thought").id == cot.id
    assert select_model(store, "standard", domain="programming").id == general.id


def test_generate_falls_back_to_the_base_and_says_why(store, tmp_path):
    registry.register(store, kind="ollama", name="tuned", ollama_name="tuned:latest",
                      base_model="llama3.2:3b")
    with StandIn() as server:  # knows llama3.2:3b, not tuned:latest
        routed = generate(store, "tuned", user("What is the capital of France?"), mode="auto",
                          home=tmp_path, host=server.url)
        assert routed.fell_back and "no model 'tuned:latest'" in routed.fallback_reason
        assert routed.generation.text.startswith("Paris") and routed.mode == "standard"
        sent = server.requests[-1][2]["messages"]
        assert sent[0]["role"] == "system"  # the mode's prompt went along
        with pytest.raises(FtuiError, match="no model"):
            generate(store, "tuned", user("hi"), home=tmp_path, host=server.url, fallback=False)
        direct = generate(store, "llama3.2:3b", user("hi"), home=tmp_path, host=server.url)
        assert not direct.fell_back


def test_cli_chat_answers_and_logs_a_playground_interaction(store, capsys):
    import json

    from ftui.cli import main
    from ftui.store import interactions

    with StandIn() as server:
        code = main(["--db", store.url, "chat", "llama3.2:3b", "--mode", "standard",
                     "--prompt", "Capital of France?", "--ollama-host", server.url, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["reply"].startswith("Paris") and not out["fell_back"]
    logged = interactions.get(store, out["interaction_id"])
    assert logged.source == "playground" and logged.model == "llama3.2:3b"


def test_generate_falls_back_when_the_model_times_out(store, tmp_path):
    registry.register(store, kind="ollama", name="slow", ollama_name="slow:1",
                      base_model="llama3.2:3b")
    models = {"slow:1": "late", "llama3.2:3b": "Paris is the capital of France."}
    with StandIn(models=models, slow={"slow:1": 3.0}) as server:
        routed = generate(store, "slow", user("Capital?"), home=tmp_path, host=server.url,
                          timeout_s=0.5)
    assert routed.fell_back and "did not answer in time" in routed.fallback_reason
    assert routed.generation.text.startswith("Paris")
