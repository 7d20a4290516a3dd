"""The autopilot's state machine. `advance` takes exactly one step of the current cycle (or
starts one when the trigger fires); `plan` says what that step would be and why, changing
nothing (`ftui autopilot once --dry-run`). `ftui autopilot run` is `advance` in a loop.

A cycle's stages, in order: dataset -> train -> gate -> deploy -> experiment -> decision.
Each step is a core call the CLI and the TUI use too (build_dataset, create_run + the worker,
run_gate, deploy, create_experiment, report, registry.promote / set_stage); every promotion
goes through the regression gate and every promotion or rollback is a line in the model's
stage history (undo_cycle reverses it from there).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select

from ftui.autopilot import state
from ftui.autopilot.policy import Policy, run_config
from ftui.errors import FtuiError
from ftui.store import AutopilotCycle, Interaction, Store, utcnow

STAGES = ("dataset", "train", "gate", "deploy", "experiment", "decision")


@dataclass
class Context:
    store: Store
    home: Path
    host: str
    policy: Policy
    settings_extra: dict = field(default_factory=dict)
    pause_seen: threading.Event = field(default_factory=threading.Event)
    on_line: Callable[[str], None] = lambda _line: None


@dataclass
class Step:
    """What one advance did (or, dry, would do) and why."""
    action: str  # started / dataset / train / gate / deploy / experiment / promoted /
    #              rolled_back / finished / failed / waiting / idle / paused
    did: str
    why: str
    cycle_id: int | None = None
    changed: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "did": self.did, "why": self.why,
                "cycle": self.cycle_id, "changed": self.changed}


class Paused(Exception):
    """The kill switch was thrown inside a long step: the step is left to be taken again."""


# ---------------------------------------------------------------- the trigger


def new_feedback(store: Store, since) -> int:
    """Interactions rated or corrected (or rated and logged) after `since`."""
    c = Interaction.__table__.c
    signal = or_(c.rating.is_not(None), c.correction.is_not(None))
    cond = and_(signal, c.updated_at > since) if since is not None else signal
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Interaction.__table__)
                            .where(cond)).scalar_one()


def trigger_check(store: Store, policy: Policy) -> tuple[bool, str]:
    """(whether a cycle starts now, why in words)."""
    t = policy.trigger
    last = state.last_cycle(store)
    since = last.created_at if last is not None else None
    where = f"since cycle {last.id} began" if last is not None else "so far"
    parts: list[tuple[bool, str]] = []
    if t.min_new_feedback > 0:
        n = new_feedback(store, since)
        parts.append((n >= t.min_new_feedback, f"{n} new rated or corrected interactions "
                      f"{where} (the policy wants {t.min_new_feedback})"))
    if t.every_hours > 0:
        if since is None:
            parts.append((True, "no cycle has run yet (schedule: every "
                                f"{t.every_hours:g} h)"))
        else:
            hours = (utcnow() - since).total_seconds() / 3600
            parts.append((hours >= t.every_hours, f"{hours:.1f} h since cycle {last.id} began "
                          f"(schedule: every {t.every_hours:g} h)"))
    fires = (any if t.combine == "any" else all)(ok for ok, _ in parts)
    return fires, "; ".join(text for _, text in parts)


# ---------------------------------------------------------------- one step


def plan(ctx: Context) -> Step:
    """What `advance` would do now, and why; changes nothing."""
    return _next(ctx, dry=True)


def advance(ctx: Context) -> Step:
    """Take one step. A step that fails ends its cycle as failed (the error recorded, a
    running experiment stopped so that all traffic goes back to A) and is returned, not
    raised."""
    try:
        return _next(ctx, dry=False)
    except Paused:
        cycle = state.active_cycle(ctx.store)
        return Step("paused", "stopped inside a step: the kill switch is on",
                    "ftui autopilot resume takes the step again", cycle.id if cycle else None)
    except Exception as err:  # noqa: BLE001 - recorded on the cycle, the loop goes on
        cycle = state.active_cycle(ctx.store)
        if cycle is None:
            raise
        return _fail(ctx, cycle, err)


def _fail(ctx: Context, cycle: AutopilotCycle, err: BaseException) -> Step:
    message = err.message if isinstance(err, FtuiError) else f"{type(err).__name__}: {err}"
    if isinstance(err, FtuiError) and err.hint:
        message += f" (fix: {err.hint})"
    if not isinstance(err, FtuiError):
        from ftui.logs import log_exception

        log_exception(f"autopilot cycle {cycle.id}, stage {cycle.stage}", err)
    stopped = _stop_experiment(ctx, cycle)
    state.record_step(ctx.store, cycle.id, cycle.stage, "failed", message)
    state.update_cycle(ctx.store, cycle.id, status="failed", outcome="failed", error=message,
                       reason=f"failed at {cycle.stage}" + (f"; {stopped}" if stopped else ""))
    return Step("failed", f"cycle {cycle.id} failed at {cycle.stage}", message, cycle.id, True)


def _stop_experiment(ctx: Context, cycle: AutopilotCycle) -> str | None:
    if cycle.experiment_id is None:
        return None
    from ftui.ab.experiments import get_experiment, set_status

    try:
        exp = get_experiment(ctx.store, cycle.experiment_id)
        if exp.status == "running":
            set_status(ctx.store, exp.id, "stopped")
            return f"experiment {exp.name} stopped: all traffic is back on {exp.model_a}"
    except FtuiError:
        pass
    return None


def _next(ctx: Context, dry: bool) -> Step:
    store, policy = ctx.store, ctx.policy
    cycle = state.active_cycle(store)
    if state.is_paused(store):
        ctx.pause_seen.set()
        return Step("paused", "nothing (the kill switch is on)",
                    "ftui autopilot resume (or x in the Autopilot screen, F7) lets it go on",
                    cycle.id if cycle else None)
    ctx.pause_seen.clear()
    if cycle is None:
        fires, why = trigger_check(store, policy)
        if not fires:
            return Step("idle", "nothing: the trigger does not fire", why)
        if dry:
            return Step("started", "start a cycle and build its dataset next", why)
        cycle = state.start_cycle(store, json.dumps(policy.as_dict()), why)
        return Step("started", f"cycle {cycle.id} started", why, cycle.id, True)
    handler = {"dataset": _dataset, "train": _train, "gate": _gate, "deploy": _deploy,
               "experiment": _experiment, "decision": _decision}[cycle.stage]
    return handler(ctx, cycle, dry)


def _to(ctx: Context, cycle: AutopilotCycle, stage: str, **values: Any) -> None:
    state.update_cycle(ctx.store, cycle.id, stage=stage, **values)


def _finish(ctx: Context, cycle: AutopilotCycle, outcome: str, reason: str) -> None:
    state.update_cycle(ctx.store, cycle.id, status="finished", outcome=outcome, reason=reason)


# ---------------------------------------------------------------- dataset


def _spec(ctx: Context):
    from ftui.curate import DatasetSpec, get_dataset, list_datasets

    data = ctx.policy.data
    if data.rules_from:
        ref = data.rules_from
        found = [d for d in list_datasets(ctx.store) if d.name == ref]
        version = found[0] if found and not ref.isdigit() else get_dataset(ctx.store, ref) \
            if ref.isdigit() else None
        if version is None:
            raise FtuiError(f"data.rules_from names no dataset {ref!r}",
                            "build it once (ftui dataset build), or use [data.rules]")
        return DatasetSpec.from_dict({**version.spec, "kind": data.kind}), \
            f"the rules of dataset {version.id} ({version.name})"
    return DatasetSpec.from_dict({**data.rules, "kind": data.kind}), "the policy's rules"


def _dataset(ctx: Context, cycle: AutopilotCycle, dry: bool) -> Step:
    from ftui.curate import build_dataset
    from ftui.curate.build import count_matching

    spec, source = _spec(ctx)
    name = ctx.policy.data.dataset
    if dry:
        return Step("dataset", f"build a {spec.kind} version of dataset {name!r} with {source}",
                    f"{count_matching(ctx.store, spec)} interactions match those rules now",
                    cycle.id)
    ctx.on_line(f"building dataset {name}")
    version, result, created = build_dataset(ctx.store, name, spec.validate(), home=ctx.home)
    detail = {"dataset_id": version.id, "examples": version.examples, "created": created,
              "hash": version.content_hash, "rules": source}
    if not created:
        text = (f"the rules give the same data as version {version.id}: nothing new to "
                "train on")
        state.record_step(ctx.store, cycle.id, "dataset", "done", text, detail)
        _finish(ctx, cycle, "no_new_data", text)
        return Step("finished", f"cycle {cycle.id} ended: no new data", text, cycle.id, True)
    text = f"dataset {version.id} ({name}): {version.examples} examples from {source}"
    state.record_step(ctx.store, cycle.id, "dataset", "done", text, detail)
    _to(ctx, cycle, "train", dataset_id=version.id)
    return Step("dataset", f"built dataset {version.id}", text, cycle.id, True)


# ---------------------------------------------------------------- training


def _train(ctx: Context, cycle: AutopilotCycle, dry: bool) -> Step:
    from ftui.train import runs

    policy = ctx.policy
    config = run_config(policy)
    if dry:
        if cycle.run_id is None:
            return Step("train", f"queue and train a {config.method} run on {policy.training.base}"
                        f" with dataset {cycle.dataset_id}",
                        f"executor {policy.training.executor}", cycle.id)
        run = runs.get_run(ctx.store, cycle.run_id)
        return Step("train", f"follow run {run.id} ({run.status})",
                    f"executor {policy.training.executor}", cycle.id)
    if cycle.run_id is None:
        run = runs.create_run(ctx.store, cycle.dataset_id, policy.training.base, config)
        cycle = state.update_cycle(ctx.store, cycle.id, run_id=run.id)
        state.record_step(ctx.store, cycle.id, "train", "running",
                          f"run {run.id} queued ({config.method} on {run.base_model})",
                          {"run_id": run.id})
    runs.mark_stale(ctx.store)
    run = runs.get_run(ctx.store, cycle.run_id)
    if run.status in runs.RESUMABLE and run.status != "failed":
        run = runs.resume_run(ctx.store, run.id)  # stopped by the kill switch, or its worker died
    if run.status == "queued" and policy.training.executor == "inline":
        ctx.on_line(f"training run {run.id}")
        _train_inline(ctx, run.id)
        run = runs.get_run(ctx.store, run.id)
    if run.status == "failed":
        raise FtuiError(f"run {run.id} failed: {run.error}", f"see ftui runs logs {run.id}")
    if run.status != "completed":
        text = f"run {run.id} is {run.status} (step {run.step}/{run.total_steps})"
        state.record_step(ctx.store, cycle.id, "train", "running", text, {"run_id": run.id})
        if state.is_paused(ctx.store):
            raise Paused
        return Step("waiting", f"waiting for run {run.id}", text, cycle.id)
    from ftui.registry import register_run

    model = register_run(ctx.store, run)
    text = (f"run {run.id} completed: model {model.id} ({model.name})"
            + (f", best eval loss {run.best_eval_loss:.4f}" if run.best_eval_loss is not None
               else ""))
    state.record_step(ctx.store, cycle.id, "train", "done", text,
                      {"run_id": run.id, "model_id": model.id, "steps": run.step})
    _to(ctx, cycle, "gate", model_id=model.id)
    return Step("train", f"trained run {run.id}", text, cycle.id, True)


def _train_inline(ctx: Context, run_id: int) -> None:
    """Train in this process; the kill switch cancels the run (it resumes from its last
    checkpoint when the autopilot is resumed)."""
    from ftui.train import runs
    from ftui.train.worker import release_memory, run_worker

    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.25):
            if state.is_paused(ctx.store):
                ctx.pause_seen.set()
                with contextlib.suppress(FtuiError):  # it ended meanwhile
                    runs.request_cancel(ctx.store, run_id)
                return

    watcher = threading.Thread(target=watch, daemon=True, name="ftui-autopilot-pause")
    watcher.start()
    try:
        run_worker(ctx.store, ctx.home, once=True, only=run_id)
    finally:
        done.set()
        watcher.join(5)
        release_memory()


# ---------------------------------------------------------------- gate


def _gate(ctx: Context, cycle: AutopilotCycle, dry: bool) -> Step:
    from ftui import registry
    from ftui.registry.gate import run_gate

    model = registry.get_model(ctx.store, cycle.model_id)
    slot = ctx.policy.slot
    if dry:
        current = registry.production_model(ctx.store, slot)
        against = current.name if current else f"its base {model.base_model}"
        return Step("gate", f"run the regression gate for {model.name} against {against}",
                    "every promotion needs a passed gate", cycle.id)
    cancel = threading.Event()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.25):
            if state.is_paused(ctx.store):
                ctx.pause_seen.set()
                cancel.set()
                return

    watcher = threading.Thread(target=watch, daemon=True, name="ftui-autopilot-gate-pause")
    watcher.start()
    try:
        result = run_gate(ctx.store, model.id, home=ctx.home, host=ctx.host, slot=slot,
                          settings_extra=ctx.policy.gate_extra(ctx.settings_extra),
                          on_line=ctx.on_line, cancel=cancel)
    except FtuiError:
        if cancel.is_set():
            raise Paused from None
        raise
    finally:
        done.set()
        watcher.join(5)
    if cancel.is_set():
        raise Paused  # answers were cut short: the figures prove nothing
    lines = [f["line"] for f in result["figures"]]
    detail = {"passed": result["passed"], "failed": result["failed"], "figures":
              result["figures"], "notes": result["notes"], "incumbent": result["incumbent"]}
    if not result["passed"]:
        from ftui.registry.gate import summary

        text = summary(result)
        state.record_step(ctx.store, cycle.id, "gate", "failed", text, detail)
        registry.set_stage(ctx.store, model.id, "archived", note=(
            f"autopilot cycle {cycle.id}: stopped by the regression gate; {text}"))
        _finish(ctx, cycle, "gate_failed", f"the gate refused {model.name}: "
                + ", ".join(result["failed"]))
        return Step("finished", f"cycle {cycle.id} ended: the gate refused {model.name}",
                    "; ".join(f["line"] for f in result["figures"] if f["passed"] is False),
                    cycle.id, True, detail)
    text = f"gate passed against {result['incumbent']['name']}: " + (
        "; ".join(lines) if lines else "; ".join(result["notes"]))
    state.record_step(ctx.store, cycle.id, "gate", "done", text, detail)
    _to(ctx, cycle, "deploy")
    return Step("gate", f"gate passed for {model.name}", text, cycle.id, True, detail)


# ---------------------------------------------------------------- deploy


def _deploy(ctx: Context, cycle: AutopilotCycle, dry: bool) -> Step:
    from ftui import registry
    from ftui.registry.deploy import deploy

    model = registry.get_model(ctx.store, cycle.model_id)
    name = ctx.policy.deploy_name(cycle.id, model.name)
    base = ctx.policy.deploy.ollama_base or None
    if dry:
        return Step("deploy", f"deploy {model.name} to Ollama as {name}"
                    + (f" on {base}" if base else ""), f"Ollama at {ctx.host}", cycle.id)
    ctx.on_line(f"deploying {model.name} as {name}")
    out = deploy(ctx.store, model.id, home=ctx.home, host=ctx.host, name=name,
                 ollama_base=base, on_line=ctx.on_line)
    detail = {k: out.get(k) for k in ("ollama_name", "mode", "from", "smoke_ok", "smoke_error",
                                       "smoke_reply")}
    if not out["smoke_ok"]:
        raise FtuiError(f"{name} was created in Ollama but does not answer: "
                        f"{out['smoke_error']}", "check the model in Ollama (ollama run "
                        f"{name}); the autopilot starts no experiment with it")
    text = f"in Ollama as {name}" + (f" on {out['from']}" if out["from"] else "") + \
        "; smoke test passed"
    state.record_step(ctx.store, cycle.id, "deploy", "done", text, detail)
    _to(ctx, cycle, "experiment", ollama_name=name)
    return Step("deploy", f"deployed {name}", text, cycle.id, True, detail)


# ---------------------------------------------------------------- experiment


def incumbent_name(ctx: Context, model) -> str | None:
    """Arm A: the slot's production model when Ollama serves it, else the base the candidate
    was deployed on."""
    from ftui import registry

    current = registry.production_model(ctx.store, ctx.policy.slot)
    if current is not None and current.id != model.id and current.ollama_name:
        return current.name
    deployed = model.metrics.get("deployed") or {}
    return deployed.get("from") or ctx.policy.deploy.ollama_base or None


def _experiment(ctx: Context, cycle: AutopilotCycle, dry: bool) -> Step:
    from ftui import REASONING_MODES, registry
    from ftui.ab.experiments import create_experiment, list_experiments, set_status

    e = ctx.policy.experiment
    model = registry.get_model(ctx.store, cycle.model_id)
    model_a = incumbent_name(ctx, model)
    if model_a is None:
        raise FtuiError(f"no model to compare {model.name} with: {ctx.policy.slot} has no "
                        "production model in Ollama and the deploy named no base",
                        "set deploy.ollama_base in the policy")
    busy = [x for x in list_experiments(ctx.store) if x.alias == e.alias
            and x.status == "running"]
    if busy:
        text = (f"experiment {busy[0].name} is running on alias {e.alias}: one at a time per "
                "alias")
        if not dry:
            state.record_step(ctx.store, cycle.id, "experiment", "waiting", text)
        return Step("waiting", "waiting to start the experiment", text + f" (stop it: ftui ab "
                    f"stop {busy[0].id})", cycle.id)
    what = (f"A/B on alias {e.alias}: A {model_a}, B {model.name} with {e.b_share:.0%} of new "
            f"users, at least {e.min_samples} rated per arm")
    if dry:
        return Step("experiment", "start an experiment", what, cycle.id)
    names = {x.name for x in list_experiments(ctx.store)}
    name = next(n for n in (f"autopilot-{cycle.id}", *(f"autopilot-{cycle.id}-{i}"
                                                          for i in range(2, 99)))
                if n not in names)
    slot = ctx.policy.slot if ctx.policy.slot in REASONING_MODES else None
    exp = create_experiment(ctx.store, name=name, alias=e.alias, model_a=model_a,
                            model_b=model.name, split_b=e.b_share, slot=slot,
                            min_samples=e.min_samples, notes=f"autopilot cycle {cycle.id}")
    set_status(ctx.store, exp.id, "running")
    state.record_step(ctx.store, cycle.id, "experiment", "done", f"{name} running: {what}",
                      {"experiment_id": exp.id, "model_a": model_a, "model_b": model.name})
    _to(ctx, cycle, "decision", experiment_id=exp.id)
    return Step("experiment", f"started experiment {name}", what, cycle.id, True)


# ---------------------------------------------------------------- decision


def guardrail_breaches(ctx: Context, exp, rep: dict[str, Any]) -> list[str]:
    """What B degrades beyond the policy's guardrails (empty: nothing, or not enough traffic
    yet to tell)."""
    g = ctx.policy.experiment.guardrails
    a, b = rep["arms"]["A"], rep["arms"]["B"]
    if min(a["interactions"], b["interactions"]) < g.min_requests:
        return []
    out = []
    pa, pb = a.get("latency_ms_p95"), b.get("latency_ms_p95")
    if g.max_latency_p95_ratio > 0 and pa and pb and pb > pa * g.max_latency_p95_ratio:
        out.append(f"latency p95 of B {pb:.0f} ms is over {g.max_latency_p95_ratio:g} x A's "
                   f"{pa:.0f} ms")
    rate = b["fallbacks"] / b["interactions"] if b["interactions"] else 0.0
    if g.max_fallback_rate < 1 and rate > g.max_fallback_rate:
        out.append(f"B fell back to its base on {rate:.0%} of requests (the policy allows "
                   f"{g.max_fallback_rate:.0%})")
    if g.max_judge_drop > 0:
        from ftui.judge.experiment import judged_report

        j = judged_report(ctx.store, exp.id)
        ja, jb = j["arms"]["A"], j["arms"]["B"]
        if (min(ja["judged"], jb["judged"]) >= g.min_requests and ja["mean_judge"] is not None
                and jb["mean_judge"] is not None
                and jb["mean_judge"] < ja["mean_judge"] - g.max_judge_drop):
            out.append(f"judge score of B {jb['mean_judge']:.2f} is more than "
                       f"{g.max_judge_drop:g} below A's {ja['mean_judge']:.2f}")
    return out


def _decision(ctx: Context, cycle: AutopilotCycle, dry: bool) -> Step:
    from ftui.ab.experiments import get_experiment
    from ftui.ab.report import report

    exp = get_experiment(ctx.store, cycle.experiment_id)
    if exp.status != "running":
        raise FtuiError(f"experiment {exp.name} was stopped outside the autopilot",
                        "nothing was promoted; the next cycle starts a new experiment")
    rep = report(ctx.store, exp.id)  # sequential: valid however often it is read
    figures = {arm: {k: rep["arms"][arm].get(k) for k in (
        "model", "interactions", "rated", "rated_units", "mean_rating", "latency_ms_p95",
        "fallbacks")} for arm in ("A", "B")}
    detail = {"experiment_id": exp.id, "verdict": rep["verdict"], "p_value": rep["p_value"],
              "diff": rep["diff_mean_rating"], "ci95": rep["diff_ci95"],
              "statistics": rep["statistics"], "arms": figures}
    breaches = guardrail_breaches(ctx, exp, rep)
    if breaches:
        why = "guardrail: " + "; ".join(breaches)
        return _rollback(ctx, cycle, exp, why, detail, dry)
    if rep["winner"] == "B" and not rep["srm_flag"]:
        return _promote(ctx, cycle, exp, rep, detail, dry)
    if rep["winner"] == "A" and ctx.policy.decision.rollback_when_worse:
        return _rollback(ctx, cycle, exp, f"B is worse: {rep['verdict']}", detail, dry)
    hours = ctx.policy.decision.max_hours
    started = exp.started_at or cycle.created_at
    if hours and utcnow() - started > timedelta(hours=hours):
        return _rollback(ctx, cycle, exp, f"no verdict after {hours:g} h: {rep['verdict']}",
                         detail, dry, outcome="no_verdict")
    if not dry:
        state.record_step(ctx.store, cycle.id, "decision", "waiting", rep["verdict"], detail)
    return Step("waiting", f"waiting for experiment {exp.name}", rep["verdict"], cycle.id,
                detail=detail)


def _promote(ctx: Context, cycle, exp, rep, detail, dry: bool) -> Step:
    from ftui import registry
    from ftui.ab.experiments import set_status

    model = registry.get_model(ctx.store, cycle.model_id)
    slot = ctx.policy.slot
    if dry:
        return Step("promoted", f"promote {model.name} to production in {slot} and stop "
                    f"{exp.name}", rep["verdict"], cycle.id, detail=detail)
    before = registry.production_model(ctx.store, slot)
    detail["previous_production"] = before.id if before is not None else None
    gate = model.metrics.get("gate")
    note = f"autopilot cycle {cycle.id}: won experiment {exp.name}: {rep['verdict']}"
    registry.promote(ctx.store, model.id, slot, note, home=ctx.home, host=ctx.host, gate=gate,
                     settings_extra=ctx.policy.gate_extra(ctx.settings_extra),
                     on_line=ctx.on_line)
    set_status(ctx.store, exp.id, "stopped")
    text = f"{model.name} promoted to production in {slot}: {rep['verdict']}"
    state.record_step(ctx.store, cycle.id, "decision", "done", text, detail)
    _finish(ctx, cycle, "promoted", text)
    return Step("promoted", f"promoted {model.name}", rep["verdict"], cycle.id, True, detail)


def _rollback(ctx: Context, cycle, exp, why: str, detail, dry: bool,
              outcome: str = "rolled_back") -> Step:
    from ftui import registry
    from ftui.ab.experiments import set_status

    model = registry.get_model(ctx.store, cycle.model_id)
    if dry:
        return Step("rolled_back", f"stop {exp.name} (all traffic back on {exp.model_a}) and "
                    f"archive {model.name}", why, cycle.id, detail=detail)
    set_status(ctx.store, exp.id, "stopped")
    registry.set_stage(ctx.store, model.id, "archived", note=(
        f"autopilot cycle {cycle.id} rolled back: {why}; experiment {exp.name} stopped, "
        f"traffic back on {exp.model_a}"))
    text = f"rolled back: {why}; traffic back on {exp.model_a}"
    state.record_step(ctx.store, cycle.id, "decision", "done", text, detail)
    _finish(ctx, cycle, outcome, text)
    return Step("rolled_back", f"stopped {exp.name} and archived {model.name}", why, cycle.id,
                True, detail)


# ---------------------------------------------------------------- undo


def undo_cycle(store: Store, cycle_id: int | str) -> str:
    """Reverse what a finished cycle did to the registry, through the stage history: a
    promotion gives production back to the model it replaced (the candidate goes to
    staging); a rollback or a gate refusal puts the candidate back to candidate."""
    from ftui import registry

    cycle = state.get_cycle(store, cycle_id)
    if cycle.status != "finished" or cycle.model_id is None or cycle.outcome not in (
            "promoted", "rolled_back", "gate_failed", "no_verdict"):
        raise FtuiError(f"cycle {cycle.id} changed no model's stage ({cycle.status}, "
                        f"{cycle.outcome})", "nothing to undo")
    note = f"undo of autopilot cycle {cycle.id}"
    model = registry.get_model(store, cycle.model_id)
    if cycle.outcome == "promoted":
        decision = [s for s in state.steps_of(store, cycle.id) if s.name == "decision"]
        before = decision[-1].detail.get("previous_production") if decision else None
        if before is not None:
            registry.set_stage(store, before, "production", model.slot, note)
            said = f"{registry.get_model(store, before).name} is production again"
        else:
            registry.set_stage(store, model.id, "staging", note=note)
            said = f"{model.name} moved back to staging ({model.slot} has no production model)"
    else:
        registry.set_stage(store, model.id, "candidate", note=note)
        said = f"{model.name} is a candidate again"
    state.record_step(store, cycle.id, "undo", "done", said)
    return said


def retry_cycle(store: Store, cycle_id: int | str) -> AutopilotCycle:
    """Take a failed cycle up again at the step that failed (after fixing the cause: Ollama
    was down, the disk was full, ...), instead of waiting for the trigger."""
    cycle = state.get_cycle(store, cycle_id)
    if cycle.status != "failed":
        raise FtuiError(f"cycle {cycle.id} is {cycle.status}, not failed", "only a failed "
                        "cycle is retried")
    other = state.active_cycle(store)
    if other is not None:
        raise FtuiError(f"cycle {other.id} is running", "one cycle at a time: wait for it, or "
                        "pause the autopilot")
    state.record_step(store, cycle.id, "retry", "done",
                      f"taken up again at {cycle.stage} after: {cycle.error}")
    return state.update_cycle(store, cycle.id, status="running", outcome=None, error=None,
                              finished_at=None, notified=False)
