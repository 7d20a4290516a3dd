"""Evaluate a model on a dataset version's held-out split, with figures that need no judge model.

- loss / perplexity: mean cross-entropy over the reference replies' tokens (the same
  assistant-only labels as training), for models ftui can load locally.
- generation: each prompt (the conversation up to its last reply) is answered greedily through
  `inference.batch.generate_many` (local models `batch_size` prompts at a time, Ollama models
  `parallel` requests at once); figures are answer length, latency, tokens/s, exact and contains
  match (only where the reference is short, <= SHORT_REFERENCE words: for long answers neither
  means anything), and ROUGE-L F1 (longest common subsequence of words) against the reference.
  A prompt that fails is counted in `failed` and left out of the figures; if all fail, the
  first error is raised.

Progress: `on_progress(done, total)` (answers), or `on_update(Progress)` for the ETA, failures
and the stage ("loss" then "answers"). `cancel` (a threading.Event) stops the evaluation early
and raises EvaluationCancelled; nothing is stored then.

Results are stored in the model's metrics under "eval" (and "eval_loss" for the table).

With `judge` (issue 13), a judge model also scores each answer with the rubric of its example's
mode (or `rubric`): per-criterion means with 95% intervals inside 1-5, stored under
eval["judge"]. These are a model's opinion, labelled as such, apart from the figures above.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.conversation import reply_index
from ftui.errors import FtuiError
from ftui.store import RegisteredModel, Store

SHORT_REFERENCE = 8
_WORD = re.compile(r"\w+", re.UNICODE)


class EvaluationCancelled(FtuiError):
    def __init__(self) -> None:
        super().__init__("evaluation cancelled; nothing was stored", "")


@dataclass(frozen=True)
class EvalProgress:
    stage: str  # "loss" (scoring the references) or "answers"
    done: int
    total: int
    failed: int
    elapsed_s: float  # in this stage

    @property
    def eta_s(self) -> float | None:
        """Seconds left in this stage at its rate so far; None before the first unit."""
        if self.done <= 0 or self.elapsed_s <= 0:
            return None
        return max(0.0, (self.total - self.done) * self.elapsed_s / self.done)

    def line(self) -> str:
        from ftui import fmt

        what = {"loss": "references scored", "judge": "judged"}.get(self.stage, "answered")
        failed = f" · {self.failed} failed" if self.failed else ""
        return (f"{self.done}/{self.total} {what}{failed} · ETA "
                f"{fmt.eta(self.done, self.total, self.elapsed_s)}")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased words (LCS by dynamic programming, O(n*m) in two rows)."""
    a, b = words(candidate), words(reference)
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def _normal(text: str) -> str:
    return " ".join(words(text))


def _pick_split(store: Store, dataset_id: int, split: str | None) -> tuple[str, list]:
    from ftui.curate import examples_of

    for name in ([split] if split else ["validation", "test", "train"]):
        found = list(examples_of(store, dataset_id, name))
        if found:
            return name, found
    raise FtuiError(f"dataset {dataset_id} has no {split or 'held-out'} examples",
                    "build the dataset with a validation split, or pass --split train")


def _loss(store: Store, model: RegisteredModel, examples: list, home: Path, max_len: int,
          cancel: threading.Event,
          on_update: Callable[[EvalProgress], None] | None) -> dict[str, float] | None:
    from ftui.inference.router import target_of

    target, _ = target_of(store, str(model.id))
    if target["backend"] != "local":
        return None  # Ollama does not return token log-probabilities for a given reply
    import torch

    from ftui.inference import local_model
    from ftui.train.data import IGNORE, encode

    tok, net = local_model(target["base"], target.get("adapter"), home)
    total, count = 0.0, 0
    started = time.perf_counter()
    with torch.no_grad():
        for i, ex in enumerate(examples):
            if cancel.is_set():
                raise EvaluationCancelled
            if on_update:
                on_update(EvalProgress("loss", i, len(examples), 0,
                                       time.perf_counter() - started))
            enc = encode(tok, ex.messages, max_len=max_len, train_on="last", source=str(ex.id))
            n = sum(1 for x in enc.labels[1:] if x != IGNORE)
            if n == 0:
                continue
            ids = torch.tensor([enc.input_ids], device=net.device)
            labels = torch.tensor([enc.labels], device=net.device)
            out = net(input_ids=ids, labels=labels)
            total += float(out.loss) * n  # token-weighted, as over one big batch
            count += n
    if count == 0:
        return None
    loss = total / count
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "scored_tokens": count}


