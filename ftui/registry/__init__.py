"""The model registry: every finished run's adapter, and models registered by hand, with their
lineage (run, dataset version and hash) and their stage in a slot.

Stages: candidate -> staging -> production -> archived. A slot is a reasoning mode
(`chain_of_thought`, `agent`, ...), a domain (`programming`, `docs`, ...), `general`, or personal
(`user:alice`, `team:platform`: the gateway serves them first, see ftui.inference.router).
At most one production model per slot: promoting one demotes the previous one to staging. Every
change is kept in the model's history with the operator's note.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from ftui.errors import FtuiError
from ftui.store import ModelEvent, RegisteredModel, Store, TrainingRun

STAGES = ("candidate", "staging", "production", "archived")
KINDS = ("adapter", "merged", "ollama", "hf", "gguf")
_SLOT = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")


def _event(session, model: RegisteredModel, action: str, to_stage: str | None = None,
           note: str | None = None, from_stage: str | None = None) -> None:
    session.add(ModelEvent(model_id=model.id, action=action, from_stage=from_stage,
                           to_stage=to_stage, slot=model.slot, note=note))


def check_name_free(store: Store, name: str) -> None:
    with store.session() as s:
        if s.exec(select(RegisteredModel).where(RegisteredModel.name == name)).first():
            raise FtuiError(f"a model named {name!r} is registered already",
                            "pick another name (--name)")


def add_model(store: Store, model: RegisteredModel, note: str | None) -> RegisteredModel:
    """Insert a new model as a candidate, with its first history line."""
    with store.session() as s:
        s.add(model)
        s.flush()
        _event(s, model, "registered", "candidate", note)
        s.commit()
        s.refresh(model)
    return model


def register_run(store: Store, run: TrainingRun) -> RegisteredModel:
    """Register a completed run's adapter (once: a second call returns the same model)."""
    from ftui.curate import get_dataset

    if run.status != "completed" or not run.adapter_dir:
        raise FtuiError(f"run {run.id} has no finished adapter ({run.status})",
                        "only completed runs are registered")
    with store.session() as s:
        found = s.exec(select(RegisteredModel).where(RegisteredModel.run_id == run.id)).first()
        if found is not None:
            return found
    dataset = get_dataset(store, run.dataset_id)
    metrics = {k: v for k, v in run.summary.items() if v is not None}
    if run.best_eval_loss is not None:
        metrics["best_eval_loss"] = run.best_eval_loss
    model = RegisteredModel(
        name=f"{dataset.name}-run{run.id}", kind="adapter", base_model=run.base_model,
        path=run.adapter_dir, run_id=run.id, dataset_id=dataset.id,
        dataset_hash=dataset.content_hash, params_json=run.config_json,
        metrics_json=json.dumps(metrics))
    return add_model(store, model, f"from run {run.id}")


def register(store: Store, *, kind: str, name: str, path: str | None = None,
             ollama_name: str | None = None, base_model: str | None = None,
             slot: str = "general", notes: str | None = None) -> RegisteredModel:
    """Register a model that exists elsewhere: an Ollama model, a transformers folder, a GGUF
    file, or an adapter / merged folder."""
    name, path = check_registration(kind=kind, name=name, path=path, ollama_name=ollama_name,
                                    slot=slot)
    check_name_free(store, name)
    return add_model(store, RegisteredModel(name=name, kind=kind, path=path,
                                            ollama_name=ollama_name, base_model=base_model,
                                            slot=slot, notes=notes), notes)


def check_registration(*, kind: str, name: str, path: str | None, ollama_name: str | None,
                       slot: str) -> tuple[str, str | None]:
    """(name, resolved path) of a model `register` would accept, or why not, without a store
    (the CLI checks before it creates one)."""
    if kind not in KINDS:
        raise FtuiError(f"unknown kind {kind!r}", f"use one of {', '.join(KINDS)}")
    name = name.strip()
    if not name:
        raise FtuiError("a model needs a name", "pass --name")
    _check_slot(slot)
    if kind == "ollama":
        if not (ollama_name or "").strip():
            raise FtuiError("an Ollama model needs its Ollama name", "pass --ollama NAME:TAG")
    else:
        where = Path(path or "").expanduser()
        if not path or not where.exists():
            raise FtuiError(f"no file or folder at {path!r}",
                            "pass --path with the model's folder (or its .gguf file)")
        if kind == "gguf" and (not where.is_file() or where.suffix != ".gguf"):
            raise FtuiError(f"{where} is not a .gguf file", "pass the .gguf file itself")
        if kind in ("hf", "merged") and not (where / "config.json").is_file():
            raise FtuiError(f"{where} holds no config.json", "pass a transformers model folder")
        if kind == "adapter" and not (where / "adapter_config.json").is_file():
            raise FtuiError(f"{where} holds no adapter_config.json", "pass a PEFT adapter folder")
        path = str(where.resolve())
    return name, path


