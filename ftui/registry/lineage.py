"""Where a model comes from: model <- run <- dataset version <- rules <- interactions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ftui.store import DatasetExample, Store
from ftui.train.runs import get_run


def lineage(store: Store, ref: int | str) -> dict[str, Any]:
    """A plain dict (also the `ftui models show --json` "lineage" key). Steps that do not apply
    (a model registered by hand has no run) are None."""
    from ftui.curate import get_dataset
    from ftui.errors import FtuiError
    from ftui.registry import get_model

    model = get_model(store, ref)
    out: dict[str, Any] = {"model": {"id": model.id, "name": model.name, "kind": model.kind,
                                     "base_model": model.base_model},
                           "run": None, "dataset": None, "interactions": None}
    if model.run_id is not None:
        try:
            run = get_run(store, model.run_id)
            out["run"] = {"id": run.id, "status": run.status, "base_model": run.base_model,
                          "method": run.config.get("method", "sft"),
                          # the reference of a preference run: the SFT model it continued,
                          # else its base (the adapter disabled)
                          "reference_model": (run.config.get("from_model") or run.base_model)
                          if run.config.get("method", "sft") != "sft" else None,
                          "steps": run.step, "train_tokens": run.train_tokens,
                          "finished_at": run.finished_at.isoformat() if run.finished_at
                          else None}
        except FtuiError:
            out["run"] = {"id": model.run_id, "status": "deleted"}
    if model.dataset_id is not None:
        try:
            ds = get_dataset(store, model.dataset_id)
        except FtuiError:
            ds = None
        if ds is not None:
            with store.engine.connect() as conn:
                per_split = dict(conn.execute(
                    select(DatasetExample.split, func.count()).where(
                        DatasetExample.dataset_id == ds.id).group_by(DatasetExample.split)).all())
                sources = conn.execute(select(func.count(func.distinct(
                    DatasetExample.interaction_id))).where(
                        DatasetExample.dataset_id == ds.id)).scalar_one()
            out["dataset"] = {"id": ds.id, "name": ds.name, "kind": ds.spec.get("kind", "sft"),
                              "hash": ds.content_hash,
                              "examples": ds.examples, "splits": per_split, "rules": ds.spec}
            out["interactions"] = {"count": sources, "dataset_id": ds.id}
    return out


def _rule_value(value: Any) -> str:
    """A rule as the CLI flags write it: a list comma-joined, not Python's repr."""
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def lineage_lines(info: dict[str, Any]) -> list[str]:
    """The lineage as the few lines the Models screen and `ftui models show` print."""
    m = info["model"]
    lines = [f"model   {m['name']} ({m['kind']}, base {m['base_model'] or '-'})"]
    run = info["run"]
    method = (f", {run['method']}" + (f" vs {run['reference_model']}"
                                      if run.get("reference_model") else "")
              if run and run.get("method", "sft") != "sft" else "")
    lines.append(f"  <- run {run['id']} ({run['status']}, {run.get('steps', '?')} steps{method})"
                 if run else "  <- no run (registered by hand)")
    ds = info["dataset"]
    if ds:
        splits = ", ".join(f"{k} {v}" for k, v in sorted(ds["splits"].items()))
        kind = f" {ds['kind']}" if ds.get("kind", "sft") != "sft" else ""
        lines.append(f"  <- dataset {ds['id']} {ds['name']}{kind} #{ds['hash'][:12]} ({splits})")
        rules = {k: v for k, v in ds["rules"].items() if v not in (None, [], (), "", False)}
        shown = ", ".join(f"{k}={_rule_value(v)}" for k, v in list(rules.items())[:8])
        more = (f", ... ({len(rules) - 8} more: ftui dataset show {ds['id']})"
                if len(rules) > 8 else "")
        lines.append(f"  <- rules {shown}{more}")
        lines.append(f"  <- {info['interactions']['count']} interactions")
    else:
        lines.append("  <- no dataset recorded")
    return lines
