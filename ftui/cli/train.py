"""`ftui train`: create a training run and run it; what `runs` and `worker` print of a run."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ftui import fmt
from ftui.cli.common import EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, emit, leaf, settings_for, store_for

ORDER = 30


def run_payload(run) -> dict[str, Any]:
    summary = run.summary
    return {
        "run_id": run.id, "status": run.status, "base": run.base_model, "dataset": run.dataset_id,
        "steps": run.step, "total_steps": run.total_steps, "epoch": round(run.epoch, 3),
        "first_train_loss": summary.get("first_train_loss"),
        "final_train_loss": summary.get("final_train_loss"),
        "final_eval_loss": summary.get("final_eval_loss"),
        "best_eval_loss": run.best_eval_loss,
        "tokens_per_second": summary.get("tokens_per_second"),
        "trained_tokens": run.train_tokens, "adapter_dir": run.adapter_dir,
        "output_dir": run.output_dir, "error": run.error, "worker": run.worker,
        "created_at": run.created_at.isoformat(),
    }


def run_line(run) -> str:
    progress = f"{run.step}/{run.total_steps}" if run.total_steps else f"{run.step}"
    best = f"{run.best_eval_loss:.4f}" if run.best_eval_loss is not None else "-"
    return (f"{run.id:>4}  {run.status:<11} {run.base_model[:24]:<24} dataset {run.dataset_id:<4} "
            f"step {progress:<11} best eval {best:<8} {run.created_at:%Y-%m-%d %H:%M}")


def finished_code(run) -> int:
    """A run that ran in this process: 0 completed, 1 cancelled, 2 anything else."""
    return {"completed": EXIT_OK, "cancelled": EXIT_SKIPPED}.get(run.status, EXIT_ERROR)


def cmd_train(args: argparse.Namespace) -> int:
    from ftui.train.config import load_config
    from ftui.train.runs import create_run, get_run
    from ftui.train.worker import run_worker, spawn_detached

    settings = settings_for(args)
    config = load_config(args.config, args.set)
    store = store_for(args)
    config, args.base = _apply_method(args, store, config)
    from ftui.train.distributed import is_distributed

    if is_distributed() and not args.detach:
        return _train_distributed(args, store, settings, config)
    run = create_run(store, args.dataset, args.base, config)
    if args.detach:
        from ftui.train.trainer import run_dir

        pid = spawn_detached(settings.database_url, run.id, run_dir(settings.home, run.id) / "worker.log")
        emit(args, {**run_payload(get_run(store, run.id)), "pid": pid},
              lambda: print(f"run {run.id} started in the background (pid {pid}); watch it with "
                            f"`ftui runs show {run.id}` or in the TUI (F3)"))
        return EXIT_OK
    run_worker(store, settings.home, once=True, only=run.id)
    run = get_run(store, run.id)
    if run.status in ("running", "paused"):  # it ended, but the store could not take its state
        from ftui.errors import FtuiError

        raise FtuiError(f"run {run.id} stopped, and the store could not record why (is the disk "
                        "full?)", f"free some disk space, then: ftui runs resume {run.id}")
    payload = run_payload(run)

    def human() -> None:
        print(run_line(run))
        if run.error:
            print(f"  error: {run.error}", file=sys.stderr)
        for key in ("first_train_loss", "final_train_loss", "final_eval_loss",
                    "tokens_per_second", "adapter_dir"):
            if payload.get(key) is not None:
                print(f"  {key.replace('_', ' ')}: {fmt.metric(key, payload[key])}")

    emit(args, payload, human)
    return finished_code(run)


def _apply_method(args: argparse.Namespace, store, config):
    """--method and --from-model (issue 12) over the config file and --set values; the base of
    a continued adapter is that adapter's base."""
    from ftui.errors import FtuiError

    changes, base = {}, (args.base or "").strip()
    if args.method:
        changes["method"] = args.method
    if args.from_model:
        from ftui.registry import get_model

        start = get_model(store, args.from_model)
        if start.kind != "adapter" or not start.base_model:
            raise FtuiError(f"model {start.id} ({start.name}) is a {start.kind}, not an adapter",
                            "pass --from-model an adapter trained by ftui (see ftui models list)")
        if base and base != start.base_model:
            raise FtuiError(f"model {start.id} is an adapter of {start.base_model}, not {base}",
                            "leave --base out: a continued adapter keeps its base")
        base, changes["from_model"] = start.base_model, str(start.id)
    if not base:
        raise FtuiError("no base model given",
                        "give --base tiny, demo, a folder, a .gguf or an id (or --from-model ID)")
    return (config.with_(**changes).validate() if changes else config), base


def _train_distributed(args, store, settings, config) -> int:
    """Under torchrun / accelerate launch: rank 0 creates and owns the run; all ranks train it."""
    from ftui.errors import FtuiError
    from ftui.train.distributed import broadcast, finish, init_if_needed, world
    from ftui.train.runs import claim_next, create_run, get_run
    from ftui.train.trainer import execute_run

    init_if_needed()
    rank, size = world()
    run_id, failure = None, None
    try:
        if rank == 0:
            try:
                run_id = create_run(store, args.dataset, args.base, config).id
                claim_next(store, only=run_id)
            except FtuiError as err:
                failure = err
        run_id = broadcast(run_id)  # None tells the other ranks to stop quietly
        if run_id is not None:
            execute_run(store, run_id, settings.home)
    finally:
        finish()
    if failure is not None:
        raise failure
    if run_id is None:
        return EXIT_ERROR
    if rank != 0:
        return EXIT_OK
    run = get_run(store, run_id)
    emit(args, {**run_payload(run), "world_size": size},
          lambda: print(run_line(run) + f"  ({size} processes)"))
    return finished_code(run)


def register(sub) -> None:
    p = leaf(sub, "train", cmd_train,  # its dataset is in a store: a missing one is an error
             help="fine-tune a LoRA adapter on a dataset version",
             description="Create a training run and run it (in the foreground unless --detach: "
             "a background worker process). Exit 0 completed, 1 cancelled, 2 failed. --json "
             "prints {run_id, status, steps, first_train_loss, final_train_loss, "
             "final_eval_loss, tokens_per_second, adapter_dir, ...}. Data-parallel: torchrun "
             "--nproc_per_node N -m ftui train ... (rank 0 owns the run record).")
    p.add_argument("--dataset", required=True, help="dataset id (or name: its newest version)")
    p.add_argument("--base",
                   help="tiny, demo, a model folder, a .gguf file, or a cached Hugging Face id")
    p.add_argument("--method", choices=["sft", "dpo", "kto", "orpo"],
                   help="sft on an sft version (default); dpo or orpo on a preference version; "
                        "kto on an unpaired (or preference) version")
    p.add_argument("--from-model", metavar="ID",
                   help="continue this registered SFT adapter (its base; the reference of "
                        "dpo/kto is that SFT model)")
    p.add_argument("--config", help="run config file (JSON or TOML)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one config value, e.g. --set lora_r=8 (repeat)")
    p.add_argument("--detach", action="store_true",
                   help="run in a background worker process that survives this terminal")
