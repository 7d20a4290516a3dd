"""UI responsiveness while a run trains in the app's own worker thread (issue 4).

Starts the app on the demo data, queues a `demo` run (SmolLM2-135M, real training on this CPU)
in the in-app worker, waits until it is past its first step, then measures key -> first frame
for 50 moves in the Interactions list and 20 refreshes of the Training view. Target: p95 <= 100 ms.

    python tests/benchmarks/bench_ui_training.py [--base demo]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_browse import FrameClock, pct  # noqa: E402

from ftui.config import Settings  # noqa: E402
from ftui.curate import DatasetSpec, build_dataset  # noqa: E402
from ftui.demo import load_demo  # noqa: E402
from ftui.store import open_store  # noqa: E402
from ftui.train import runs  # noqa: E402
from ftui.train.config import RunConfig  # noqa: E402


async def drive(base: str) -> dict:
    from ftui.screens.app import FtuiApp

    tmp = tempfile.mkdtemp()
    home = Path(tmp)
    store = open_store(f"sqlite:///{home / 'ui.db'}")
    load_demo(store)
    version, _, _ = build_dataset(store, "ui", DatasetSpec(min_rating=None, include_unrated=True))
    app = FtuiApp(store, Settings(home=home, database_url=store.url))
    clock = FrameClock(app)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.5)
        run = runs.create_run(store, version.id, base,
                              RunConfig(max_steps=200, batch_size=4, max_seq_len=512).validate())
        app.train_in_app(run.id)
        while runs.get_run(store, run.id).step < 1:
            await pilot.pause(0.2)
        moves = []
        for i in range(50):
            t = time.perf_counter()
            await pilot.press("j" if i < 40 else "k")
            await pilot.pause(0.12)
            moves.append(clock.first_after(t))
        await pilot.press("f3")
        await pilot.pause(1.0)
        views = []
        for _ in range(20):
            t = time.perf_counter()
            await pilot.press("down" if _ % 2 == 0 else "up")
            await pilot.pause(0.12)
            views.append(clock.first_after(t))
        step = runs.get_run(store, run.id).step
        runs.request_cancel(store, run.id)
        app.training_worker.stop_event.set()
        app.training_worker.join(timeout=300)  # torch must not be mid-step at shutdown
    return {"moves": moves, "views": views, "step": step, "status": "trained during the test"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="demo")
    args = ap.parse_args()
    res = asyncio.run(drive(args.base))
    print(f"a {args.base} run trained in the app's worker thread (reached step {res['step']})")
    print(f"{'measure':<36}{'median ms':>10}{'p95 ms':>9}{'target':>8}")
    out = {"bench": "ui_while_training", "base": args.base, "step_reached": res["step"]}
    ok = True
    for key, label in (("moves", "Interactions j/k (key->repaint)"),
                       ("views", "Training list up/down (key->repaint)")):
        vals = res[key]
        med, p95 = statistics.median(vals) * 1000, pct(vals, 95) * 1000
        print(f"{label:<36}{med:>10.1f}{p95:>9.1f}{'<=100':>8}")
        out[key] = {"median_ms": round(med, 1), "p95_ms": round(p95, 1)}
        ok = ok and p95 <= 100
    out["pass"] = ok
    print(json.dumps(out))


if __name__ == "__main__":
    main()