def _check_slot(slot: str) -> None:
    from ftui.config import personal_slot

    if not (_SLOT.match(slot or "") or personal_slot(slot)):
        raise FtuiError(f"slot {slot!r} is not a simple name",
                        "use a mode (chain_of_thought, agent, ...), a domain (programming, docs, "
                        "...), general, or a personal slot: user:ID or team:NAME")


def list_models(store: Store, include_archived: bool = True) -> list[RegisteredModel]:
    with store.session() as s:
        stmt = select(RegisteredModel).order_by(col(RegisteredModel.id).desc())
        if not include_archived:
            stmt = stmt.where(RegisteredModel.stage != "archived")
        return list(s.exec(stmt))


def get_model(store: Store, ref: int | str) -> RegisteredModel:
    with store.session() as s:
        found = s.get(RegisteredModel, int(ref)) if str(ref).isdigit() else None
        if found is None:
            found = s.exec(select(RegisteredModel).where(RegisteredModel.name == str(ref))).first()
    if found is None:
        raise FtuiError(f"no registered model {ref!r}", "see them with: ftui models list")
    return found


def history(store: Store, ref: int | str) -> list[ModelEvent]:
    model = get_model(store, ref)
    with store.session() as s:
        return list(s.exec(select(ModelEvent).where(ModelEvent.model_id == model.id)
                           .order_by(col(ModelEvent.id))))


def set_stage(store: Store, ref: int | str, stage: str, slot: str | None = None,
              note: str | None = None) -> RegisteredModel:
    """Move a model to a stage (and slot). Production is one model per slot: the previous one
    goes back to staging, and both changes are in the history."""
    if stage not in STAGES:
        raise FtuiError(f"unknown stage {stage!r}", f"use one of {', '.join(STAGES)}")
    if slot is not None:
        _check_slot(slot)
    model = get_model(store, ref)
    with store.session() as s:
        model = s.get(RegisteredModel, model.id)
        old_stage = model.stage
        model.slot = slot or model.slot
        if stage == "production":
            for other in s.exec(select(RegisteredModel).where(
                    RegisteredModel.slot == model.slot, RegisteredModel.stage == "production",
                    RegisteredModel.id != model.id)):
                other.stage = "staging"
                _event(s, other, "demoted", "staging", f"replaced by {model.name}", "production")
        model.stage = stage
        _event(s, model, "promoted" if STAGES.index(stage) > STAGES.index(old_stage)
               else "demoted" if stage != old_stage else "moved", stage, note, old_stage)
        s.commit()
        s.refresh(model)
        return model


def production_model(store: Store, slot: str) -> RegisteredModel | None:
    with store.session() as s:
        return s.exec(select(RegisteredModel).where(RegisteredModel.slot == slot,
                                                    RegisteredModel.stage == "production")).first()


def promote(store: Store, ref: int | str, slot: str | None = None, note: str | None = None, *,
            home: Path, host: str, force: str | None = None, gate: dict[str, Any] | None = None,
            settings_extra: dict | None = None, general_items: int | None = None,
            on_line=None) -> tuple[RegisteredModel, dict[str, Any] | None]:
    """Production behind the regression gate (ftui.registry.gate): the gate runs (or `gate`,
    a result already computed for this model and slot, is used) and a failure refuses the
    promotion (GateRefused, with the figures) unless `force` gives a reason. The gate's
    verdict, and the reason when forced, go into the stage history. A gate that cannot run at
    all (a model that does not answer) refuses too, unless forced."""
    from ftui.registry.gate import GateRefused, run_gate, summary

    model = get_model(store, ref)
    slot = slot or model.slot
    _check_slot(slot)
    reason = (force or "").strip()
    if gate is not None and (gate.get("candidate", {}).get("id") != model.id
                             or gate.get("slot") != slot):
        gate = None  # a result for another model or slot proves nothing here
    error = None
    if gate is None:
        try:
            gate = run_gate(store, model.id, home=home, host=host, slot=slot,
                            settings_extra=settings_extra, general_items=general_items,
                            on_line=on_line)
        except FtuiError as err:
            if not reason:
                raise FtuiError(f"the regression gate could not run for {model.name}: "
                                f"{err.message}", err.hint or "fix the cause and promote again, "
                                "or promote anyway with --force REASON") from err
            error = err.message
    if gate is not None and not gate["passed"] and not reason:
        raise GateRefused(gate)
    parts = [note] if note else []
    parts.append(summary(gate) if gate is not None else f"gate could not run: {error}")
    if reason and (gate is None or not gate["passed"]):
        parts.append(f"FORCED: {reason}")
    return set_stage(store, model.id, "production", slot, "; ".join(parts)), gate


