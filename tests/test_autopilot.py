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
from ftui.autopilot import once, plan, set_paused, status, undo_cycle
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
{{recipe}}

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


def write_policy(home, recipe: str = "learning_rate = 1e-3", gate_extra: str = "") -> None:
    text = POLICY.format(recipe=recipe, gate_extra=gate_extra)
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


def _counts(store) -> dict[str, int]:
    from sqlalchemy import func, select

    from ftui.store import (
        AutopilotCycle,
        AutopilotStep,
        Dataset,
        Experiment,
        ModelEvent,
        RegisteredModel,
        TrainingRun,
    )

    with store.engine.connect() as conn:
        return {t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (AutopilotCycle, AutopilotStep, Dataset, TrainingRun, RegisteredModel,
                          ModelEvent, Experiment)}


def dry_then_step(store, home, host):
    """`once --dry-run` first: it writes nothing, and says the step `once` then takes."""
    before = _counts(store)
    dry = once(store, home, host, dry_run=True)
    assert _counts(store) == before, dry
    got = once(store, home, host)
    assert dry.action == got.action, (dry, got)
    return got


def traffic(gw, first: int, rate: dict[str, int], per_arm: int) -> dict[str, str]:
    """Users chat through the gateway on the alias (one chat each) until both arms have
    `per_arm` users; then each user rates the answer by arm (after the log writer has stored
    the chats, so no feedback waits for it). Assignment is by a random salt: the number of
    users it takes varies, the per-arm counts do not."""
    arms, ids = {}, {}
    i = first
    client = httpx.Client(timeout=30)
    while min(list(arms.values()).count("A"), list(arms.values()).count("B")) < per_arm:
        assert i < first + 20 * per_arm, arms
        user = f"user-{i}"
        i += 1
        r = client.post(gw.url + "/api/chat", json={**CHAT, "model": "assistant"},
                        headers={"X-FTUI-User": user})
        assert r.status_code == 200, r.text
        arms[user] = r.headers["X-FTUI-Arm"]
        ids[user] = r.headers["X-FTUI-Interaction-Id"]
    gw.drain()
    for user, uid in ids.items():
        ok = client.post(gw.url + "/ftui/feedback", json={"interaction_id": uid,
                                                          "rating": rate[arms[user]]})
        assert ok.status_code == 200
    client.close()
    return arms


def test_whole_cycle_promotes_then_a_guardrail_breach_rolls_back(demo_store, home):
    store = demo_store
    write_policy(home)
    with StandIn(models={BASE: "base says hi"}, model_info=TINY_INFO) as ollama:
        host = ollama.url
        dry = plan(Context(store, home, host, parse_policy(policy_path(home).read_text())))
        assert dry.action == "started" and "new rated or corrected" in dry.why
        assert ap_state.list_cycles(store) == []  # the dry run wrote nothing

        first = dry_then_step(store, home, host)
        assert first.action == "started" and first.changed
        cycle_id = first.cycle_id
        assert dry_then_step(store, home, host).action == "dataset"
        trained = dry_then_step(store, home, host)
        assert trained.action == "train", trained
        gate = dry_then_step(store, home, host)
        assert gate.action == "gate", gate
        assert gate.detail["passed"] and gate.detail["figures"]
        deployed = dry_then_step(store, home, host)
        assert deployed.action == "deploy", deployed
        assert f"auto-{cycle_id}" in ollama.created
        started = dry_then_step(store, home, host)
        assert started.action == "experiment", started
        cycle = ap_state.get_cycle(store, cycle_id)
        exp = get_experiment(store, cycle.experiment_id)
        assert exp.status == "running" and exp.model_a == BASE and exp.split_b == 0.5
        model = registry.get_model(store, cycle.model_id)
        assert exp.model_b == model.name and model.ollama_name == f"auto-{cycle_id}"

        waiting = dry_then_step(store, home, host)  # no traffic yet
        assert waiting.action == "waiting" and "not enough data" in waiting.why

        with RunningGateway(store, host) as gw:
            traffic(gw, 0, {"A": 2, "B": 5}, per_arm=12)
            gw.drain()
        decided = dry_then_step(store, home, host)
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
        assert dry_then_step(store, home, host).action == "started"
        for expected in ("dataset", "train", "gate", "deploy", "experiment"):
            got = dry_then_step(store, home, host)
            assert got.action == expected, got
        cycle2 = ap_state.active_cycle(store)
        exp2 = get_experiment(store, cycle2.experiment_id)
        assert exp2.model_a == model.name  # the production model from cycle 1 is arm A
        ollama.fail_chat[cycle2.ollama_name] = 500
        with RunningGateway(store, host) as gw:
            traffic(gw, 1000, {"A": 4, "B": 4}, per_arm=8)
            gw.drain()
        rolled = dry_then_step(store, home, host)
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