def _examples_for(store: Store, model: RegisteredModel, dataset_id: int | None,
                  split: str | None, limit: int) -> tuple[int, str, list]:
    dataset_id = dataset_id or model.dataset_id
    if dataset_id is None:
        raise FtuiError(f"model {model.name} has no dataset to evaluate on",
                        "pass --dataset ID (a dataset version with a validation split)")
    from ftui.curate import get_dataset

    get_dataset(store, int(dataset_id))  # "no dataset N" before anything else
    split_name, examples = _pick_split(store, int(dataset_id), split)
    return int(dataset_id), split_name, examples[:max(0, limit)]


def evaluation_plan(store: Store, ref: int | str, *, dataset_id: int | None = None,
                    split: str | None = None, limit: int = 20) -> dict[str, Any]:
    """What an evaluation will use, before it runs: the dataset, the split and how many
    examples it really holds (at most `limit`), with the notice to show."""
    from ftui.registry import get_model

    model = get_model(store, ref)
    dataset_id, split_name, examples = _examples_for(store, model, dataset_id, split, limit)
    notice = (f"evaluating {model.name} on {len(examples)} {split_name} example"
              f"{'' if len(examples) == 1 else 's'} of dataset {dataset_id}")
    return {"dataset_id": dataset_id, "split": split_name, "examples": len(examples),
            "notice": notice}


