"""The regression gate on the demo model (SmolLM2-135M, fp32, CPU) with its default settings: how
long `ftui models gate` takes for a candidate against its base, phase by phase.

The candidate is a LoRA adapter on demo whose B matrices are zero (peft's start), registered with
a demo dataset version as training would: it answers as its base does, so every figure passes and
the time is the gate's own (two models over the validation split, the general check set, and the
text perplexity). Answers go through the batched generation path (inference.batch). A second,
smaller gate (--compare-items) shows how the time grows with the general set's size.

    python tests/benchmarks/bench_gate.py [--general-items 100] [--compare-items 20] [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ftui import registry  # noqa: E402
from ftui.curate import DatasetSpec, build_dataset  # noqa: E402
from ftui.demo import load_demo  # noqa: E402
from ftui.registry.gate import DEFAULTS, run_gate  # noqa: E402
from ftui.store import RegisteredModel, open_store  # noqa: E402


def make_candidate(store, home: Path) -> RegisteredModel:
    from peft import LoraConfig, get_peft_model

    from ftui.train.base import load_base

    version, _, _ = build_dataset(store, "gate-bench", DatasetSpec(min_rating=4))
    tok, net = load_base("demo", home)
    peft = get_peft_model(net, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    peft.save_pretrained(home / "cand")
    tok.save_pretrained(home / "cand")
    return registry.add_model(store, RegisteredModel(
        name="cand", kind="adapter", base_model="demo", path=str(home / "cand"),
        dataset_id=version.id), "bench candidate")


def _mark(marks: list, started: float, line: str) -> None:
    marks.append((time.perf_counter() - started, line))
    print(f"  {marks[-1][0]:>7.1f} s  {line}", flush=True)  # live: a slow phase shows itself


def timed_gate(store, model_id: int, home: Path, items: int) -> dict:
    marks: list[tuple[float, str]] = []
    started = time.perf_counter()
    result = run_gate(store, model_id, home=home, host="http://127.0.0.1:9",
                      settings_extra={}, general_items=items,
                      on_line=lambda line: _mark(marks, started, line),
                      keep=False)
    total = time.perf_counter() - started
    return {"general_items": items, "seconds": round(total, 1),
            "passed": result["passed"], "figures": len(result["figures"]),
            "phases": [(round(t, 1), line) for t, line in marks]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--general-items", type=int, default=int(DEFAULTS["general_items"][0]))
    ap.add_argument("--compare-items", type=int, default=20, help="0: no second gate")
    ap.add_argument("--home", type=Path, default=None, help="reuse a built demo model here")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="ftui-bench-gate-"))
    home.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{home / 'bench.db'}")
    load_demo(store)
    cand = make_candidate(store, home)
    rows = [timed_gate(store, cand.id, home, args.general_items)]
    if args.compare_items:
        rows.append(timed_gate(store, cand.id, home, args.compare_items))
    print(f"{'general items':>13} {'seconds':>8} {'passed':>6}")
    for r in rows:
        print(f"{r['general_items']:>13} {r['seconds']:>8.1f} {r['passed']!s:>6}")
    out = {"bench": "gate", "model": "demo", "general_items": args.general_items,
           "seconds": rows[0]["seconds"], "passed": rows[0]["passed"]}
    if args.compare_items:
        out["smaller"] = {"general_items": args.compare_items, "seconds": rows[1]["seconds"],
                          "ratio": round(rows[0]["seconds"] / max(rows[1]["seconds"], 1e-9), 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