def test_a_bad_candidate_is_stopped_by_the_gate(demo_store, home):
    """Production is a model (Ollama only) that answers the general check set right; the new
    candidate (tiny, which answers nothing right) is far worse on it: the gate refuses it,
    the cycle ends there, nothing is deployed or tested on users, production stays, and the
    candidate is archived saying why."""
    from test_gate import _reference_answer

    from ftui.registry.gate import load_checks

    store = demo_store
    write_policy(home)
    answers = {it["prompt"]: _reference_answer(it["check"]) for it in load_checks()}

    def competent(body):
        asked = body["messages"][-1]["content"]
        return answers.get(asked, "I am not sure.")

    with StandIn(models={BASE: "base says hi", "prod:1": "x"}, model_info=TINY_INFO) as ollama:
        ollama.scripted["prod:1"] = competent
        prod = registry.register(store, kind="ollama", name="prod", ollama_name="prod:1")
        registry.set_stage(store, prod.id, "production", "general")
        actions = [step(store, home, ollama.url).action for _ in range(4)]
        assert actions == ["started", "dataset", "train", "finished"], actions
        cycle = ap_state.list_cycles(store)[0]
        assert cycle.status == "finished" and cycle.outcome == "gate_failed"
        gate = [s for s in ap_state.steps_of(store, cycle.id) if s.name == "gate"][0]
        assert gate.status == "failed" and "general accuracy" in gate.detail["failed"]
        accuracy = next(f for f in gate.detail["figures"] if f["name"] == "general accuracy")
        assert accuracy["incumbent"] == 1.0 and accuracy["candidate"] < 0.5
        assert gate.detail["incumbent"]["name"] == "prod"
        assert not ollama.created and cycle.experiment_id is None
        model = registry.get_model(store, cycle.model_id)
        assert model.stage == "archived"
        assert "stopped by the regression gate" in registry.history(store, model.id)[-1].note
        assert registry.production_model(store, "general").id == prod.id
        assert step(store, home, ollama.url).action == "idle"  # no new feedback since


def test_one_autopilot_per_store_and_a_stale_lock_is_taken_over(store, home):
    from datetime import timedelta

    from ftui.autopilot.runner import holding_lock

    write_policy(home)
    with holding_lock(store, "host:1:aaa"):
        with pytest.raises(FtuiError, match="another autopilot runs") as err:
            once(store, home, "http://127.0.0.1:9")
        assert "host:1:aaa" in str(err.value) and "fix:" in str(err.value)
        assert ap_state.lock_state(store)["holder"] == "host:1:aaa"
        # the dry run takes no lock: it works beside a running autopilot
        assert once(store, home, "http://127.0.0.1:9", dry_run=True).action == "idle"
    assert ap_state.lock_state(store)["holder"] is None  # released
    assert ap_state.acquire(store, "host:2:bbb")
    assert not ap_state.acquire(store, "host:3:ccc")
    with store.engine.begin() as conn:  # host 2 died: its heartbeat is older than the limit
        conn.execute(ap_state.L.update().values(
            heartbeat_at=utcnow() - timedelta(seconds=ap_state.STALE_AFTER_S + 5)))
    assert ap_state.lock_state(store)["stale_holder"] == "host:2:bbb"
    assert ap_state.acquire(store, "host:3:ccc")  # taken over
    assert not ap_state.beat(store, "host:2:bbb")  # the old holder learns it lost the lock
    assert ap_state.lock_state(store)["holder"] == "host:3:ccc"


