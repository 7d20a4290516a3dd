"""`ftui worker`: a headless training worker that runs queued runs one at a time."""

from __future__ import annotations

import argparse

from ftui.cli.common import EXIT_OK, emit, leaf, settings_for, store_for

ORDER = 32


def cmd_worker(args: argparse.Namespace) -> int:
    import sys

    from ftui.train.worker import run_worker

    store, server = store_for(args), None
    if args.metrics_port is not None:  # Prometheus: this worker's runs and GPUs
        from ftui.metrics import serve_worker_metrics

        server, _ = serve_worker_metrics(store, args.metrics_port)
        host, port = server.server_address[:2]
        print(f"worker metrics on http://{host}:{port}/metrics", file=sys.stderr, flush=True)
    try:
        done = run_worker(store, settings_for(args).home, once=args.once, only=args.run)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    emit(args, {"runs": done}, lambda: print(f"worker done: ran {len(done)} run(s)"))
    return EXIT_OK


def register(sub) -> None:
    p = leaf(sub, "worker", cmd_worker, help="run queued training runs, one at a time",
             description="A headless training worker: runs queued runs one at a time.")
    p.add_argument("--once", action="store_true", help="stop when no run is queued")
    p.add_argument("--run", type=int, help="run only this run")
    p.add_argument("--metrics-port", metavar="[HOST:]PORT",
                   help="serve Prometheus metrics (step, loss, tokens/s, GPU) on this port "
                        "(127.0.0.1 unless HOST is given)")
