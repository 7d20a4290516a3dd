"""Start-up: `ftui --help` and the TUI's first paint on an empty store, as a user starts them.

Both are timed as fresh processes (interpreter start included), best and median of --runs,
against `python -c pass` as the floor. Targets (issue 2): --help <= 0.5 s, first paint <= 2 s.

    python tests/benchmarks/bench_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_PAINT = r"""
import asyncio, sys, time
t0 = float(sys.argv[1])
from pathlib import Path
from ftui.config import load_settings
from ftui.store import open_store
from ftui.screens.app import FtuiApp

async def main():
    settings = load_settings()
    app = FtuiApp(open_store(settings.database_url), settings)
    painted = []
    display = app._display
    def timed(screen, renderable):
        if renderable is not None and not painted:
            renderable.render_segments(app.console) if hasattr(renderable, "render_segments") else None
            painted.append(time.time())
        display(screen, renderable)
    app._display = timed
    async with app.run_test(size=(160, 48)) as pilot:
        while not painted:
            await asyncio.sleep(0.001)
    print(painted[0] - t0)

asyncio.run(main())
"""


def run(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "FTUI_HOME": home}
        env.pop("FTUI_DATABASE_URL", None)
        floor = [run([sys.executable, "-c", "pass"], env) for _ in range(args.runs)]
        helps = [run([str(bindir / "ftui"), "--help"], env) for _ in range(args.runs)]
        paints = []
        for _ in range(args.runs):
            t0 = time.time()
            out = subprocess.run([sys.executable, "-c", FIRST_PAINT, str(t0)], env=env,
                                 check=True, capture_output=True, text=True)
            paints.append(float(out.stdout.strip().splitlines()[-1]))
    rows = [("python -c pass (floor)", floor, None), ("ftui --help", helps, 0.5),
            ("TUI first paint, empty store", paints, 2.0)]
    print(f"{'measure':<32}{'best s':>8}{'median s':>10}{'target':>8}")
    out = {"bench": "startup"}
    for name, values, target in rows:
        print(f"{name:<32}{min(values):>8.3f}{statistics.median(values):>10.3f}"
              f"{('<=' + str(target)) if target else '':>8}")
        out[name.split(" (")[0].split(",")[0].replace(" ", "_").replace("-", "")] = {
            "best_s": round(min(values), 3), "median_s": round(statistics.median(values), 3),
            "target_s": target}
    out["pass"] = statistics.median(helps) <= 0.5 and statistics.median(paints) <= 2.0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