def test_the_lock_goes_by_the_databases_clock_not_the_machines(store, monkeypatch):
    """An autopilot on a machine whose clock runs two hours late still holds the lock: its
    heartbeat is stamped by the database, so a second machine does not take it as stale."""
    from datetime import timedelta

    late = utcnow() - timedelta(hours=2)
    monkeypatch.setattr(ap_state, "utcnow", lambda: late)
    assert ap_state.acquire(store, "late:1:aaa")
    assert ap_state.beat(store, "late:1:aaa")
    monkeypatch.undo()
    assert ap_state.lock_state(store)["holder"] == "late:1:aaa"
    assert not ap_state.acquire(store, "right:2:bbb")


def test_pause_stops_new_steps_at_once_and_inside_training(demo_store, home):
    """The kill switch: a paused autopilot starts nothing although the trigger fires; thrown
    during training it cancels the run (resumable), and resume goes on from there."""
    import threading
    import time

    from ftui.autopilot import run
    from ftui.train import runs

    store, host = demo_store, "http://127.0.0.1:9"
    write_policy(home)
    policy_path(home).write_text(policy_path(home).read_text().replace(
        "max_steps = 2", "max_steps = 20").replace("save_steps = 2", "save_steps = 3").replace(
        "eval_steps = 2", "eval_steps = 30"))
    set_paused(store, True, "test")
    assert once(store, home, host, dry_run=True).action == "paused"
    got = once(store, home, host)
    assert got.action == "paused" and not got.changed and ap_state.list_cycles(store) == []
    set_paused(store, False)
    assert [once(store, home, host).action for _ in range(2)] == ["started", "dataset"]

    stop = threading.Event()
    steps = []
    loop = threading.Thread(target=lambda: steps.extend(run(
        store, home, host, stop=stop, poll_s=0.2, max_steps=2)))
    loop.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        cycle = ap_state.active_cycle(store)
        if cycle.run_id and runs.get_run(store, cycle.run_id).step >= 2:
            break
        time.sleep(0.05)
    set_paused(store, True)
    loop.join(60)
    stop.set()
    assert not loop.is_alive()
    assert [s.action for s in steps] == ["paused", "paused"], steps
    run_row = runs.get_run(store, cycle.run_id)
    assert run_row.status == "cancelled" and 0 < run_row.step < 20
    assert ap_state.active_cycle(store).stage == "train"  # the step is taken again later
    set_paused(store, False)
    resumed = once(store, home, host)
    assert resumed.action == "train", resumed
    assert runs.get_run(store, cycle.run_id).status == "completed"


