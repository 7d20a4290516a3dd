"""Judging speed (issue 13): 100 unrated interactions judged against a stand-in Ollama whose
judge takes 200 ms per answer, once with one request at a time and once with 4 in flight.
Target: parallel 4 takes at most 0.3x the serial time, with the same judgements.

The stand-in is tests/ollama_standin.py (real HTTP on 127.0.0.1, the real `ollama` client);
its scripted judge picks scores from a hash of the prompt, so both runs must agree exactly.
Each run uses a fresh store (nothing cached).

    python tests/benchmarks/bench_judge.py [--n 100] [--delay 0.2] [--parallel 4]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ollama_standin import StandIn  # noqa: E402

from ftui.ingest import log_interaction  # noqa: E402
from ftui.judge.run import judge_interactions, select_ids  # noqa: E402
from ftui.store import open_store  # noqa: E402
from ftui.store.models import Interaction, Judgement  # noqa: E402

JUDGE = "judge:7b"


def scripted(body: dict) -> str:
    digest = hashlib.sha256(body["messages"][-1]["content"].encode()).digest()
    keys = body["format"]["required"]
    return json.dumps({k: {"score": 1 + digest[i] % 5, "rationale": f"{k} ok"}
                       for i, k in enumerate(keys)})


def one_run(workdir: Path, n: int, parallel: int, host: str) -> tuple[float, dict]:
    store = open_store(f"sqlite:///{workdir / f'p{parallel}.db'}")
    for i in range(n):
        log_interaction(store, [{"role": "user", "content": f"Question {i}: how do I sort?"},
                                {"role": "assistant", "content": f"Answer {i}: use sorted()."}],
                        mode=("standard", "chain_of_thought", "agent")[i % 3])
    ids = select_ids(store)
    started = time.perf_counter()
    report = judge_interactions(store, ids, judge=JUDGE, home=workdir, host=host,
                                parallel=parallel)
    seconds = time.perf_counter() - started
    assert report.judged == n and report.failed == 0, report
    with store.engine.connect() as conn:
        rows = conn.execute(Judgement.__table__.select().join(
            Interaction.__table__, Interaction.__table__.c.id == Judgement.__table__.c.interaction_id
        ).with_only_columns(Interaction.__table__.c.messages_json, Judgement.__table__.c.score,
                            Judgement.__table__.c.scores_json)).all()
    store.close()
    return seconds, {m: (s, j) for m, s, j in rows}  # keyed by the conversation


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--parallel", type=int, default=4)
    args = ap.parse_args()
    with StandIn(models={JUDGE: ""}, slow={JUDGE: args.delay}) as standin, \
            tempfile.TemporaryDirectory() as tmp:
        standin.scripted[JUDGE] = scripted
        serial_s, serial = one_run(Path(tmp), args.n, 1, standin.url)
        par_s, par = one_run(Path(tmp), args.n, args.parallel, standin.url)
    ratio = par_s / serial_s
    same = serial == par and len(serial) == args.n
    print(f"{'run':<14}{'seconds':>10}{'per answer':>12}")
    print(f"{'parallel 1':<14}{serial_s:>10.2f}{serial_s / args.n * 1000:>10.0f} ms")
    print(f"{f'parallel {args.parallel}':<14}{par_s:>10.2f}{par_s / args.n * 1000:>10.0f} ms")
    print(f"ratio {ratio:.3f} (target <= 0.3); same judgements: {same}")
    print(json.dumps({"n": args.n, "delay_s": args.delay, "parallel": args.parallel,
                      "serial_s": round(serial_s, 3), "parallel_s": round(par_s, 3),
                      "ratio": round(ratio, 3), "same_judgements": same,
                      "ok": same and ratio <= 0.3}))
    return 0 if same and ratio <= 0.3 else 1


if __name__ == "__main__":
    sys.exit(main())
