"""Preference accuracy of a local model on a preference version's held-out pairs.

Defined without a reference model, so the base has a figure too: the share of pairs where the
model gives the chosen reply a higher mean log-probability per token than the rejected one
(given the same prompt), with a Wilson 95% interval, plus the mean margin (chosen minus
rejected, nats per token). During training the live curves are TRL's implicit-reward figures.
"""

from __future__ import annotations

import json
import statistics
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftui.errors import FtuiError
from ftui.store import RegisteredModel, Store


def _pairs(store: Store, dataset_id: int, split: str | None) -> tuple[str, list]:
    from ftui.curate import get_dataset
    from ftui.curate.preference import dataset_kind, preference_examples

    version = get_dataset(store, dataset_id)
    if dataset_kind(version) != "preference":
        raise FtuiError(f"dataset {version.id} is {dataset_kind(version)}; preference accuracy "
                        "needs chosen/rejected pairs",
                        "pass --dataset ID of a preference version (ftui dataset build NAME "
                        "--kind preference)")
    for name in ([split] if split else ["validation", "test", "train"]):
        found = preference_examples(store, version.id, name)
        if found:
            return name, found
    raise FtuiError(f"dataset {version.id} has no {split or 'held-out'} pairs",
                    "build it with --val 0.1, or pass --split train")


def _is_base(ref: str) -> bool:
    return ref in ("tiny", "demo") or Path(ref).expanduser().is_dir()


def mean_logprob(tok, net, messages: list[dict[str, Any]], max_len: int) -> float | None:
    """Mean log-probability per token of the conversation's reply (its last assistant turn,
    end-of-turn token included), or None when the reply does not fit max_len."""
    import torch

    from ftui.train.data import IGNORE, encode

    enc = encode(tok, messages, max_len=max_len, train_on="last")
    ids = torch.tensor([enc.input_ids], device=net.device)
    target = torch.tensor(enc.labels[1:], device=net.device)
    mask = target != IGNORE
    if not bool(mask.any()):
        return None
    logits = net(input_ids=ids).logits[0, :-1].float()
    picked = torch.log_softmax(logits, -1).gather(-1, target.clamp(min=0).unsqueeze(-1))
    return float(picked.squeeze(-1)[mask].mean())


def preference_accuracy(store: Store, ref: int | str, *, home: Path,
                        dataset_id: int | None = None, split: str | None = None,
                        limit: int = 500, max_len: int = 1024,
                        on_progress: Callable[[int, int], None] | None = None,
                        cancel: threading.Event | None = None) -> dict[str, Any]:
    import torch

    from ftui.ab.stats import wilson
    from ftui.inference import local_model
    from ftui.inference.router import target_of
    from ftui.registry import get_model

    try:
        model = get_model(store, ref)
    except FtuiError:
        if not _is_base(str(ref)):
            raise
        model = None  # a base ftui loads (tiny, demo, a folder): its figure is not stored
    dataset_id = dataset_id or (model.dataset_id if model else None)
    if dataset_id is None:
        raise FtuiError(f"{ref} has no dataset recorded to evaluate on",
                        "pass --dataset ID (a preference version)")
    split_name, pairs = _pairs(store, int(dataset_id), split)
    pairs = pairs[:max(0, limit)]
    target = (target_of(store, str(model.id))[0] if model
              else {"backend": "local", "base": str(ref)})
    if target["backend"] != "local":
        raise FtuiError(f"model {model.name} is served by Ollama, which does not give the "
                        "log-probability of a given reply",
                        "evaluate its transformers folder or adapter (ftui models register "
                        "--kind hf / adapter)")
    tok, net = local_model(target["base"], target.get("adapter"), home)
    margins, wins, skipped = [], 0, 0
    with torch.no_grad():
        for i, pair in enumerate(pairs):
            if cancel is not None and cancel.is_set():
                raise FtuiError("evaluation cancelled", "run it again")
            if on_progress:
                on_progress(i, len(pairs))
            good = mean_logprob(tok, net, [*pair.prompt, pair.reply], max_len)
            bad = mean_logprob(tok, net, [*pair.prompt, pair.rejected], max_len)
            if good is None or bad is None:
                skipped += 1
                continue
            margins.append(good - bad)
            wins += good > bad
    n = len(margins)
    if n == 0:
        raise FtuiError(f"no pair of dataset {dataset_id} fits max_len {max_len}",
                        "raise --max-len")
    interval = wilson(wins, n)
    result = {"dataset_id": int(dataset_id), "split": split_name, "pairs": n,
              "skipped_too_long": skipped, "preference_accuracy": wins / n,
              "ci95": [interval.low, interval.high] if interval else None,
              "mean_margin": statistics.fmean(margins), "max_len": max_len,
              "backend": target["backend"]}
    if model is None:
        return result
    with store.session() as s:
        row = s.get(RegisteredModel, model.id)
        metrics = row.metrics
        metrics["eval_preference"] = result
        row.metrics_json = json.dumps(metrics)
        s.commit()
    return result


def wants_preference_eval(store: Store, ref: int | str, dataset_id: int | None) -> bool:
    """Whether `ftui models evaluate` means preference accuracy: the dataset given, or else the
    one the model was trained on, is a preference version."""
    from ftui.curate import get_dataset
    from ftui.curate.preference import dataset_kind
    from ftui.registry import get_model

    if dataset_id is None:
        try:
            dataset_id = get_model(store, ref).dataset_id
        except FtuiError:
            return False
    if dataset_id is None:
        return False
    try:
        return dataset_kind(get_dataset(store, int(dataset_id))) == "preference"
    except FtuiError:
        return False