HOSTILE_POLICIES = [  # (policy text, what the message must name)
    ("[trigger", "cannot read the autopilot policy"),
    ("triggr = 3", "unknown key triggr"),
    ("trigger = 3", "[trigger] is not a table"),
    ("[trigger]\nmin_new_feedback = 'ten'", "trigger.min_new_feedback = 'ten' is not a whole"),
    ("[trigger]\nmin_new_feedback = true", "trigger.min_new_feedback = True"),
    ("[trigger]\nevery_hours = nan", "trigger.every_hours = nan"),
    ("[trigger]\nmin_new_feedback = -1", "must be 0 (off) or more"),
    ("[trigger]\nmin_new_feedback = 0\nevery_hours = 0", "the trigger never fires"),
    ("[trigger]\ncombine = 'either'", "trigger.combine"),
    ("[data]\nkind = 'unpaired'", "data.kind"),
    ("[data]\ndataset = '../etc'", "data.dataset '../etc' is not a simple name"),
    ("[data.rules]\nmin_rating = 9", "min rating 9 is not 1-5"),
    ("[data.rules]\nmin_ratin = 3", "unknown dataset rule min_ratin"),
    ("[data.rules]\nmodes = 'standard'", "[data.rules]"),
    ("[training]\nexecutor = 'cloud'", "training.executor"),
    ("[training]\nbase = '  '", "training.base is empty"),
    ("[training.config]\nlr = 0.1", "unknown run config keys: lr"),
    ("[training.config]\nmethod = 'dpo'", "training method dpo does not train on data.kind sft"),
    ("[training.config]\nlearning_rate = 5", "learning_rate 5.0 is not in (0, 1)"),
    ("[gate]\ngeneral_items = 0", "general_items"),
    ("[gate]\nmax_loss_increase = 'high'", "max_loss_increase"),
    ("gate = 'strict'", "gate = 'strict' is not a table"),
    ("[deploy]\nname = 'fixed-name'", "must contain {cycle} or {model}"),
    ("[deploy]\nname = 'x-{foo}'", "deploy.name uses {foo}"),
    ("[deploy]\nname = 'bad name {cycle}'", "not an Ollama model name"),
    ("[deploy]\nname = 'x-{'", "deploy.name 'x-{'"),
    ("[deploy]\nname = '{cycle.__class__}'", "deploy.name uses {cycle.__class__}"),
    ("[experiment]\nb_share = 0", "experiment.b_share = 0.0 must be between 0 and 1"),
    ("[experiment]\nb_share = 1.5", "experiment.b_share = 1.5"),
    ("[experiment]\nalias = 'a b'", "experiment.alias 'a b' is not a simple name"),
    ("[experiment]\nalias = \"a\\u0000b\"", "experiment.alias"),
    ("[experiment]\nmin_samples = 0", "experiment.min_samples must be at least 1"),
    ("[experiment.guardrails]\nmax_fallback_rate = 2", "max_fallback_rate must be in [0, 1]"),
    ("[experiment.guardrails]\nmax_p99 = 2", "unknown key max_p99 in [experiment.guardrails]"),
    ("[decision]\nmax_hours = -1", "decision.max_hours"),
    ("[decision]\nrollback_when_worse = 'yes'", "decision.rollback_when_worse = 'yes' is not "
                                                "true or false"),
    ("slot = 'Not A Slot'", "slot 'Not A Slot' is not a simple name"),
]


@pytest.mark.parametrize("text,named", HOSTILE_POLICIES)
def test_hostile_policies_are_refused_by_name_with_a_fix(text, named):
    with pytest.raises(FtuiError) as err:
        parse_policy(text)
    assert named in err.value.message, err.value.message
    assert err.value.hint  # the fix line


def test_the_shipped_example_is_a_valid_policy_and_init_writes_it(home):
    from ftui.autopilot import init_policy, load_policy

    with pytest.raises(FtuiError, match="no autopilot policy") as err:
        load_policy(home)
    assert "ftui autopilot init" in err.value.hint
    path = init_policy(home)
    policy = load_policy(home)
    assert policy.experiment.b_share == 0.1 and policy.source == str(path)
    with pytest.raises(FtuiError, match="exists already"):
        init_policy(home)
    path.write_text("# mine\n" + path.read_text())
    init_policy(home, force=True)
    assert not path.read_text().startswith("# mine")


