"""Judged evaluation (issue 13): a judge model scores a model's answers on a dataset split with
the rubric of each example's mode; per-criterion means with 95% intervals that stay inside 1-5,
stored under the evaluation's "judge" and compared side by side. A model's opinion, labelled as
such, never mixed into the reference-based figures."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from ftui.store import Store


def resolve_for_evaluation(store: Store, judge: str | None, rubric: str | None, *,
                           host: str, home: Path):
    if not judge:
        return None
    from ftui.judge.rubrics import load_rubric
    from ftui.judge.run import resolve_judge

    if rubric:
        load_rubric(rubric, home)  # "no rubric X" before the answers are generated
    return resolve_judge(store, judge, host=host, home=home)


def judged_scores(judge, rubric: str | None, items: list, *, home: Path, host: str,
                  parallel: int, cancel: threading.Event, on_update,
                  on_progress) -> dict[str, Any]:
    """The judge's per-criterion scores for the answers (see the module docstring)."""
    from ftui.judge.answers import judge_answers
    from ftui.registry.evaluate import EvalProgress

    started = time.perf_counter()

    def heard(done: int, total: int) -> None:
        if on_update:
            on_update(EvalProgress("judge", done, total, 0, time.perf_counter() - started))
        if on_progress:
            on_progress(done, total)

    got = judge_answers(judge, items, host=host, home=home, rubric=rubric, parallel=parallel,
                        cancel=cancel, on_progress=heard)
    if cancel.is_set():
        from ftui.registry.evaluate import EvaluationCancelled

        raise EvaluationCancelled
    return {"judge": got["judge"], "judge_digest": got["judge_digest"],
            "rubric": rubric or "each example's mode", "answers": got["n"],
            "judged": got["judged"], "failed": got["failed"], "errors": got["errors"],
            "mean_overall": got["mean_overall"], "overall_ci95": got["overall_ci95"],
            "per_criterion": {k: {"mean": m, "ci95": got["per_criterion_ci95"][k],
                                  "n": got["per_criterion_n"][k]}
                              for k, m in got["per_criterion"].items()}}


def compare_judged(ja: dict | None, jb: dict | None,
                   differences: list[str]) -> dict[str, Any] | None:
    """The judge's per-criterion scores of two evaluations side by side. A side is named better
    only when the same judge (digest) and rubric scored answers to the same examples and the
    two 95% intervals do not overlap."""
    if not ja and not jb:
        return None
    notes = [f"{arm} was evaluated without a judge" for arm, j in (("A", ja), ("B", jb))
             if not j]
    if ja and jb and (ja.get("judge_digest"), ja.get("rubric")) != (
            jb.get("judge_digest"), jb.get("rubric")):
        notes.append("judged by different judges or rubrics: the scores do not compare")
    if differences:
        notes.append("evaluated on different settings: the scores do not compare")
    keys = list(dict.fromkeys([*((ja or {}).get("per_criterion") or {}),
                               *((jb or {}).get("per_criterion") or {})]))
    rows = []
    for key in [*keys, "overall"]:
        cells = []
        for j in (ja, jb):
            if key == "overall":
                cells.append({"mean": (j or {}).get("mean_overall"),
                              "ci95": (j or {}).get("overall_ci95")})
            else:
                cells.append(((j or {}).get("per_criterion") or {}).get(key) or {})
        (a, b), better = cells, None
        if not notes and a.get("ci95") and b.get("ci95"):
            if a["ci95"][0] > b["ci95"][1]:
                better = "A"
            elif b["ci95"][0] > a["ci95"][1]:
                better = "B"
        rows.append({"criterion": key, "a": a.get("mean"), "a_ci95": a.get("ci95"),
                     "b": b.get("mean"), "b_ci95": b.get("ci95"), "better": better})
    return {"judge_a": (ja or {}).get("judge"), "judge_b": (jb or {}).get("judge"),
            "comparable": not notes, "notes": notes, "rows": rows}


def _mean_ci(mean, ci) -> str:
    if mean is None:
        return "-"
    return f"{mean:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{mean:.2f}"


def judge_lines(ev: dict[str, Any]) -> list[str]:
    """An evaluation's judge scores as lines for the Models screen (empty: not judged)."""
    j = ev.get("judge")
    if not isinstance(j, dict):
        return []
    failed = f", {j['failed']} failed" if j.get("failed") else ""
    out = [f"judged by {j.get('judge')} (a model's opinion, rubric: {j.get('rubric')}): "
           f"{j.get('judged')}/{j.get('answers')} answers{failed}"]
    for key, cell in (j.get("per_criterion") or {}).items():
        out.append(f"  {key.replace('_', ' '):<22} {_mean_ci(cell.get('mean'), cell.get('ci95'))}")
    out.append(f"  {'overall':<22} {_mean_ci(j.get('mean_overall'), j.get('overall_ci95'))}")
    out += [f"  judge error: {e}" for e in (j.get("errors") or [])[:1]]
    return out


