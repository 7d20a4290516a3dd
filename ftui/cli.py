"""The `ftui` command. Every core action is scriptable; `--json` prints one JSON object.

Heavy modules (SQLAlchemy, Textual, torch) are imported inside the handlers so that
`ftui --help` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ftui import REASONING_MODES, __version__
from ftui.cli_common import EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, _emit, _open

# ---------------------------------------------------------------- commands


def cmd_ui(args: argparse.Namespace) -> int:
    from ftui.config import load_settings

    settings = load_settings(args.db)
    store = _open(args)  # fail here, with a clear message, before the screen takes over
    from ftui.screens.app import FtuiApp

    FtuiApp(store=store, settings=settings).run()
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from ftui.ingest import import_files

    store = _open(args)
    report = import_files(store, args.files, fmt=args.format, mode=args.mode, source=args.source)

    def human() -> None:
        fmts = ", ".join(f"{k}: {v}" for k, v in report.formats.items())
        print(f"imported {report.imported}, duplicates {report.duplicates}, "
              f"skipped {report.skipped}" + (f"  ({fmts})" if fmts else ""))
        for err in report.errors[:20]:
            print(f"  skipped {err['where']}: {err['reason']}", file=sys.stderr)
        if report.skipped > 20:
            print(f"  ... and {report.skipped - 20} more (--json lists the first "
                  f"{len(report.errors)})", file=sys.stderr)

    _emit(args, report.as_dict(), human)
    if report.skipped > len(report.failed_files):  # bad records: a fix for all of them
        named = "listed under errors" if args.json else "named above"
        print(f"  fix: correct or remove the records {named} and import the file again "
              "(what was imported stays; duplicates are skipped)", file=sys.stderr)
    if report.skipped and not (report.imported or report.duplicates):
        print(f"ftui: nothing was imported from {len(args.files)} file(s)", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_SKIPPED if report.skipped else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from ftui.demo import load_demo

    report = load_demo(_open(args))
    _emit(args, report.as_dict(), lambda: print(
        f"demo data: imported {report.imported}, already present {report.duplicates}"))
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from ftui.store.interactions import stats

    data = stats(_open(args))

    def human() -> None:
        print(f"interactions: {data['total']}  (with correction: {data['with_correction']})")
        for group in ("status", "rating", "mode", "model", "source"):
            counts = data[f"by_{group}"]
            line = ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"
            print(f"  {group:<7} {line}")

    _emit(args, data, human)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from ftui.ingest.export import export_interactions

    n = export_interactions(_open(args), args.out)
    _emit(args, {"exported": n, "path": str(args.out)},
          lambda: print(f"exported {n} interactions to {args.out}"))
    return EXIT_OK


def _spec_from_args(args: argparse.Namespace):
    from ftui.curate import DatasetSpec

    near = None if str(args.near_dup).lower() == "off" else _fraction(args.near_dup, "--near-dup")
    statuses = tuple(args.status) if args.status else ("new", "accepted")
    return DatasetSpec(
        min_rating=args.min_rating or None, include_unrated=args.include_unrated,
        statuses=statuses, modes=tuple(args.mode or ()), models=tuple(args.model or ()),
        sources=tuple(args.source or ()), tags=tuple(args.tag or ()),
        exclude_tags=tuple(args.exclude_tag or ()), since=args.since, until=args.until,
        min_tokens=args.min_tokens, max_tokens=args.max_tokens, over_length=args.over_length,
        max_examples=args.max_examples, system_prompt=args.system_prompt, redact=args.redact,
        judged_min=getattr(args, "judged_min", None),
        near_dup=near, val=args.val, test=args.test, seed=args.seed, tokenizer=args.tokenizer,
        **_preference_rules(args),
    ).validate()


def _preference_rules(args: argparse.Namespace) -> dict:
    """--kind and the rules of preference / unpaired versions (issue 12)."""
    from ftui.curate.spec import PAIR_SOURCES

    if getattr(args, "kind", "sft") == "sft":
        return {}
    return {"kind": args.kind, "pair_sources": tuple(args.pair_source or PAIR_SOURCES),
            "min_rating_gap": args.min_rating_gap,
            "desirable_min_rating": args.desirable_min_rating,
            "undesirable_max_rating": args.undesirable_max_rating}


def _fraction(text: str, flag: str) -> float:
    from ftui.errors import FtuiError

    try:
        return float(text)
    except ValueError as err:
        raise FtuiError(f"{flag} {text!r} is not a number", f"e.g. {flag} 0.85, or off") from err


def _dataset_line(d) -> str:
    splits = d.report["splits"]
    return (f"{d.id:>4}  {d.name:<24} {d.created_at:%Y-%m-%d %H:%M}  {d.content_hash[:12]}  "
            f"train {splits['train']:>6}  val {splits['validation']:>5}  test {splits['test']:>5}")


def cmd_dataset_build(args: argparse.Namespace) -> int:
    from ftui.config import load_settings
    from ftui.curate import build_dataset

    spec = _spec_from_args(args)
    store = _open(args)
    version, result, created = build_dataset(store, args.name, spec, home=load_settings(args.db).home)
    payload = {"id": version.id, "name": version.name, "hash": version.content_hash,
               "created": created, "matched": result.matched, "splits": result.splits,
               "removed": result.removed, "changed": result.changed,
               "tokenizer": result.tokenizer, "seconds": result.seconds,
               "kind": spec.kind, **{k: result.stats[k] for k in ("sources", "balance")
                                     if k in result.stats}}

    def human() -> None:
        verb = "built" if created else "unchanged (same rules, same data):"
        print(f"{verb} dataset {version.id} {version.name!r}  hash {version.content_hash}")
        print(f"  matched {result.matched}  ->  " + "  ".join(
            f"{k} {v}" for k, v in result.splits.items()))
        for rule, n in result.removed.items():
            print(f"  removed {n:>6}  {rule.replace('_', ' ')}")
        for what, n in result.changed.items():
            print(f"  changed {n:>6}  {what.replace('_', ' ')}")
        for source, n in payload.get("sources", {}).get("all", {}).items():
            print(f"  from    {n:>6}  {source}")
        if "balance" in payload:
            print("  balance " + "  ".join(f"{k} {v}" for k, v in payload["balance"].items()))

    _emit(args, payload, human)
    return EXIT_OK


def cmd_dataset_list(args: argparse.Namespace) -> int:
    from ftui.curate import list_datasets

    versions = list_datasets(_open(args))
    payload = {"datasets": [{"id": d.id, "name": d.name, "hash": d.content_hash,
                             "created_at": d.created_at.isoformat(), "splits": d.report["splits"],
                             "examples": d.examples} for d in versions]}
    _emit(args, payload, lambda: print("\n".join(_dataset_line(d) for d in versions)
                                       or "no datasets yet: ftui dataset build NAME"))
    return EXIT_OK


def cmd_dataset_show(args: argparse.Namespace) -> int:
    from ftui.curate import examples_of, get_dataset

    store = _open(args)
    d = get_dataset(store, args.id)
    report = d.report
    sample = []
    for i, ex in enumerate(examples_of(store, d.id)):
        if i >= args.examples:
            break
        sample.append({"split": ex.split, "mode": ex.reasoning_mode, "tokens": ex.tokens,
                       "messages": ex.messages})
    payload = {"id": d.id, "name": d.name, "hash": d.content_hash, "spec": d.spec, **report,
               "sample": sample}

    def human() -> None:
        print(_dataset_line(d))
        print("  rules: " + ", ".join(f"{k}={v}" for k, v in d.spec.items() if v not in (None, (), [])))
        print(f"  matched {report['matched']}; removed: " + (", ".join(
            f"{k} {v}" for k, v in report["removed"].items()) or "nothing"))
        for split in ("all", "train", "validation", "test"):
            st = report["stats"][split]
            if st["examples"]:
                tok = st["tokens"]
                print(f"  {split:<10} {st['examples']:>6} examples  tokens total {tok['total']}"
                      f"  mean {tok['mean']}  p50 {tok['p50']}  p95 {tok['p95']}  max {tok['max']}"
                      f"  turns {st['turns_mean']}  modes {st['by_mode']}")
        if not report.get("exact_tokens", False):
            print("  (token figures are approximate: built with --tokenizer approx)")

    _emit(args, payload, human)
    return EXIT_OK


def cmd_dataset_export(args: argparse.Namespace) -> int:
    from ftui.curate.export import export_dataset

    result = export_dataset(_open(args), args.id, args.format, args.out, redact=args.redact)

    def human() -> None:
        for split, path in result["files"].items():
            print(f"{split:<10} {path}")
        for split, n in result["skipped"].items():
            print(f"  skipped {n} {split} examples: {result['note']}", file=sys.stderr)

    _emit(args, result, human)
    return EXIT_OK


def cmd_dataset_diff(args: argparse.Namespace) -> int:
    from ftui.curate import diff_datasets

    diff = diff_datasets(_open(args), args.a, args.b)
    data = diff.as_dict()

    def human() -> None:
        print(f"dataset {diff.a.id} -> {diff.b.id}: +{len(diff.added)} added, "
              f"-{len(diff.removed)} removed, {diff.kept} in both")
        for split, (a, b) in diff.counts.items():
            print(f"  {split:<10} {a:>6} -> {b:<6} ({b - a:+d})")
        for key, (a, b) in diff.spec_changes.items():
            print(f"  rule {key}: {a} -> {b}")

    _emit(args, data, human)
    return EXIT_OK


def cmd_dataset_pairs(args: argparse.Namespace) -> int:
    from ftui.curate.export import export_preferences

    report = export_preferences(_open(args), args.out, args.min_gap, redact=args.redact)
    n = report.written
    _emit(args, {"pairs": n, **report.as_dict()},
          lambda: print(f"wrote {n} preference pairs to {args.out}" + "".join(
              f"\n  left out {k}: {v}" for k, v in report.skipped.items())))
    return EXIT_OK


def _run_payload(run) -> dict[str, Any]:
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


def _run_line(run) -> str:
    progress = f"{run.step}/{run.total_steps}" if run.total_steps else f"{run.step}"
    best = f"{run.best_eval_loss:.4f}" if run.best_eval_loss is not None else "-"
    return (f"{run.id:>4}  {run.status:<11} {run.base_model[:24]:<24} dataset {run.dataset_id:<4} "
            f"step {progress:<11} best eval {best:<8} {run.created_at:%Y-%m-%d %H:%M}")


def cmd_train(args: argparse.Namespace) -> int:
    from ftui.config import load_settings
    from ftui.train.config import load_config
    from ftui.train.runs import create_run, get_run
    from ftui.train.worker import run_worker, spawn_detached

    settings = load_settings(args.db)
    config = load_config(args.config, args.set)
    store = _open(args)
    config, args.base = _apply_method(args, store, config)
    from ftui.train.distributed import is_distributed

    if is_distributed() and not args.detach:
        return _train_distributed(args, store, settings, config)
    run = create_run(store, args.dataset, args.base, config)
    if args.detach:
        from ftui.train.trainer import run_dir

        pid = spawn_detached(settings.database_url, run.id, run_dir(settings.home, run.id) / "worker.log")
        _emit(args, {**_run_payload(get_run(store, run.id)), "pid": pid},
              lambda: print(f"run {run.id} started in the background (pid {pid}); watch it with "
                            f"`ftui runs show {run.id}` or in the TUI (F3)"))
        return EXIT_OK
    run_worker(store, settings.home, once=True, only=run.id)
    run = get_run(store, run.id)
    if run.status in ("running", "paused"):  # it ended, but the store could not take its state
        from ftui.errors import FtuiError

        raise FtuiError(f"run {run.id} stopped, and the store could not record why (is the disk "
                        "full?)", f"free some disk space, then: ftui runs resume {run.id}")
    payload = _run_payload(run)

    def human() -> None:
        print(_run_line(run))
        if run.error:
            print(f"  error: {run.error}", file=sys.stderr)
        for key in ("first_train_loss", "final_train_loss", "final_eval_loss",
                    "tokens_per_second", "adapter_dir"):
            if payload.get(key) is not None:
                print(f"  {key.replace('_', ' ')}: {payload[key]}")

    _emit(args, payload, human)
    return {"completed": EXIT_OK, "cancelled": EXIT_SKIPPED}.get(run.status, EXIT_ERROR)


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
    _emit(args, {**_run_payload(run), "world_size": size},
          lambda: print(_run_line(run) + f"  ({size} processes)"))
    return {"completed": EXIT_OK, "cancelled": EXIT_SKIPPED}.get(run.status, EXIT_ERROR)


def cmd_runs(args: argparse.Namespace) -> int:
    from ftui.train import runs

    store = _open(args)
    action = args.runs_command
    if action == "list":
        items = runs.list_runs(store)
        _emit(args, {"runs": [_run_payload(r) for r in items]},
              lambda: print("\n".join(_run_line(r) for r in items) or
                            "no runs yet: ftui train --dataset ID --base tiny"))
        return EXIT_OK
    if action == "logs":
        lines = runs.events(store, int(args.id), limit=args.tail)
        _emit(args, {"run_id": int(args.id), "events": [
            {"time": e.created_at.isoformat(), "level": e.level, "message": e.message}
            for e in lines]},
            lambda: print("\n".join(f"{e.created_at:%H:%M:%S} {e.level:<5} {e.message}"
                                     for e in lines if e.level != "debug" or args.debug)))
        return EXIT_OK
    if action == "delete":
        return _delete_run(args, store)
    if action == "show":
        runs.mark_stale(store)
        run = runs.get_run(store, int(args.id))
    elif action == "cancel":
        run = runs.request_cancel(store, int(args.id))
    elif action == "pause":
        run = runs.request_pause(store, int(args.id), True)
    elif action == "unpause":
        run = runs.request_pause(store, int(args.id), False)
    else:  # resume
        run = runs.resume_run(store, int(args.id))
        if args.detach:
            from ftui.config import load_settings
            from ftui.train.trainer import run_dir
            from ftui.train.worker import spawn_detached

            settings = load_settings(args.db)
            spawn_detached(settings.database_url, run.id,
                           run_dir(settings.home, run.id) / "worker.log")
        elif not args.queue_only:
            from ftui.config import load_settings
            from ftui.train.worker import run_worker

            run_worker(store, load_settings(args.db).home, once=True, only=run.id)
            run = runs.get_run(store, run.id)

    def human() -> None:
        print(_run_line(run))
        if run.error:
            print(f"  {run.error}")
        for key, value in _run_payload(run).items():
            if key not in ("run_id", "status", "error") and value not in (None, ""):
                print(f"  {key.replace('_', ' ')}: {value}")

    _emit(args, _run_payload(run), human)
    if action == "resume" and not (args.detach or args.queue_only):  # it ran here: as train
        return {"completed": EXIT_OK, "cancelled": EXIT_SKIPPED}.get(run.status, EXIT_ERROR)
    return EXIT_OK


def _delete_run(args: argparse.Namespace, store) -> int:
    from ftui.config import load_settings
    from ftui.errors import FtuiError
    from ftui.train.runs import delete_run

    if not args.yes:
        raise FtuiError(f"deleting run {args.id} needs confirmation",
                        "add --yes (and --remove-files to delete its folder too)")
    result = delete_run(store, int(args.id), remove_files=args.remove_files,
                        home=load_settings(args.db).home)
    _emit(args, result, lambda: print(
        f"deleted run {result['deleted']}" + (f"; removed {result['removed_files']}"
                                             if result["removed_files"] else "")))
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    from ftui.config import load_settings
    from ftui.train.worker import run_worker

    done = run_worker(_open(args), load_settings(args.db).home, once=args.once, only=args.run)
    _emit(args, {"runs": done}, lambda: print(f"worker done: ran {len(done)} run(s)"))
    return EXIT_OK


def _add_training_commands(sub) -> None:
    p = sub.add_parser("train", help="fine-tune a LoRA adapter on a dataset version",
                       description="Create a training run and run it (in the foreground unless "
                       "--detach).")
    p.set_defaults(func=cmd_train)
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
    p.add_argument("--json", action="store_true", help="print one JSON object")
    runs_p = sub.add_parser("runs", help="list, show, cancel, pause, resume, delete training runs")
    rsub = runs_p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    for name, help_text in (("list", "list runs"), ("show", "one run"),
                            ("cancel", "stop at the next step, keeping the last checkpoint"),
                            ("pause", "pause a running run"), ("unpause", "continue a paused run"),
                            ("resume", "continue a cancelled, failed or interrupted run from its "
                                       "last checkpoint"),
                            ("logs", "the run's log"),
                            ("delete", "forget a run that is not running (its folder only "
                                       "with --remove-files)")):
        rp = rsub.add_parser(name, help=help_text, description=help_text)
        rp.set_defaults(func=cmd_runs)
        rp.add_argument("--json", action="store_true", help="print one JSON object")
        if name != "list":
            rp.add_argument("id")
        if name == "resume":
            rp.add_argument("--detach", action="store_true", help="resume in a background worker")
            rp.add_argument("--queue-only", action="store_true",
                            help="only queue it (a running worker or the TUI picks it up)")
        if name == "delete":
            rp.add_argument("--yes", action="store_true", help="confirm")
            rp.add_argument("--remove-files", action="store_true",
                            help="also delete the run's folder under $FTUI_HOME/runs")
        if name == "logs":
            rp.add_argument("--tail", type=int, default=200)
            rp.add_argument("--debug", action="store_true", help="include tracebacks")
    w = sub.add_parser("worker", help="run queued training runs, one at a time",
                       description="A headless training worker: runs queued runs one at a time.")
    w.set_defaults(func=cmd_worker)
    w.add_argument("--once", action="store_true", help="stop when no run is queued")
    w.add_argument("--run", type=int, help="run only this run")
    w.add_argument("--json", action="store_true", help="print one JSON object")


def _add_dataset_commands(sub, add) -> None:
    ds = sub.add_parser("dataset", help="build, inspect, compare and export dataset versions",
                        description="Datasets: frozen, cleaned, split training sets.")
    dsub = ds.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)

    def dadd(name, func, help_text):
        p = dsub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        return p

    p = dadd("build", cmd_dataset_build, "build a frozen dataset version from the store")
    p.add_argument("name")
    p.add_argument("--min-rating", type=int, default=4,
                   help="lowest rating kept; lower ratings always go (default 4; 0: any rating)")
    p.add_argument("--include-unrated", action="store_true", help="keep unrated interactions")
    p.add_argument("--judged-min", type=int, metavar="N",
                   help="also keep unrated interactions the judge scored N or more "
                   "(ftui judge run; its current judgement)")
    p.add_argument("--status", action="append", choices=["new", "accepted", "rejected"],
                   help="statuses kept (repeat; default new and accepted: rejected stays out)")
    p.add_argument("--mode", action="append", choices=REASONING_MODES, help="modes kept (repeat)")
    p.add_argument("--model", action="append", help="models kept (repeat)")
    p.add_argument("--source", action="append", help="sources kept (repeat)")
    p.add_argument("--tag", action="append", help="keep interactions with any of these tags")
    p.add_argument("--exclude-tag", action="append", help="drop interactions with this tag")
    p.add_argument("--since", help="created on or after this date (YYYY-MM-DD)")
    p.add_argument("--until", help="created before this date (YYYY-MM-DD)")
    p.add_argument("--min-tokens", type=int)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--over-length", choices=["drop", "truncate"], default="drop",
                   help="too-long examples: drop, or drop their oldest turns (default drop)")
    p.add_argument("--max-examples", type=int)
    p.add_argument("--system-prompt", choices=["keep", "mode"], default="keep",
                   help="keep the logged system prompt, or use the mode's standard one")
    p.add_argument("--tokenizer", default="approx",
                   help="tokenizer.json (or its folder) of the base model, or approx")
    p.add_argument("--redact", choices=["off", "redact", "drop"], default="redact")
    p.add_argument("--near-dup", default="0.85", help="Jaccard threshold, or off")
    p.add_argument("--val", type=float, default=0.1, help="validation fraction (default 0.1)")
    p.add_argument("--test", type=float, default=0.0, help="test fraction (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kind", choices=["sft", "preference", "unpaired"], default="sft",
                   help="sft: conversations; preference: chosen/rejected pairs (DPO, ORPO); "
                        "unpaired: replies labelled desirable or not (KTO)")
    p.add_argument("--pair-source", action="append", choices=["correction", "rating", "arena"],
                   help="where preferences come from (repeat; default all three)")
    p.add_argument("--min-rating-gap", type=int, default=2,
                   help="two rated answers to one prompt pair up from this gap (default 2)")
    p.add_argument("--desirable-min-rating", type=int, default=4,
                   help="unpaired: this rating or more is desirable (default 4)")
    p.add_argument("--undesirable-max-rating", type=int, default=2,
                   help="unpaired: this rating or less is undesirable (default 2)")
    dadd("list", cmd_dataset_list, "list dataset versions")
    p = dadd("show", cmd_dataset_show, "rules, counts and statistics of a version")
    p.add_argument("id", help="dataset id (or name: its newest version)")
    p.add_argument("--examples", type=int, default=3, help="sample examples in --json")
    p = dadd("export", cmd_dataset_export, "write a version out, one file per split")
    p.add_argument("id")
    p.add_argument("--format", required=True,
                   choices=["openai", "sharegpt", "alpaca", "hf", "trl"],
                   help="sft versions: openai, sharegpt, alpaca, hf; preference and unpaired "
                        "versions: trl or sharegpt (LLaMA-Factory)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--redact", choices=["off", "redact", "drop"], default="redact",
                   help="PII and secrets: replace (default), leave out the record, or keep")
    p = dadd("diff", cmd_dataset_diff, "what changed between two versions")
    p.add_argument("a")
    p.add_argument("b")
    p = dadd("pairs", cmd_dataset_pairs,
             "export preference pairs (two rated answers to one prompt) as JSONL for DPO")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--min-gap", type=int, default=1, help="rating difference needed (default 1)")
    p.add_argument("--redact", choices=["off", "redact", "drop"], default="redact",
                   help="PII and secrets: replace (default), leave out the pair, or keep")


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftui",
        description="Fine-tuning cockpit for an Ollama chat assistant. "
        "With no command, opens the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"ftui {__version__}")
    parser.add_argument("--db", metavar="URL",
                        help="store: a file path or SQLAlchemy URL (default: $FTUI_DATABASE_URL, "
                        "else $FTUI_HOME/ftui.db)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Callable, help_text: str, json_flag: bool = True):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON object")
        return p

    add("ui", cmd_ui, "open the terminal UI (the default)", json_flag=False)
    p = add("import", cmd_import, "import interaction files (JSONL, JSON arrays or parquet)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", default="auto",
                   choices=["auto", "openai", "sharegpt", "alpaca", "ftui"],
                   help="record shape (default: detected per file)")
    p.add_argument("--mode", choices=REASONING_MODES,
                   help="reasoning mode for records that do not carry one (default: standard)")
    p.add_argument("--source", help="source label for records that do not carry one "
                   "(default: import:<file name>)")
    add("demo", cmd_demo, "load the sample interactions shipped with ftui")
    add("stats", cmd_stats, "counts by status, rating, mode, model and source")
    p = add("export", cmd_export, "write every interaction to a JSONL file in ftui's format")
    p.add_argument("out", metavar="FILE")
    _add_dataset_commands(sub, add)
    _add_training_commands(sub)
    from ftui.cli_models import add_chat_command, add_model_commands

    add_model_commands(sub)
    add_chat_command(sub, ("auto", *REASONING_MODES))
    from ftui.cli_ab import add_ab_commands

    add_ab_commands(sub)
    from ftui.cli_judge import add_judge_commands

    add_judge_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        args.func = cmd_ui
    from ftui.errors import FtuiError

    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError as err:
        if _stdout_gone():
            return _closed_pipe()
        return _fail(_unexpected(err, args))  # a socket (Ollama, a client), not our reader
    except FtuiError as err:
        return _fail(str(err))
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence: a message, not a traceback
        if os.environ.get("FTUI_DEBUG"):
            raise
        return _fail(_unexpected(err, args))


# 128 + SIGPIPE, what a shell reports for a Unix tool whose reader went away (`| head -1`)
EXIT_PIPE = 141


def _stdout_gone() -> bool:
    """Whether the reader of stdout went away (poll reports an error on a widowed pipe)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() (Windows), or no real stdout
        return True


