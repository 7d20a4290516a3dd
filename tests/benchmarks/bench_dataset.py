"""Dataset build over a big store: per-step times, and near-dedup scaling (must be ~linear).

Builds (once, cached under --workdir) a store of --rows synthetic interactions (mostly
distinct, 5% planted near copies: see synth.varied_records), then runs
`ftui dataset build`'s pipeline (select, redact, exact and near dedup, split, stats; tokens
approximated, as the issue asks "without tokenization") and freezes the version. Near-dedup is
then timed alone on 10k, 30k and 100k examples. Target (issue 3): the build under 60 s at 100k.

    python tests/benchmarks/bench_dataset.py [--rows 100000] [--workdir /tmp/ftui-bench]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_browse import build_store  # noqa: E402
from synth import records, varied_records  # noqa: E402

from ftui.curate import DatasetSpec, build_dataset  # noqa: E402
from ftui.curate.dedup import NearDuplicates, normalized_text  # noqa: E402


def near_dedup_seconds(n: int, source=varied_records) -> float:
    texts = [normalized_text(r["messages"]) for r in source(n, seed=2)]
    index = NearDuplicates(0.85)
    t = time.perf_counter()
    for i, text in enumerate(texts):
        index.seen_before(i, text)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--workdir", default="/tmp/ftui-bench")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    store = build_store(work / f"dataset-varied-{args.rows}.db", args.rows, varied_records)
    spec = DatasetSpec(min_rating=None, include_unrated=True, val=0.1, test=0.05)
    t = time.perf_counter()
    version, result, created = build_dataset(store, f"bench-{time.time():.0f}", spec)
    total = time.perf_counter() - t
    steps = dict(result.seconds)
    steps["freeze (write version)"] = round(total - sum(result.seconds.values()), 3)
    print(f"{result.matched:,} interactions -> {len(result.examples):,} examples "
          f"(removed: {', '.join(f'{k} {v:,}' for k, v in result.removed.items())})")
    print(f"{'step':<26}{'seconds':>9}")
    for step, sec in steps.items():
        print(f"{step:<26}{sec:>9.2f}")
    print(f"{'total':<26}{total:>9.2f}   (target < 60)")
    scaling = {n: near_dedup_seconds(n) for n in (10_000, 30_000, 100_000)}
    # Worst case: 100k variations of the demo's 276 answers, dense clusters of look-alikes.
    dense = {n: near_dedup_seconds(n, records) for n in (10_000, 100_000)}
    base = scaling[10_000] / 10_000
    print(f"\n{'near-dedup alone':<18}{'seconds':>9}{'us/example':>12}{'vs 10k':>8}")
    for n, sec in scaling.items():
        print(f"{n:>10,} examples{sec:>9.2f}{sec / n * 1e6:>12.1f}{(sec / n) / base:>8.2f}x")
    dense_ratio = (dense[100_000] / 100_000) / (dense[10_000] / 10_000)
    print(f"dense look-alikes: 10k {dense[10_000]:.2f} s, 100k {dense[100_000]:.2f} s "
          f"({dense_ratio:.2f}x per example)")
    per_item_ratio = (scaling[100_000] / 100_000) / base
    print(json.dumps({
        "bench": "dataset_build", "rows": result.matched, "examples": len(result.examples),
        "total_s": round(total, 2), "steps_s": steps, "target_s": 60,
        "near_dedup_s": {str(k): round(v, 2) for k, v in scaling.items()},
        "near_dedup_per_item_ratio_100k_vs_10k": round(per_item_ratio, 2),
        "dense_near_dedup_s": {str(k): round(v, 2) for k, v in dense.items()},
        "dense_per_item_ratio": round(dense_ratio, 2),
        "pass": total < 60 and per_item_ratio < 2.0,
    }))


if __name__ == "__main__":
    main()