def compare_judge_lines(result: dict[str, Any]) -> list[str]:
    """compare()'s judge section as lines for the Models screen's compare view."""
    j = result.get("judge")
    if not j:
        return ["", "no judge scores: evaluate with a judge (e, judge field) to compare them"]
    out = ["", f"judge scores, mean [95%] (A: {j['judge_a'] or '-'}, B: {j['judge_b'] or '-'})"]
    for r in j["rows"]:
        out.append(f"{r['criterion'].replace('_', ' '):<16}{_mean_ci(r['a'], r['a_ci95']):>20}"
                   f"{_mean_ci(r['b'], r['b_ci95']):>20}  {r['better'] or ''}")
    out += j["notes"]
    return out


def compare_on_split(store: Store, a_ref: int | str, b_ref: int | str, judge, *,
                     host: str, home: Path, dataset_id: int | None = None,
                     split: str | None = None, limit: int = 20, rubric: str | None = None,
                     max_new_tokens: int = 128, parallel: int = 4,
                     on_progress=None, cancel: threading.Event | None = None) -> dict[str, Any]:
    """The pairwise judge on a dataset split: A and B answer each prompt as evaluation does
    (greedy), the judge compares each pair in both orders (a tie when the orders disagree).
    B's win rate over decisive pairs with a Wilson interval. `on_progress(stage, done, total)`
    with stage "A", "B" (answers) or "judge"."""
    from ftui.errors import FtuiError
    from ftui.inference.batch import generate_many
    from ftui.inference.router import target_of
    from ftui.judge.pairwise import Pair, judge_pairs, summarize
    from ftui.judge.rubrics import rubric_for
    from ftui.registry import get_model
    from ftui.registry.evaluate import _examples_for, reply_index

    cancel = cancel or threading.Event()
    a, b = get_model(store, a_ref), get_model(store, b_ref)
    dataset_id, split_name, examples = _examples_for(store, a, dataset_id, split, limit)
    prompts = []
    for ex in examples:
        last = reply_index(ex.messages)
        if last is not None:
            prompts.append((ex.messages[:last], ex.reasoning_mode))
    answers = {}
    for arm, model in (("A", a), ("B", b)):
        target, _ = target_of(store, str(model.id))
        heard = (lambda p, arm=arm: on_progress(arm, p.done, p.total)) if on_progress else None
        outcomes = generate_many(target, [m for m, _ in prompts], home=home, host=host,
                                 max_new_tokens=max_new_tokens, temperature=0.0,
                                 parallel=parallel, on_progress=heard, cancel=cancel)
        if cancel.is_set():
            raise FtuiError("the pairwise comparison was cancelled", "")
        answers[arm] = [o.generation.text if o.generation and o.generation.text.strip()
                        else None for o in outcomes]
    by_mode: dict[str, list] = {}
    for (messages, mode), x, y in zip(prompts, answers["A"], answers["B"], strict=True):
        if x is not None and y is not None:
            by_mode.setdefault(mode, []).append(Pair(messages, x, y, mode))
    verdicts, total = [], sum(len(g) for g in by_mode.values())
    for mode, group in by_mode.items():  # each mode's criteria
        verdicts += judge_pairs(judge, group, rubric_for(mode, home, rubric), host=host,
                                home=home, parallel=parallel, cancel=cancel)
        if on_progress:
            on_progress("judge", len(verdicts), total)
    out = summarize(verdicts)
    out.update(a={"id": a.id, "name": a.name}, b={"id": b.id, "name": b.name},
               judge=judge.ref, judge_digest=judge.digest, rubric=rubric or "each prompt's mode",
               dataset_id=dataset_id, split=split_name, prompts=len(prompts),
               unanswered=len(prompts) - total)
    return out


def pairwise_lines(r: dict[str, Any]) -> list[str]:
    """compare_on_split's result in words."""
    out = [f"A {r['a']['name']}  vs  B {r['b']['name']}",
           f"judge {r['judge']} (a model's opinion), rubric: {r['rubric']}",
           f"dataset {r['dataset_id']} {r['split']}: {r['prompts']} prompts, asked in both "
           "orders", "",
           f"A wins {r['a_wins']} · B wins {r['b_wins']} · ties {r['ties']} (the orders "
           f"disagreed on {r['order_disagreements']}) · failed {r['failed']} · unanswered "
           f"{r['unanswered']}"]
    if r["b_win_rate"] is not None:
        lo, hi = r["b_win_rate_ci95"]
        out.append(f"B's win rate over decisive pairs {r['b_win_rate']:.0%} "
                   f"(95% Wilson [{lo:.0%}, {hi:.0%}])")
    else:
        out.append("no decisive pair: no win rate")
    return out