def _closed_pipe() -> int:
    """The reader of our output went away: stop quietly, as Unix tools do. Point stdout at
    /dev/null so that the interpreter's final flush does not complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return EXIT_PIPE


def _fail(message: str) -> int:
    with contextlib.suppress(BrokenPipeError):
        print(f"ftui: {message}", file=sys.stderr)
    return EXIT_ERROR


def _unexpected(err: Exception, args: argparse.Namespace) -> str:
    """An exception no handler turned into an FtuiError: name its cause and a fix anyway."""
    import errno

    from sqlalchemy.exc import DatabaseError

    from ftui.config import load_settings
    from ftui.store.db import masked_url, store_failure

    try:
        url = load_settings(args.db).database_url
    except Exception:  # noqa: BLE001 - the message must come out anyway
        url = args.db or "the store"
    if isinstance(err, DatabaseError):
        return str(store_failure(err, url))
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" ({err.filename})" if err.filename else ""
        return f"the disk is full{where}\n  fix: free some disk space, then run the command again"
    if isinstance(err, OSError):
        where = f" {err.filename}" if err.filename else ""
        return (f"cannot use{where}: {err.strerror or err}\n"
                "  fix: check the path, its permissions and free disk space")
    text = str(err).replace(url, masked_url(url))
    return (f"unexpected {type(err).__name__}: {text}\n  fix: this is a bug in ftui; run it again "
            "with FTUI_DEBUG=1 for the traceback, and report it")
