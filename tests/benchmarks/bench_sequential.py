"""Peeking (issue 14): the false positive rate of the experiment report's sequential test next to
a fixed-horizon test read the same way, and the power of each against a true effect of 0.3
stars. Each experiment assigns rated units to A or B at random (B's share 1/2), with ratings
1-5 drawn from [0.1, 0.1, 0.2, 0.3, 0.3] (mean 3.6, sd 1.28); B's ratings are raised one star
with the probability that shifts the mean by the effect. Both tests are read after every
`--every` outcomes up to `--outcomes`; a test "fires" when any read is significant at 5%.
The sequential figures come from the report's own code (ftui.ab.stats.sequential_moments)
through the simulation in tests/test_sequential.py.

    python tests/benchmarks/bench_sequential.py [--experiments 1000] [--outcomes 2000]
        [--every 10] [--effect 0.3] [--tuning N]   (default N*: the report's for min 100/mde 0.3)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from test_sequential import simulate  # noqa: E402

from ftui.ab.report import sequential_tuning  # noqa: E402
from ftui.store import Experiment  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=1000)
    ap.add_argument("--outcomes", type=int, default=2000)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--effect", type=float, default=0.3)
    ap.add_argument("--tuning", type=float, default=sequential_tuning(
        Experiment(min_samples=100, mde=0.3)), help="N*: total units where the sequence is "
        "tightest (default: the report's, for the default minimum 100 and mde 0.3)")
    args = ap.parse_args()
    started = time.perf_counter()
    null = simulate(args.experiments, args.outcomes, 0.0, args.tuning, args.every, seed=0)
    power = simulate(args.experiments, args.outcomes, args.effect, args.tuning, args.every,
                     seed=1)
    once_null = simulate(args.experiments, args.outcomes, 0.0, args.tuning, args.outcomes,
                         seed=0)
    once = simulate(args.experiments, args.outcomes, args.effect, args.tuning,
                    args.outcomes, seed=1)  # read once, at the end: the fixed test's own power
    wall = time.perf_counter() - started
    print(f"{args.experiments} experiments, read every {args.every} outcomes up to "
          f"{args.outcomes}; N* = {args.tuning:g}")
    print(f"{'test':<34}{'false positives (A/A)':>22}{f'power (+{args.effect} stars)':>22}")
    print(f"{'sequential (always valid)':<34}{null['sequential']:>22.1%}"
          f"{power['sequential']:>22.1%}")
    print(f"{'fixed-horizon, peeking':<34}{null['fixed']:>22.1%}{power['fixed']:>22.1%}")
    print(f"{'fixed-horizon, read once at end':<34}{once_null['fixed']:>22.1%}"
          f"{once['fixed']:>22.1%}")
    print(json.dumps({"bench": "sequential", "experiments": args.experiments,
                      "outcomes": args.outcomes, "every": args.every, "tuning": args.tuning,
                      "effect": args.effect,
                      "false_positive_sequential": null["sequential"],
                      "false_positive_fixed_peeking": null["fixed"],
                      "power_sequential": power["sequential"],
                      "power_fixed_peeking": power["fixed"],
                      "false_positive_fixed_once": once_null["fixed"],
                      "power_fixed_once": once["fixed"], "wall_s": round(wall, 2)}))


if __name__ == "__main__":
    main()
