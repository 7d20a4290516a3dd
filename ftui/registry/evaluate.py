"""Evaluate a model on a dataset version's held-out split, with figures that need no judge model.

- loss / perplexity: mean cross-entropy over the reference replies' tokens (the same
  assistant-only labels as training), for models ftui can load locally.
- generation: each prompt (the conversation up to its last reply) is answered greedily; figures
  are answer length, latency, tokens/s, exact and contains match (only where the reference is
  short, <= SHORT_REFERENCE words: for long answers neither means anything), and ROUGE-L F1
  (longest common subsequence of words) against the reference.

Results are stored in the model's metrics under "eval" (and "eval_loss" for the table).
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from pathlib import Path
from typing import Any

from ftui.conversation import reply_index
from ftui.errors import FtuiError
from ftui.store import RegisteredModel, Store

SHORT_REFERENCE = 8
_WORD = re.compile(r"\w+", re.UNICODE)


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


def _loss(store: Store, model: RegisteredModel, examples: list, home: Path,
          max_len: int) -> dict[str, float] | None:
    from ftui.inference.router import target_of

    target, _ = target_of(store, str(model.id))
    if target["backend"] != "local":
        return None  # Ollama does not return token log-probabilities for a given reply
    import torch

    from ftui.inference import _local_model
    from ftui.train.data import IGNORE, encode

    tok, net = _local_model(target["base"], target.get("adapter"), home)
    total, count = 0.0, 0
    with torch.no_grad():
        for ex in examples:
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
             on_progress=None) -> dict[str, Any]:
    from ftui.inference.router import run_target, target_of
    from ftui.registry import get_model

    model = get_model(store, ref)
    dataset_id, split_name, examples = _examples_for(store, model, dataset_id, split, limit)
    loss = _loss(store, model, examples, home, max_len)
    target, _ = target_of(store, str(model.id))
    rows, answered = [], []
    for i, ex in enumerate(examples):
        msgs = ex.messages
        last = reply_index(msgs)  # the reply a correction replaced: the reference
        if last is None:
            continue
        reference = msgs[last].get("content") or ""
        started = time.perf_counter()
        gen = run_target(target, msgs[:last], home, host, timeout_s=timeout_s,
                         options={"num_predict": max_new_tokens, "temperature": 0.0})
        latency = (time.perf_counter() - started) * 1000
        short = len(words(reference)) <= SHORT_REFERENCE
        rows.append({"rouge_l": rouge_l(gen.text, reference), "words": len(words(gen.text)),
                     "latency_ms": latency, "tokens_per_s": gen.tokens_per_second,
                     "exact": (_normal(gen.text) == _normal(reference)) if short else None,
                     "contains": (_normal(reference) in _normal(gen.text)) if short else None})
        answered.append(ex.id)
        if on_progress:
            on_progress(i + 1, len(examples))
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
        # what must match for two evaluations to compare (see compare())
        "settings": {"dataset_id": int(dataset_id), "split": split_name,
                     "examples": len(rows), "example_ids": answered,
                     "max_new_tokens": max_new_tokens, "temperature": 0.0,
                     "max_len": max_len},
    }
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
    from ftui.registry import get_model

    a, b = get_model(store, a_ref), get_model(store, b_ref)
    ea, eb = a.metrics.get("eval"), b.metrics.get("eval")
    missing = [m.name for m, e in ((a, ea), (b, eb)) if not e]
    if missing:
        raise FtuiError(f"not evaluated yet: {', '.join(missing)}",
                        "run: ftui models evaluate ID (or e on the Models screen)")
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
            "rows": rows}
