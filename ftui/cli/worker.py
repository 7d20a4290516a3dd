"""`ftui worker`: a headless training worker that runs queued runs one at a time."""

from __future__ import annotations

import argparse

from ftui.cli.common import EXIT_OK, emit, leaf, settings_for, store_for

ORDER = 32


def cmd_worker(args: argparse.Namespace) -> int:
    from ftui.train.worker import run_worker

    done = run_worker(store_for(args), settings_for(args).home, once=args.once, only=args.run)
    emit(args, {"runs": done}, lambda: print(f"worker done: ran {len(done)} run(s)"))
    return EXIT_OK


def register(sub) -> None:
    p = leaf(sub, "worker", cmd_worker, help="run queued training runs, one at a time",
             description="A headless training worker: runs queued runs one at a time.")
    p.add_argument("--once", action="store_true", help="stop when no run is queued")
    p.add_argument("--run", type=int, help="run only this run")