def evaluate(store: Store, ref: int | str, *, home: Path, host: str,
             dataset_id: int | None = None, split: str | None = None, limit: int = 20,
             max_new_tokens: int = 128, max_len: int = 1024, timeout_s: float = 120.0,
             batch_size: int = 8, parallel: int = 4,
             judge: str | None = None, rubric: str | None = None,
             on_progress: Callable[[int, int], None] | None = None,
             on_update: Callable[[EvalProgress], None] | None = None,
             cancel: threading.Event | None = None) -> dict[str, Any]:
    """Evaluate and store the result (see the module docstring). An exception raised by a
    progress callback stops the evaluation too, and propagates."""
    from ftui.inference.batch import Progress, generate_many
    from ftui.inference.router import target_of
    from ftui.registry import get_model
    from ftui.registry.preference_eval import preference_accuracy, wants_preference_eval

    cancel = cancel or threading.Event()
    from ftui.train.runs import require_model_files

    try:
        registered = get_model(store, ref)
    except FtuiError:  # a base (tiny, demo, a folder): preference accuracy still takes it
        registered = None
    if registered is not None:  # on another machine: say so
        require_model_files(store, registered, "evaluate")
    if wants_preference_eval(store, ref, dataset_id):  # pairs: preference accuracy (issue 12)
        if judge:
            raise FtuiError("a judge scores answers, and a preference version is evaluated by "
                            "preference accuracy (no answers are generated)",
                            "leave out the judge, or evaluate on a supervised version "
                            "(--dataset ID)")
        return preference_accuracy(store, ref, home=home, dataset_id=dataset_id, split=split,
                                   limit=limit, max_len=max_len, on_progress=on_progress,
                                   cancel=cancel)
    model = get_model(store, ref)
    dataset_id, split_name, examples = _examples_for(store, model, dataset_id, split, limit)
    from ftui.judge.evaluation import judged_scores, resolve_for_evaluation

    # the judge before any work: "no model X" or "no rubric Y" costs nothing
    judge_of = resolve_for_evaluation(store, judge, rubric, host=host, home=home)
    loss = _loss(store, model, examples, home, max_len, cancel, on_update)
    target, _ = target_of(store, str(model.id))
    asked, references, ids, modes = [], [], [], {}
    for ex in examples:
        last = reply_index(ex.messages)  # the reply a correction replaced: the reference
        if last is not None:
            asked.append(ex.messages[:last])
            references.append(ex.messages[last].get("content") or "")
            ids.append(ex.id)
            modes[ex.id] = ex.reasoning_mode

    def heard(p: Progress) -> None:
        if on_update:
            on_update(EvalProgress("answers", p.done, p.total, p.failed, p.elapsed_s))
        if on_progress:
            on_progress(p.done, p.total)

    if on_update:
        on_update(EvalProgress("answers", 0, len(asked), 0, 0.0))
    started = time.perf_counter()
    outcomes = generate_many(target, asked, home=home, host=host, max_new_tokens=max_new_tokens,
                             temperature=0.0, batch_size=batch_size, parallel=parallel,
                             timeout_s=timeout_s, on_progress=heard, cancel=cancel)
    wall_s = time.perf_counter() - started
    if cancel.is_set() or any(o.cancelled for o in outcomes):
        raise EvaluationCancelled
    errors = [o.error for o in outcomes if o.error is not None]
    if errors and len(errors) == len(outcomes):
        raise errors[0]  # nothing answered: the cause is the message (Ollama down, ...)
    rows, answered, to_judge = [], [], []
    for o, reference, ex_id, prompt in zip(outcomes, references, ids, asked, strict=True):
        if o.generation is None:
            continue
        gen = o.generation
        to_judge.append((prompt, gen.text, modes[ex_id]))
        short = len(words(reference)) <= SHORT_REFERENCE
        rows.append({"rouge_l": rouge_l(gen.text, reference), "words": len(words(gen.text)),
                     "latency_ms": gen.latency_ms, "tokens_per_s": gen.tokens_per_second,
                     "tokens": gen.completion_tokens or 0,
                     "exact": (_normal(gen.text) == _normal(reference)) if short else None,
                     "contains": (_normal(reference) in _normal(gen.text)) if short else None})
        answered.append(ex_id)
    short_rows = [r for r in rows if r["exact"] is not None]
    rates = [r["tokens_per_s"] for r in rows if r["tokens_per_s"]]
    latencies = sorted(r["latency_ms"] for r in rows)
    result = {
        "dataset_id": int(dataset_id), "split": split_name, "examples": len(rows),
        "loss": loss["loss"] if loss else None,
        "perplexity": loss["perplexity"] if loss else None,
        "rouge_l": statistics.fmean(r["rouge_l"] for r in rows) if rows else None,
        "answer_words": statistics.fmean(r["words"] for r in rows) if rows else None,
        "latency_ms_p50": statistics.median(latencies) if latencies else None,
        "latency_ms_p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        if latencies else None,
        "tokens_per_s": statistics.fmean(rates) if rates else None,
        "short_references": len(short_rows),
        "exact_match": (sum(r["exact"] for r in short_rows) / len(short_rows))
        if short_rows else None,
        "contains_match": (sum(r["contains"] for r in short_rows) / len(short_rows))
        if short_rows else None,
        "backend": target["backend"],
        # all answers' tokens over the wall time (batches and concurrent requests overlap)
        "throughput_tokens_per_s": sum(r["tokens"] for r in rows) / wall_s
        if rows and wall_s > 0 else None,
        "failed": len(errors),
        "errors": list(dict.fromkeys(e.message for e in errors))[:3],
        # what must match for two evaluations to compare (see compare())
        "settings": {"dataset_id": int(dataset_id), "split": split_name,
                     "examples": len(rows), "example_ids": answered,
                     "max_new_tokens": max_new_tokens, "temperature": 0.0,
                     "max_len": max_len,
                     # latency and tokens/s per answer depend on these (an answer waits for
                     # its batch); the answers themselves do not (greedy)
                     "batch_size": batch_size if target["backend"] == "local" else None,
                     "parallel": parallel if target["backend"] == "ollama" else None},
    }
    if judge_of is not None:
        result["judge"] = judged_scores(judge_of, rubric, to_judge, home=home, host=host,
                                        parallel=parallel, cancel=cancel,
                                        on_update=on_update, on_progress=on_progress)
    _store_result(store, model.id, result)
    return result


def _store_result(store: Store, model_id: int, result: dict[str, Any]) -> None:
    with store.session() as s:
        row = s.get(RegisteredModel, model_id)
        metrics = row.metrics
        metrics["eval"] = result
        if result["loss"] is not None:
            metrics["eval_loss"] = result["loss"]
        row.metrics_json = json.dumps(metrics)
        s.commit()


COMPARED = ("loss", "perplexity", "rouge_l", "exact_match", "contains_match", "answer_words",
            "latency_ms_p50", "latency_ms_p95", "tokens_per_s")
LOWER_IS_BETTER = {"loss", "perplexity", "latency_ms_p50", "latency_ms_p95"}


