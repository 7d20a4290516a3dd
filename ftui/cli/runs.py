"""`ftui runs ...`: list, show, cancel, pause, resume, read and delete training runs."""

from __future__ import annotations

import argparse

from ftui import fmt
from ftui.cli.common import EXIT_OK, emit, group, leaf, settings_for, store_for
from ftui.cli.train import finished_code, run_line, run_payload

ORDER = 31


def _run_id(args: argparse.Namespace) -> int:
    """The run id typed, as a number (`runs show abc` was an unexpected ValueError)."""
    try:
        return int(args.id)
    except ValueError:
        from ftui.errors import FtuiError

        raise FtuiError(f"no run {args.id!r}: run ids are whole numbers",
                        "see the ids with: ftui runs list") from None


def _print_run(args: argparse.Namespace, run, extra: dict | None = None) -> None:
    payload = {**run_payload(run), **(extra or {})}

    def human() -> None:
        print(run_line(run))
        if run.error:
            print(f"  {run.error}")
        for key, value in payload.items():
            if key not in ("run_id", "status", "error") and value not in (None, ""):
                print(f"  {key.replace('_', ' ')}: {fmt.metric(key, value)}")

    emit(args, payload, human)


def cmd_runs_list(args: argparse.Namespace) -> int:
    from ftui.train import runs

    items = runs.list_runs(store_for(args))
    emit(args, {"runs": [run_payload(r) for r in items]},
         lambda: print("\n".join(run_line(r) for r in items) or
                       "no runs yet: ftui train --dataset ID --base tiny"))
    return EXIT_OK


def cmd_runs_show(args: argparse.Namespace) -> int:
    from ftui.train import runs
    from ftui.train.worker import waiting_reason

    store = store_for(args)
    runs.mark_stale(store)
    run = runs.get_run(store, _run_id(args))
    # a queued run asking for GPUs no live worker has (several workers share the queue)
    _print_run(args, run, {"needs": runs.gpu_needs(run.config) or None,
                           "waiting": waiting_reason(store, run)})
    return EXIT_OK


def cmd_runs_cancel(args: argparse.Namespace) -> int:
    from ftui.train import runs

    _print_run(args, runs.request_cancel(store_for(args), _run_id(args)))
    return EXIT_OK


def cmd_runs_pause(args: argparse.Namespace) -> int:
    from ftui.train import runs

    _print_run(args, runs.request_pause(store_for(args), _run_id(args), True))
    return EXIT_OK


def cmd_runs_unpause(args: argparse.Namespace) -> int:
    from ftui.train import runs

    _print_run(args, runs.request_pause(store_for(args), _run_id(args), False))
    return EXIT_OK


def cmd_runs_resume(args: argparse.Namespace) -> int:
    from ftui.train import runs

    store = store_for(args)
    run = runs.resume_run(store, _run_id(args))
    if args.detach:
        from ftui.train.trainer import run_dir
        from ftui.train.worker import spawn_detached

        settings = settings_for(args)
        spawn_detached(settings.database_url, run.id,
                       run_dir(settings.home, run.id) / "worker.log")
    elif not args.queue_only:
        from ftui.train.worker import run_worker

        run_worker(store, settings_for(args).home, once=True, only=run.id)
        run = runs.get_run(store, run.id)
    _print_run(args, run)
    if not (args.detach or args.queue_only):  # it ran here: exit as train does
        return finished_code(run)
    return EXIT_OK


def cmd_runs_logs(args: argparse.Namespace) -> int:
    from ftui.train import runs

    store = store_for(args)
    run = runs.get_run(store, _run_id(args))  # a wrong id is an error, not an empty log
    lines = runs.events(store, run.id, limit=args.tail)
    emit(args, {"run_id": _run_id(args), "events": [
        {"time": e.created_at.isoformat(), "level": e.level, "message": e.message}
        for e in lines]},
        lambda: print("\n".join(f"{e.created_at:%H:%M:%S} {e.level:<5} {e.message}"
                                for e in lines if e.level != "debug" or args.debug)))
    return EXIT_OK


def cmd_runs_delete(args: argparse.Namespace) -> int:
    from ftui.errors import FtuiError
    from ftui.train.runs import delete_run

    store = store_for(args)
    if not args.yes:
        raise FtuiError(f"deleting run {args.id} needs confirmation",
                        "add --yes (and --remove-files to delete its folder too)")
    result = delete_run(store, _run_id(args), remove_files=args.remove_files,
                        home=settings_for(args).home)
    emit(args, result, lambda: print(
        f"deleted run {result['deleted']}" + (f"; removed {result['removed_files']}"
                                             if result["removed_files"] else "")))
    return EXIT_OK


def register(sub) -> None:
    rsub = group(sub, "runs", help="list, show, cancel, pause, resume, delete training runs")
    leaf(rsub, "list", cmd_runs_list, help="list runs")
    for name, handler, text in (
            ("show", cmd_runs_show, "one run"),
            ("cancel", cmd_runs_cancel, "stop at the next step, keeping the last checkpoint"),
            ("pause", cmd_runs_pause, "pause a running run"),
            ("unpause", cmd_runs_unpause, "continue a paused run")):
        leaf(rsub, name, handler, help=text).add_argument("id")
    p = leaf(rsub, "resume", cmd_runs_resume,
             help="continue a cancelled, failed or interrupted run from its last checkpoint")
    p.add_argument("id")
    p.add_argument("--detach", action="store_true", help="resume in a background worker")
    p.add_argument("--queue-only", action="store_true",
                   help="only queue it (a running worker or the TUI picks it up)")
    p = leaf(rsub, "logs", cmd_runs_logs, help="the run's log")
    p.add_argument("id")
    p.add_argument("--tail", type=int, default=200)
    p.add_argument("--debug", action="store_true", help="include tracebacks")
    p = leaf(rsub, "delete", cmd_runs_delete,
             help="forget a run that is not running (its folder only with --remove-files)")
    p.add_argument("id")
    p.add_argument("--yes", action="store_true", help="confirm")
    p.add_argument("--remove-files", action="store_true",
                   help="also delete the run's folder under $FTUI_HOME/runs (refused while a "
                   "registered model uses files in it)")
