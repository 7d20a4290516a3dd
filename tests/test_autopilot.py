"""The autopilot (issue 14) end to end on `tiny`, against the stand-in Ollama on 127.0.0.1 and the
real gateway: the trigger fires, the dataset is built, the run trains, the gate runs, the model
is deployed and the experiment starts; traffic and feedback through the gateway lead to a
promotion; a guardrail breach rolls back; a deliberately bad candidate is stopped by the gate;
the lock, the kill switch and dry runs."""

from __future__ import annotations

import httpx
import pytest
from gateway_harness import RunningGateway
from ollama_standin import StandIn, llama_info

from ftui import registry
from ftui.ab.experiments import get_experiment
from ftui.autopilot import advance, once, plan, set_paused, status, undo_cycle
from ftui.autopilot import state as ap_state
from ftui.autopilot.machine import Context
from ftui.autopilot.policy import parse_policy, policy_path
from ftui.errors import FtuiError
from ftui.store import utcnow

BASE = "tiny-base:latest"
TINY_INFO = {BASE: llama_info(64, 2)}
CHAT = {"messages": [{"role": "user", "content": "How do I list files?"}], "stream": False}

POLICY = f"""
slot = "general"
poll_seconds = 1

[trigger]
min_new_feedback = 10

[data]
dataset = "auto"
kind = "sft"

[data.rules]
min_rating = 4
near_dup = 0.9

[training]
base = "tiny"

[training.config]
method = "sft"
max_steps = 2
batch_size = 2
max_seq_len = 128
eval_steps = 2
save_steps = 2
learning_rate = {{lr}}

[gate]
general_items = 4
validation_limit = 2
max_new_tokens = 4
general_max_new_tokens = 4
{{gate_extra}}

[deploy]
name = "auto-{{{{cycle}}}}"
ollama_base = "{BASE}"

[experiment]
alias = "assistant"
b_share = 0.5
min_samples = 8

[experiment.guardrails]
min_requests = 8
max_fallback_rate = 0.2
max_latency_p95_ratio = 0
max_judge_drop = 0
"""


def write_policy(home, lr: float = 1e-3, gate_extra: str = "") -> None:
    text = POLICY.format(lr=lr, gate_extra=gate_extra)
    parse_policy(text)  # the test's own policy must be valid
    policy_path(home).write_text(text)


@pytest.fixture(autouse=True)
def _one_thread():
    """tiny's matrices are too small to share: one torch thread (see test_gate.py)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def step(store, home, host):
    return once(store, home, host)


def traffic(gw_url: str, users: range, rate: dict[str, int]) -> dict[str, str]:
    """One chat per user through the gateway on the alias, then the user's rating by arm."""
    arms = {}
    for i in users:
        user = f"user-{i}"
        r = httpx.post(gw_url + "/api/chat", json={**CHAT, "model": "assistant"},
                       headers={"X-FTUI-User": user}, timeout=30)
        assert r.status_code == 200, r.text
        arms[user] = arm = r.headers["X-FTUI-Arm"]
        ok = httpx.post(gw_url + "/ftui/feedback", json={
            "interaction_id": r.headers["X-FTUI-Interaction-Id"], "rating": rate[arm]})
        assert ok.status_code == 200
    return arms


def test_whole_cycle_promotes_then_a_guardrail_breach_rolls_back(demo_store, home):
    store = demo_store
    write_policy(home)
    with StandIn(models={BASE: "base says hi"}, model_info=TINY_INFO) as ollama:
        host = ollama.url
        dry = plan(Context(store, home, host, parse_policy(policy_path(home).read_text())))
        assert dry.action == "started" and "new rated or corrected" in dry.why
        assert ap_state.list_cycles(store) == []  # the dry run wrote nothing

        first = step(store, home, host)
        assert first.action == "started" and first.changed
        cycle_id = first.cycle_id
        assert step(store, home, host).action == "dataset"
        trained = step(store, home, host)
        assert trained.action == "train", trained
        gate = step(store, home, host)
        assert gate.action == "gate", gate
        assert gate.detail["passed"] and gate.detail["figures"]
        deployed = step(store, home, host)
        assert deployed.action == "deploy", deployed
        assert f"auto-{cycle_id}" in ollama.created
        started = step(store, home, host)
        assert started.action == "experiment", started
        cycle = ap_state.get_cycle(store, cycle_id)
        exp = get_experiment(store, cycle.experiment_id)
        assert exp.status == "running" and exp.model_a == BASE and exp.split_b == 0.5
        model = registry.get_model(store, cycle.model_id)
        assert exp.model_b == model.name and model.ollama_name == f"auto-{cycle_id}"

        waiting = step(store, home, host)  # no traffic yet
        assert waiting.action == "waiting" and "not enough data" in waiting.why

        with RunningGateway(store, host) as gw:
            traffic(gw.url, range(60), {"A": 2, "B": 5})
            gw.drain()
        decided = step(store, home, host)
        assert decided.action == "promoted", decided
        assert "B better" in decided.why and "always valid" in decided.why
        assert registry.production_model(store, "general").id == model.id
        last = registry.history(store, model.id)[-1]
        assert last.to_stage == "production" and f"autopilot cycle {cycle_id}" in last.note
        assert "gate passed" in last.note  # the promotion went through the gate
        assert get_experiment(store, exp.id).status == "stopped"
        cycle = ap_state.get_cycle(store, cycle_id)
        assert cycle.status == "finished" and cycle.outcome == "promoted"
        names = [s.name for s in ap_state.steps_of(store, cycle_id)]
        assert names == ["trigger", "dataset", "train", "gate", "deploy", "experiment",
                         "decision"]

        # cycle 2: the feedback above is new data; its candidate falls back on every request
        assert step(store, home, host).action == "started"
        for expected in ("dataset", "train", "gate", "deploy", "experiment"):
            got = step(store, home, host)
            assert got.action == expected, got
        cycle2 = ap_state.active_cycle(store)
        exp2 = get_experiment(store, cycle2.experiment_id)
        assert exp2.model_a == model.name  # the production model from cycle 1 is arm A
        ollama.fail_chat[cycle2.ollama_name] = 500
        with RunningGateway(store, host) as gw:
            traffic(gw.url, range(100, 140), {"A": 4, "B": 4})
            gw.drain()
        rolled = step(store, home, host)
        assert rolled.action == "rolled_back", rolled
        assert "fell back" in rolled.why
        assert get_experiment(store, exp2.id).status == "stopped"
        candidate2 = registry.get_model(store, cycle2.model_id)
        assert candidate2.stage == "archived"
        assert "rolled back" in registry.history(store, candidate2.id)[-1].note
        assert registry.production_model(store, "general").id == model.id  # unchanged

    # every change can be undone from the stage history
    said = undo_cycle(store, cycle_id)
    assert "staging" in said and registry.production_model(store, "general") is None
    assert registry.history(store, model.id)[-1].note == f"undo of autopilot cycle {cycle_id}"
    out = status(store, home, "http://127.0.0.1:9")
    assert [c["outcome"] for c in out["cycles"]] == ["rolled_back", "promoted"]
