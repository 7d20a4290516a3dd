"""`ftui workers`: the training workers sharing this store, their GPUs and what they run."""

from __future__ import annotations

import argparse

from ftui.cli.common import EXIT_OK, emit, leaf, store_for

ORDER = 33


def worker_line(w: dict) -> str:
    from ftui import fmt

    age = w["heartbeat_age_s"]
    beat = f"{fmt.duration(age)} ago" if age is not None else "never"
    gpus = (f"{w['gpu_count']}x {w['gpu_kind']}" + (f" {w['gpu_memory_mb'] / 1024:.0f} GiB"
                                                     if w["gpu_memory_mb"] else "")
            if w["gpu_count"] else "no GPU")
    run = f"run {w['current_run']}" if w["current_run"] else "-"
    return f"{w['name']:<28} {w['state']:<9} beat {beat:<10} {run:<9} {gpus}"


def cmd_workers(args: argparse.Namespace) -> int:
    from ftui.train.worker import list_workers

    items = list_workers(store_for(args), recent_s=None if args.all else 3600)
    emit(args, {"workers": items},
         lambda: print("\n".join(worker_line(w) for w in items) or
                       "no workers: start one with `ftui worker` (on each GPU machine)"))
    return EXIT_OK


def register(sub) -> None:
    p = leaf(sub, "workers", cmd_workers, help="training workers: heartbeat, GPUs, current run",
             description="The `ftui worker` processes sharing this store (on any machine): "
                         "state, last heartbeat (the database's clock), GPUs, current run. "
                         "Workers stopped or gone for over an hour are left out unless --all.")
    p.add_argument("--all", action="store_true", help="also workers gone long ago")