def eval_differences(ea: dict[str, Any], eb: dict[str, Any]) -> list[str]:
    """What differs between how two evaluations were run (empty: their figures compare)."""
    sa, sb = ea.get("settings"), eb.get("settings")
    if not sa or not sb:
        which = " and ".join(n for n, x in (("A", sa), ("B", sb)) if not x)
        return [f"{which} was evaluated before ftui recorded the settings: evaluate again"]
    out = []
    for key in ("dataset_id", "split", "examples", "max_new_tokens", "temperature", "max_len"):
        if sa.get(key) != sb.get(key):
            out.append(f"{key} {sa.get(key)} vs {sb.get(key)}")
    if sa.get("examples") == sb.get("examples") and sa.get("example_ids") != sb.get(
            "example_ids"):
        out.append("example_ids: not the same examples")
    return out


def compare(store: Store, a_ref: int | str, b_ref: int | str) -> dict[str, Any]:
    """The stored evaluations of two models side by side. A winner per figure is named only
    when both ran on the same dataset, split, examples and generation settings; otherwise
    `differences` says what differs and `better` stays None."""
    from ftui.judge.evaluation import compare_judged
    from ftui.registry import get_model

    a, b = get_model(store, a_ref), get_model(store, b_ref)
    ea, eb = a.metrics.get("eval"), b.metrics.get("eval")
    preference = compare_preference(a.metrics.get("eval_preference"),
                                    b.metrics.get("eval_preference"))
    missing = [m.name for m, e in ((a, ea), (b, eb)) if not e]
    if missing and preference is None:
        raise FtuiError(f"not evaluated yet: {', '.join(missing)}",
                        "run: ftui models evaluate ID (or e on the Models screen)")
    if missing:  # both have preference accuracy only: that is what compares
        return {"a": {"id": a.id, "name": a.name}, "b": {"id": b.id, "name": b.name},
                "same_data": False, "comparable": False,
                "differences": [f"not evaluated on a sft split: {', '.join(missing)}"],
                "rows": [], "judge": None, "preference": preference}
    differences = eval_differences(ea, eb)
    rows = []
    for key in COMPARED:
        va, vb = ea.get(key), eb.get(key)
        better = None
        if (not differences and isinstance(va, int | float) and isinstance(vb, int | float)
                and va != vb):
            better = ("A" if va < vb else "B") if key in LOWER_IS_BETTER else (
                "A" if va > vb else "B")
        rows.append({"metric": key, "a": va, "b": vb, "better": better})
    same = (ea.get("dataset_id"), ea.get("split")) == (eb.get("dataset_id"), eb.get("split"))
    return {"a": {"id": a.id, "name": a.name}, "b": {"id": b.id, "name": b.name},
            "same_data": same, "comparable": not differences, "differences": differences,
            "rows": rows, "judge": compare_judged(ea.get("judge"), eb.get("judge"),
                                                  differences),
            "preference": preference}


PREFERENCE_SAME = ("dataset_id", "split", "pairs", "max_len")


def compare_preference(pa: dict | None, pb: dict | None) -> dict[str, Any] | None:
    """Preference accuracy and mean margin of two models side by side (issue 12), when both were
    evaluated on pairs. Comparable only on the same version, split, pairs and max_len; accuracy
    names a better side only when the two Wilson 95% intervals part, the margin by its value."""
    if not pa or not pb:
        return None
    differences = [f"{k} {pa.get(k)} vs {pb.get(k)}" for k in PREFERENCE_SAME
                   if pa.get(k) != pb.get(k)]
    rows = []
    for key in ("preference_accuracy", "mean_margin"):
        va, vb = pa.get(key), pb.get(key)
        better = None
        if not differences and va is not None and vb is not None:
            if key == "mean_margin" and va != vb:
                better = "A" if va > vb else "B"
            elif key == "preference_accuracy" and pa.get("ci95") and pb.get("ci95"):
                if pa["ci95"][0] > pb["ci95"][1]:
                    better = "A"
                elif pb["ci95"][0] > pa["ci95"][1]:
                    better = "B"
        rows.append({"metric": key, "a": va, "b": vb, "better": better,
                     **({"ci95_a": pa.get("ci95"), "ci95_b": pb.get("ci95")}
                        if key == "preference_accuracy" else {})})
    return {"comparable": not differences, "differences": differences, "rows": rows,
            "pairs": {"a": pa.get("pairs"), "b": pb.get("pairs")},
            "dataset_id": pa.get("dataset_id"), "split": pa.get("split")}