def test_cli_errors_end_in_a_fix_line_and_status_json(store, home, monkeypatch, capsys):
    import json

    from ftui.cli import main

    monkeypatch.setenv("FTUI_HOME", str(home))
    db = ["--db", store.url]
    assert main([*db, "autopilot", "once", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "no autopilot policy" in err and "fix: write one with: ftui autopilot init" in err
    policy_path(home).write_text("[experiment]\nb_share = 3\n")
    assert main([*db, "autopilot", "once"]) == 2
    err = capsys.readouterr().err
    assert "experiment.b_share = 3.0" in err and "fix:" in err and "Traceback" not in err
    assert main([*db, "autopilot", "status", "--json"]) == 0  # status still answers
    data = json.loads(capsys.readouterr().out)
    assert "b_share" in data["policy_error"] and data["cycles"] == [] and data["next"] is None
    write_policy(home)
    assert main([*db, "autopilot", "pause", "--note", "incident 12"]) == 0
    capsys.readouterr()
    assert main([*db, "autopilot", "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["lock"]["paused"] and data["lock"]["pause_note"] == "incident 12"
    assert data["next"]["action"] == "paused"
    assert main([*db, "autopilot", "undo", "7"]) == 2
    assert "no autopilot cycle '7'" in capsys.readouterr().err


def _at_decision(store, home, **policy_changes):
    """A cycle waiting at its decision: a registered candidate (in Ollama) against a base, in a
    running experiment; no training needed to test the decision rules."""
    from ftui import ab

    text = POLICY.format(recipe="learning_rate = 1e-3", gate_extra="")
    for old, new in policy_changes.items():
        text = text.replace(old, new)
    policy_path(home).write_text(text)
    n = len(ap_state.list_cycles(store)) + 1
    model = registry.register(store, kind="ollama", name=f"auto-cand{n}",
                              ollama_name=f"auto-cand:{n}", base_model=BASE)
    exp = ab.create_experiment(store, name=f"autopilot-x{n}", alias="assistant", model_a=BASE,
                               model_b=model.name, split_b=0.5, min_samples=8)
    ab.set_status(store, exp.id, "running")
    cycle = ap_state.start_cycle(store, "{}", "test")
    ap_state.update_cycle(store, cycle.id, stage="decision", model_id=model.id,
                          experiment_id=exp.id)
    return cycle, exp, model


def _units(exp, arm: str, n: int) -> list[str]:
    from ftui.ab.experiments import arm_for

    return [u for u in (f"u{i}" for i in range(10 * n)) if arm_for(exp.salt, u, 0.5) == arm][:n]


def _serve(store, exp, arm: str, n: int, **kw) -> None:
    from ftui import ab

    for unit in _units(exp, arm, n):
        ab.log_outcome(store, exp.id, unit, None, **kw)


def test_decision_rolls_back_when_b_is_worse_and_the_latency_guardrail_fires(demo_store, home):
    store, host = demo_store, "http://127.0.0.1:9"
    cycle, exp, model = _at_decision(store, home, **{
        "max_latency_p95_ratio = 0": "max_latency_p95_ratio = 1.5"})
    _serve(store, exp, "A", 10, rating=3, latency=100.0)
    _serve(store, exp, "B", 10, rating=3, latency=400.0)  # 4x slower
    dry = once(store, home, host, dry_run=True)
    assert dry.action == "rolled_back" and "latency p95 of B 400 ms" in dry.why
    assert get_experiment(store, exp.id).status == "running"  # the dry run changed nothing
    got = once(store, home, host)
    assert got.action == "rolled_back" and got.changed
    assert get_experiment(store, exp.id).status == "stopped"
    assert registry.get_model(store, model.id).stage == "archived"

    cycle, exp, model = _at_decision(store, home)
    _serve(store, exp, "A", 30, rating=5)
    _serve(store, exp, "B", 30, rating=1)
    got = once(store, home, host)
    assert got.action == "rolled_back" and got.why.startswith("B is worse: A better")
    assert ap_state.get_cycle(store, cycle.id).outcome == "rolled_back"


def test_decision_waits_without_a_verdict_then_gives_up_after_max_hours(demo_store, home):
    from datetime import timedelta

    store, host = demo_store, "http://127.0.0.1:9"
    cycle, exp, model = _at_decision(store, home, **{
        "[experiment]\n": "[decision]\nmax_hours = 1\n\n[experiment]\n"})
    _serve(store, exp, "A", 10, rating=4)
    _serve(store, exp, "B", 10, rating=4)
    got = once(store, home, host)
    assert got.action == "waiting" and "no clear difference" in got.why
    decision = ap_state.steps_of(store, cycle.id)[-1]
    assert decision.name == "decision" and decision.status == "waiting"
    with store.engine.begin() as conn:  # the experiment began two hours ago
        from ftui.store import Experiment

        conn.execute(Experiment.__table__.update().values(
            started_at=utcnow() - timedelta(hours=2)))
    got = once(store, home, host)
    assert got.action == "rolled_back" and "no verdict after 1 h" in got.why
    cycle = ap_state.get_cycle(store, cycle.id)
    assert cycle.outcome == "no_verdict" and registry.production_model(store, "general") is None
    assert [s.name for s in ap_state.steps_of(store, cycle.id)].count("decision") == 1


def test_the_loop_waits_on_an_invalid_policy_saying_why(store, home):
    from ftui.autopilot import run

    policy_path(home).write_text("[experiment]\nb_share = 9\n")
    steps = run(store, home, "http://127.0.0.1:9", poll_s=0.01, max_steps=2)
    assert [s.action for s in steps] == ["waiting", "waiting"]
    assert "experiment.b_share = 9.0" in steps[0].why and "fix:" in steps[0].why
    assert ap_state.lock_state(store)["holder"] is None  # released at the end


def test_the_judge_score_guardrail_rolls_back(demo_store, home):
    """B's unrated answers, scored by the judge, are far below A's: a guardrail breach."""
    from ftui.store.models import Interaction, Judgement

    store, host = demo_store, "http://127.0.0.1:9"
    cycle, exp, model = _at_decision(store, home, **{
        "max_judge_drop = 0": "max_judge_drop = 1.0"})
    _serve(store, exp, "A", 10, rating=4)
    _serve(store, exp, "B", 10, rating=4)
    with store.session() as s:
        for arm, score in (("A", 5), ("B", 2)):
            for i in range(10):
                row = Interaction(messages_json="[]", content_hash=f"judged-{arm}-{i}",
                                  experiment_id=exp.id, arm=arm)
                s.add(row)
                s.flush()
                s.add(Judgement(interaction_id=row.id, cache_key=f"k-{arm}-{i}", judge="j:1",
                                judge_digest="d", rubric="standard", rubric_version=1,
                                options_json="{}", content_hash=row.content_hash, score=score))
        s.commit()
    got = once(store, home, host)
    assert got.action == "rolled_back", got
    assert "judge score of B 2.00 is more than 1 below A's 5.00" in got.why


def test_a_failed_cycle_is_recorded_and_can_be_retried_at_its_step(demo_store, home):
    from ftui import ab
    from ftui.autopilot import retry_cycle

    store, host = demo_store, "http://127.0.0.1:9"
    cycle, exp, model = _at_decision(store, home)
    ab.set_status(store, exp.id, "stopped")  # by hand, outside the autopilot
    got = once(store, home, host)
    assert got.action == "failed" and "stopped outside the autopilot" in got.why
    failed = ap_state.get_cycle(store, cycle.id)
    assert failed.status == "failed" and failed.stage == "decision" and failed.finished_at
    assert ap_state.steps_of(store, cycle.id)[-1].status == "failed"
    assert once(store, home, host).action == "idle"  # a failed cycle is not taken up alone
    with pytest.raises(FtuiError, match="is failed|not failed"):
        retry_cycle(store, ap_state.start_cycle(store, "{}", "other").id)
    with store.engine.begin() as conn:  # (that other cycle ends)
        conn.execute(ap_state.AutopilotCycle.__table__.delete().where(
            ap_state.AutopilotCycle.__table__.c.reason == "other"))
    ab.set_status(store, exp.id, "running")
    again = retry_cycle(store, cycle.id)
    assert again.status == "running" and again.error is None and again.stage == "decision"
    assert once(store, home, host).action == "waiting"


def test_saved_rules_and_a_preference_recipe(demo_store, home):
    """data.rules_from takes the rules of a saved dataset's latest version; a preference
    policy (dpo on preference pairs) is valid, a mismatched one is not."""
    from ftui.curate import DatasetSpec, build_dataset, get_dataset

    store, host = demo_store, "http://127.0.0.1:9"
    build_dataset(store, "curated", DatasetSpec(min_rating=5, near_dup=None))
    text = POLICY.format(recipe="learning_rate = 1e-3", gate_extra="").replace(
        'kind = "sft"\n', 'kind = "sft"\nrules_from = "curated"\n')
    policy_path(home).write_text(text)
    assert [once(store, home, host).action for _ in range(2)] == ["started", "dataset"]
    cycle = ap_state.active_cycle(store)
    built = get_dataset(store, cycle.dataset_id)
    assert built.name == "auto" and built.spec["min_rating"] == 5 and built.spec["near_dup"] is None
    assert "rules of dataset" in ap_state.steps_of(store, cycle.id)[-1].summary
    preference = parse_policy('[data]\nkind = "preference"\n[training.config]\nmethod = "dpo"\n')
    assert preference.data.kind == "preference"
    with pytest.raises(FtuiError, match="method sft does not train on data.kind preference"):
        parse_policy('[data]\nkind = "preference"\n')
