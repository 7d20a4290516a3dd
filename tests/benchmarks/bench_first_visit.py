"""First visit of each section (issue 11): key -> the first frame that shows the new screen, for
F2..F6 in a fresh app on the demo data (with datasets, runs, models and experiments: the seed of
bench_ui_training.py), after F1's first paint and `--settle` seconds; without and with the
sections built in the background after the first paint (FtuiApp prebuild). Repeated `--rounds`
times, each in a new app; prints the median and the worst per screen, and a second visit for
comparison.

    python tests/benchmarks/bench_first_visit.py [--rounds 3] [--settle 2] [--size 160x48]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_ui_training import seed  # noqa: E402

from ftui.config import Settings  # noqa: E402
from ftui.store import open_store  # noqa: E402

SECTIONS = (("f2", "DatasetsScreen"), ("f3", "TrainingScreen"), ("f4", "ModelsScreen"),
            ("f5", "ExperimentsScreen"), ("f6", "PlaygroundScreen"))


class ScreenClock:
    """When each frame was produced, and of which screen."""

    def __init__(self, app) -> None:
        self.frames: list[tuple[float, str]] = []
        display = app._display

        def timed_display(screen, renderable) -> None:
            if renderable is not None:
                if hasattr(renderable, "render_segments"):
                    renderable.render_segments(app.console)
                self.frames.append((time.perf_counter(), type(screen).__name__))
            display(screen, renderable)

        app._display = timed_display

    def first_of(self, name: str, after: float) -> float | None:
        return next((t - after for t, n in self.frames if t > after and n == name), None)


async def visit(pilot, clock, key: str, name: str) -> float | None:
    t = time.perf_counter()
    await pilot.press(key)
    deadline = time.monotonic() + 10
    while clock.first_of(name, t) is None and time.monotonic() < deadline:
        await pilot.pause(0.005)
    return clock.first_of(name, t)


async def one_round(store_url: str, home: Path, settle: float, size: tuple[int, int],
                    prebuild: bool) -> dict:
    from ftui.screens.app import FtuiApp

    home = Path(tempfile.mkdtemp(dir=home))  # its own UI state: every round starts on F1
    app = FtuiApp(open_store(store_url), Settings(home=home, database_url=store_url),
                  prebuild=prebuild)
    clock = ScreenClock(app)
    first, second = {}, {}
    async with app.run_test(size=size) as pilot:
        t0 = time.perf_counter()
        while clock.first_of("InteractionsScreen", t0 - 60) is None:
            if time.perf_counter() - t0 > 30:
                raise SystemExit(f"no frame of F1 in 30 s: {clock.frames[-3:]}")
            await pilot.pause(0.01)
        built = time.perf_counter()
        while prebuild and len(app.screen_stack) and len(app._built_modes) < len(app.MODES) \
                or prebuild and app._building is not None:
            await pilot.pause(0.05)
        built = time.perf_counter() - built
        await pilot.pause(settle)
        for key, name in SECTIONS:
            first[name] = await visit(pilot, clock, key, name)
            await pilot.pause(0.5)
        await visit(pilot, clock, "f1", "InteractionsScreen")
        await pilot.pause(0.5)
        for key, name in SECTIONS:
            second[name] = await visit(pilot, clock, key, name)
            await pilot.pause(0.3)
    return {"first": first, "second": second, "built_s": built}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--size", default="160x48")
    args = ap.parse_args()
    size = tuple(int(x) for x in args.size.split("x"))
    home = Path(tempfile.mkdtemp())
    store = open_store(f"sqlite:///{home / 'ui.db'}")
    seed(store)
    store.close()
    for prebuild in (False, True):
        rounds = [asyncio.run(one_round(f"sqlite:///{home / 'ui.db'}", home, args.settle, size,
                                        prebuild)) for _ in range(args.rounds)]
        report(rounds, args, prebuild)


def report(rounds: list[dict], args, prebuild: bool) -> None:
    if prebuild:
        print(f"with the sections built in the background (done "
              f"{statistics.median(r['built_s'] for r in rounds):.1f} s after the first paint)")
    else:
        print("without building in the background (each section built on its first visit)")
    print(f"first visit, key -> first frame of the screen ({args.rounds} fresh apps, "
          f"{args.size}, {args.settle:g} s after the first paint); ms median / worst; "
          "second visit median")
    for _, name in SECTIONS:
        firsts = [r["first"][name] for r in rounds if r["first"][name] is not None]
        seconds = [r["second"][name] for r in rounds if r["second"][name] is not None]
        print(f"  {name:<18} {statistics.median(firsts) * 1000:7.0f} / "
              f"{max(firsts) * 1000:5.0f}   second {statistics.median(seconds) * 1000:5.0f}")


if __name__ == "__main__":
    main()
