"""Import speed: `ftui import` against `sqlite-utils insert --nl` on the same JSONL file.

Both run as command-line programs on a fresh database, alternated, best of R rounds each.
ftui also validates every record, normalizes it and computes its content hash.

    python tests/benchmarks/bench_import.py [--rows 200000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from synth import write_jsonl  # noqa: E402


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    bindir = Path(sys.executable).parent
    sqlite_utils = shutil.which("sqlite-utils", path=str(bindir)) or shutil.which("sqlite-utils")
    if not sqlite_utils:
        sys.exit("sqlite-utils is not installed: pip install -e '.[bench]'")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_jsonl(tmp / "interactions.jsonl", args.rows)
        size_mb = data.stat().st_size / 1e6
        best = {"ftui": float("inf"), "sqlite-utils": float("inf")}
        for r in range(args.rounds):
            for name in ("sqlite-utils", "ftui") if r % 2 == 0 else ("ftui", "sqlite-utils"):
                db = tmp / f"{name}-{r}.db"
                cmd = ([sqlite_utils, "insert", str(db), "interactions", str(data), "--nl"]
                       if name == "sqlite-utils"
                       else [str(bindir / "ftui"), "--db", str(db), "import", str(data), "--json"])
                best[name] = min(best[name], timed(cmd))
    rates = {k: args.rows / v for k, v in best.items()}
    ratio = rates["ftui"] / rates["sqlite-utils"]
    print(f"{args.rows:,} interactions, {size_mb:.0f} MB JSONL, best of {args.rounds}")
    print(f"{'tool':<14}{'seconds':>10}{'rows/s':>12}")
    for name in ("sqlite-utils", "ftui"):
        print(f"{name:<14}{best[name]:>10.2f}{rates[name]:>12,.0f}")
    print(f"ratio ftui / sqlite-utils: {ratio:.2f}x (target >= 1.0x)")
    print(json.dumps({"bench": "import", "rows": args.rows, "ftui_rows_per_s": round(rates["ftui"]),
                      "sqlite_utils_rows_per_s": round(rates["sqlite-utils"]),
                      "ratio": round(ratio, 3), "target": 1.0, "pass": ratio >= 1.0}))


if __name__ == "__main__":
    main()
