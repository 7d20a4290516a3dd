"""Evaluation's generation on the demo model (SmolLM2-135M, fp32, CPU): batched vs one prompt at
a time, on the same prompts in one run, through ftui's own path (`inference.batch.generate_many`
with batch_size=B and batch_size=1; greedy).

The prompts are the demo data's conversations up to their last reply, as evaluation asks them.
Each group of B prompts runs batched and then one at a time, alternating, so a change in the
machine's load hits both sides alike. Figures: tokens/s of each side (all answers' tokens over
the time spent), their ratio (target >= 3.5x, goal 4x at B=8), and whether every answer is token
for token the same (any that differ are listed with the first differing token).

    python tests/benchmarks/bench_eval.py [--prompts 16] [--new-tokens 48] [--batch 8]
                                          [--threads N] [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ftui.conversation import reply_index  # noqa: E402
from ftui.inference.batch import generate_many  # noqa: E402
from ftui.resources import asset_path  # noqa: E402


def demo_prompts(n: int) -> list[list[dict]]:
    seen, out = set(), []
    for line in asset_path("demo_interactions.jsonl").read_text(encoding="utf-8").splitlines():
        msgs = json.loads(line)["messages"]
        last = reply_index(msgs)
        if last is None:
            continue
        asked = [{"role": m["role"], "content": m.get("content") or ""} for m in msgs[:last]]
        key = json.dumps(asked)
        if key not in seen:
            seen.add(key)
            out.append(asked)
        if len(out) == n:
            break
    return out


def first_difference(tok, a: list[int], b: list[int]) -> str:
    k = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    show = lambda ids: repr(tok.decode(ids[k:k + 1])) if k < len(ids) else "<end>"  # noqa: E731
    return f"token {k}: one-at-a-time {show(a)} vs batched {show(b)}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--home", default="/tmp/ftui-bench/home",
                    help="FTUI_HOME whose models/ keeps the de-quantized demo model")
    args = ap.parse_args()

    import torch

    from ftui.inference import local_model

    if args.threads:
        torch.set_num_threads(args.threads)
    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    target = {"backend": "local", "base": "demo"}
    tok, _ = local_model("demo", None, home)  # builds / loads once, outside the timings
    prompts = demo_prompts(args.prompts)
    generate_many(target, prompts[:1], home=home, max_new_tokens=4)  # warm-up
    times = {"one": 0.0, "batched": 0.0}
    outs: dict[str, list] = {"one": [], "batched": []}
    for start in range(0, len(prompts), args.batch):
        group = prompts[start:start + args.batch]
        for side, size in (("batched", args.batch), ("one", 1)):
            t = time.perf_counter()
            got = generate_many(target, group, home=home, max_new_tokens=args.new_tokens,
                                batch_size=size)
            times[side] += time.perf_counter() - t
            bad = [o for o in got if not o.ok]
            if bad:
                raise SystemExit(f"{side}: prompt failed: {bad[0].error}")
            outs[side] += [o.generation for o in got]
        print(f"  prompts {start + 1}-{start + len(group)}: batched {times['batched']:.1f} s, "
              f"one at a time {times['one']:.1f} s so far", file=sys.stderr, flush=True)

    tokens = {s: sum(g.completion_tokens for g in outs[s]) for s in outs}
    rate = {s: tokens[s] / times[s] for s in outs}
    ratio = rate["batched"] / rate["one"]
    differ = [(i, first_difference(tok, a.token_ids, b.token_ids))
              for i, (a, b) in enumerate(zip(outs["one"], outs["batched"], strict=True))
              if a.token_ids != b.token_ids]
    # how full the batches were: real answer tokens over rows x steps actually run
    steps = sum(max(g.completion_tokens for g in outs["batched"][s:s + args.batch])
                * len(outs["batched"][s:s + args.batch])
                for s in range(0, len(prompts), args.batch))
    print(f"\ndemo model, {len(prompts)} prompts, up to {args.new_tokens} new tokens, greedy, "
          f"fp32, torch threads {torch.get_num_threads()}")
    print(f"{'':<22}{'seconds':>10}{'tokens':>9}{'tokens/s':>10}")
    for side, label in (("one", "one at a time"), ("batched", f"batch {args.batch}")):
        print(f"{label:<22}{times[side]:>10.1f}{tokens[side]:>9}{rate[side]:>10.2f}")
    print(f"ratio {ratio:.2f}x (target >= 3.5x, goal 4x) · batch slots holding a real token "
          f"{tokens['batched'] / max(1, steps):.0%} · identical answers "
          f"{len(prompts) - len(differ)}/{len(prompts)}")
    for i, where in differ:
        print(f"  prompt {i + 1} differs at {where}")
    print(json.dumps({"bench": "eval", "prompts": len(prompts), "new_tokens": args.new_tokens,
                      "batch": args.batch, "threads": torch.get_num_threads(),
                      "one_tokens_per_s": round(rate["one"], 3),
                      "batched_tokens_per_s": round(rate["batched"], 3),
                      "ratio": round(ratio, 3), "identical": len(prompts) - len(differ),
                      "differ": [{"prompt": i + 1, "first": w} for i, w in differ],
                      "target_met": ratio >= 3.5}))


if __name__ == "__main__":
    main()