OWNED_ROOTS = ("runs", "merged")  # what ftui writes under $FTUI_HOME and may remove again


def owned_folder(path: str, home: Path) -> Path | None:
    """`path` when it is a folder ftui wrote under $FTUI_HOME/runs or $FTUI_HOME/merged (seen
    through `..` and links), else None. A root itself, or a link, is never ftui's to remove."""
    target = Path(path).expanduser()
    if target.is_symlink():
        return None
    real, home_real = target.resolve(), Path(home).expanduser().resolve()
    for root in OWNED_ROOTS:
        try:
            inside = real.relative_to(home_real / root)
        except ValueError:
            continue
        if inside.parts and ".." not in Path(path).parts:
            return real
    return None


def _run_adapter(store: Store, model: RegisteredModel) -> Path | None:
    """The adapter folder the trainer wrote for the model's run (wherever $FTUI_HOME was then)."""
    with store.session() as s:
        run = s.get(TrainingRun, model.run_id) if model.run_id is not None else None
    path = Path(model.path or "")
    if (run is None or run.adapter_dir != model.path or path.is_symlink()
            or path.parent.name != f"run-{run.id}" or ".." in path.parts):
        return None
    return path.resolve()


def delete_model(store: Store, ref: int | str, remove_files: bool = False,
                 home: Path | None = None) -> dict[str, Any]:
    """Forget a model; its files are removed only when asked, and only a folder ftui wrote
    under $FTUI_HOME (a run's adapter, a merged model). Anything else is refused, by path,
    before the entry is forgotten."""
    model = get_model(store, ref)
    target = None
    if remove_files and model.path and Path(model.path).exists():
        if home is None:
            from ftui.config import load_settings

            home = load_settings().home
        target = owned_folder(model.path, home) if model.kind in ("adapter", "merged") else None
        if target is None and model.kind == "adapter":
            target = _run_adapter(store, model)
        if target is None or not target.is_dir():
            raise FtuiError(
                f"refusing to delete {model.path}: ftui did not create it (only folders under "
                f"{Path(home) / 'runs'} or {Path(home) / 'merged'} are removed)",
                "delete it yourself if you mean to, or run the command without --remove-files "
                "(the entry is forgotten, the files stay)")
    if target is not None:
        shutil.rmtree(target)
    with store.session() as s:
        s.delete(s.get(RegisteredModel, model.id))
        s.commit()
    return {"deleted": model.id, "name": model.name,
            "removed_files": str(target) if target else None}


def deployment_summary(model: RegisteredModel) -> str | None:
    """One plain line on the model's own deployment to Ollama (None when it has none): what
    was created, on which base, and whether the smoke prompt got an answer."""
    d = model.metrics.get("deployed")
    if not isinstance(d, dict) or not d.get("ollama_name"):
        return None
    on_base = f" on {d['from']}" if d.get("from") else ""
    if "smoke_ok" not in d:  # deployed before ftui recorded it
        smoke = "smoke test not recorded"
    elif d["smoke_ok"] is None:
        smoke = "smoke test skipped"
    else:
        smoke = "smoke test passed" if d["smoke_ok"] else \
            f"smoke test failed: {d.get('smoke_error')}"
    return f"in Ollama as {d['ollama_name']} ({d.get('mode', '?')}{on_base}); {smoke}"


def training_figures(model: RegisteredModel) -> dict[str, Any]:
    """The model's own figures (training summary, eval loss), without the evaluation and
    deployment records, which have their own views."""
    return {k: v for k, v in model.metrics.items() if k not in ("eval", "deployed")}


def as_dict(model: RegisteredModel) -> dict[str, Any]:
    return {"id": model.id, "name": model.name, "kind": model.kind, "stage": model.stage,
            "slot": model.slot, "base_model": model.base_model, "run_id": model.run_id,
            "dataset_hash": model.dataset_hash, "path": model.path,
            "ollama_name": model.ollama_name, "metrics": model.metrics,
            "created_at": model.created_at.isoformat()}
