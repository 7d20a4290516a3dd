"""Many prompts through one model: the generation path for evaluation, the judge, the regression
gate and the arena.

    outcomes = generate_many(target, prompts, home=home, host=host, max_new_tokens=128,
                             on_progress=show, cancel=stop_event)

- `target` is what `router.target_of` gives: {"backend": "local", "base": ..., "adapter": ...}
  or {"backend": "ollama", "name": ...}.
- Local models answer `batch_size` prompts per `generate` call: prompts sorted by length (less
  padding), padded on the left by hand (the shared tokenizer is never changed), each prompt's
  cache filled alone (the model never runs over padding), the answers decoded together, each row
  stopping at its own end token. Greedy answers are token for token those of one prompt at a
  time (tests/test_generation.py; bench_eval.py on the demo model).
- Ollama models get `parallel` requests in flight at once (a thread pool over the `ollama`
  client; Ollama queues what its OLLAMA_NUM_PARALLEL does not take).
- One `Outcome` per prompt, in the prompts' order: its `Generation`, or the `FtuiError` of that
  prompt alone (one failure does not sink the rest), or `cancelled`.
- `on_progress(Progress)` hears each finished prompt (with an ETA); an exception it raises stops
  the run and propagates. `cancel` (a threading.Event) stops the run early: a local batch stops
  within one token, Ollama requests in flight are closed; what did not finish is `cancelled`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.errors import FtuiError
from ftui.inference import Generation, local_model, ollama_generate

Messages = list[dict[str, Any]]


@dataclass
class Outcome:
    index: int  # position in the prompts given
    generation: Generation | None = None
    error: FtuiError | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.generation is not None


@dataclass(frozen=True)
class Progress:
    done: int  # prompts finished (answered or failed)
    total: int
    failed: int
    elapsed_s: float
    completion_tokens: int

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far; None before the first prompt finishes."""
        if self.done <= 0 or self.elapsed_s <= 0:
            return None
        return max(0.0, (self.total - self.done) * self.elapsed_s / self.done)

    @property
    def tokens_per_s(self) -> float | None:
        return self.completion_tokens / self.elapsed_s if self.elapsed_s > 0 else None


OnProgress = Callable[[Progress], None]


class _Tracker:
    """Counts finished prompts and calls on_progress (always from the caller's thread)."""

    def __init__(self, total: int, on_progress: OnProgress | None) -> None:
        self.total, self.on_progress = total, on_progress
        self.done = self.failed = self.tokens = 0
        self.started = time.perf_counter()

    def finished(self, outcomes: Sequence[Outcome]) -> None:
        for o in outcomes:
            self.done += 1
            self.failed += o.error is not None
            self.tokens += (o.generation.completion_tokens or 0) if o.generation else 0
        if self.on_progress and outcomes:
            self.on_progress(Progress(self.done, self.total, self.failed,
                                      time.perf_counter() - self.started, self.tokens))


def generate_many(target: dict[str, Any], prompts: Sequence[Messages], *, home: Path,
                  host: str = "", max_new_tokens: int = 256, temperature: float = 0.0,
                  batch_size: int = 8, parallel: int = 4, timeout_s: float = 120.0,
                  on_progress: OnProgress | None = None,
                  cancel: threading.Event | None = None) -> list[Outcome]:
    """Answer every prompt (a list of chat messages) with `target`; see the module docstring."""
    outcomes = [Outcome(i) for i in range(len(prompts))]
    tracker = _Tracker(len(prompts), on_progress)
    cancel = cancel or threading.Event()
    if target["backend"] == "ollama":
        _ollama_many(target["name"], prompts, outcomes, tracker, host=host,
                     options={"num_predict": max_new_tokens, "temperature": temperature},
                     parallel=max(1, parallel), timeout_s=timeout_s, cancel=cancel)
    else:
        _local_many(target, prompts, outcomes, tracker, home=home, max_new_tokens=max_new_tokens,
                    temperature=temperature, batch_size=max(1, batch_size), cancel=cancel)
    for o in outcomes:
        if o.generation is None and o.error is None:
            o.cancelled = True
    return outcomes


# ---------------------------------------------------------------- Ollama: concurrent requests


class _Stopped(Exception):
    """Raised inside a streaming request to close it when the run is cancelled."""


def _ollama_many(name: str, prompts: Sequence[Messages], outcomes: list[Outcome],
                 tracker: _Tracker, *, host: str, options: dict[str, Any], parallel: int,
                 timeout_s: float, cancel: threading.Event) -> None:
    stop = threading.Event()  # cancel asked, or on_progress raised

    def halt(_piece: str) -> None:
        if stop.is_set() or cancel.is_set():
            raise _Stopped

    def one(i: int) -> Outcome:
        if stop.is_set() or cancel.is_set():
            return outcomes[i]
        try:
            outcomes[i].generation = ollama_generate(host, name, prompts[i], options=options,
                                                     on_token=halt, timeout_s=timeout_s)
        except _Stopped:
            pass
        except FtuiError as err:
            outcomes[i].error = err
        except Exception as err:  # noqa: BLE001 - e.g. a reply the client cannot parse
            outcomes[i].error = FtuiError(f"Ollama request failed: {type(err).__name__}: {err}",
                                          "check the Ollama server's log")
        return outcomes[i]

    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="ftui-gen")
    try:
        pending = {pool.submit(one, i) for i in range(len(prompts))}
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            tracker.finished([f.result() for f in finished if _settled(f.result())])
            if cancel.is_set():
                break
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _settled(o: Outcome) -> bool:
    return o.generation is not None or o.error is not None


# ---------------------------------------------------------------- local: batched, left padding


def _local_many(target: dict[str, Any], prompts: Sequence[Messages], outcomes: list[Outcome],
                tracker: _Tracker, *, home: Path, max_new_tokens: int, temperature: float,
                batch_size: int, cancel: threading.Event) -> None:
    try:
        tok, model = local_model(target["base"], target.get("adapter"), home)
    except FtuiError as err:  # the same cause for every prompt
        for o in outcomes:
            o.error = err
        tracker.finished(outcomes)
        return
    name = target.get("adapter") or target["base"]
    encoded: dict[int, list[int]] = {}
    for i, messages in enumerate(prompts):
        try:
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            encoded[i] = list(tok(text, add_special_tokens=False)["input_ids"])
        except Exception as err:  # noqa: BLE001 - a malformed conversation fails alone
            outcomes[i].error = FtuiError(
                f"prompt {i + 1} cannot be put in the model's chat template: {err}",
                "check its messages: each needs a role and text content")
            tracker.finished([outcomes[i]])
    # longest first: similar lengths share a batch (little padding), and a prompt too long
    # for memory shows up at once rather than at the end
    order = sorted(encoded, key=lambda i: -len(encoded[i]))
    for start in range(0, len(order), batch_size):
        if cancel.is_set():
            return
        chunk = order[start:start + batch_size]
        try:
            gens = _generate_batch(tok, model, [encoded[i] for i in chunk], name,
                                   max_new_tokens, temperature, cancel)
        except Exception:  # noqa: BLE001 - find the prompt at fault: each alone
            gens = [_alone(tok, model, encoded[i], name, max_new_tokens, temperature, cancel)
                    for i in chunk]
        if cancel.is_set():
            return  # the batch was cut short: its answers are incomplete
        for i, gen in zip(chunk, gens, strict=True):
            if isinstance(gen, FtuiError):
                outcomes[i].error = gen
            else:
                outcomes[i].generation = gen
        tracker.finished([outcomes[i] for i in chunk])


def _alone(tok, model, ids: list[int], name: str, max_new_tokens: int, temperature: float,
           cancel: threading.Event) -> Generation | FtuiError:
    try:
        return _generate_batch(tok, model, [ids], name, max_new_tokens, temperature, cancel)[0]
    except Exception as err:  # noqa: BLE001 - reported for this prompt only
        return FtuiError(f"local generation failed: {type(err).__name__}: {err}",
                         "check the model loads (ftui models show) and the prompt fits in "
                         "memory and in the model's context")


def _end_ids(tok, model) -> set[int]:
    eos = tok.eos_token_id
    return {eos} if isinstance(eos, int) else set(eos or [])


def _generate_batch(tok, model, rows: list[list[int]], name: str, max_new_tokens: int,
                    temperature: float, cancel: threading.Event) -> list[Generation]:
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool,
                              device=input_ids.device)

    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    width = max(len(r) for r in rows)
    input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=model.device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows],
                        device=model.device)
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": pad,
                              "eos_token_id": tok.eos_token_id,
                              "stopping_criteria": StoppingCriteriaList([Cancelled()])}
    if temperature > 0:
        kwargs.update(do_sample=True, temperature=temperature)
    else:
        kwargs["do_sample"] = False
    started = time.perf_counter()
    with torch.no_grad():
        if len(rows) > 1 and min(len(r) for r in rows) < width:
            kwargs["cache"] = _prefilled(model, rows, width, cancel)
        out = model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
    latency = (time.perf_counter() - started) * 1000
    ends = _end_ids(tok, model)
    gens = []
    for r, row in enumerate(rows):
        new = out[r, width:].tolist()
        cut = next((k + 1 for k, t in enumerate(new) if t in ends), len(new))
        new = new[:cut]  # what follows its end token is padding
        gens.append(Generation(tok.decode(new, skip_special_tokens=True), name, "local",
                               latency, len(row), len(new), token_ids=new))
    return gens


def _prefilled(model, rows: list[list[int]], width: int, cancel: threading.Event):
    """The batch's cache of every prompt but its last token, each row run alone and then padded
    on the left: a batched prefill would also run the model over the padding, which on the demo
    data cost more than all the answers' tokens. `generate` then starts from the last tokens."""
    import torch
    from transformers import DynamicCache

    per_row = []
    for r in rows:
        if cancel.is_set():
            break
        ids = torch.tensor([r[:-1]], device=model.device)
        cache = model(input_ids=ids, use_cache=True).past_key_values if len(r) > 1 else None
        per_row.append(cache)
    if len(per_row) < len(rows):
        return None  # cancelled: generate stops at once on its own

    def padded(t, n: int):
        return torch.nn.functional.pad(t, (0, 0, width - 1 - n, 0))  # (1, heads, n, dim)

    layers = []
    template = next(c for c in per_row if c is not None)
    for i, layer in enumerate(template.layers):
        keys, values = [], []
        for r, cache in zip(rows, per_row, strict=True):
            if cache is None:  # a one-token prompt: nothing before its last token
                shape = (1, *layer.keys.shape[1:2], 0, layer.keys.shape[-1])
                k = v = layer.keys.new_zeros(shape)
            else:
                k, v = cache.layers[i].keys, cache.layers[i].values
            keys.append(padded(k, len(r) - 1))
            values.append(padded(v, len(r) - 1))
        layers.append((torch.cat(keys), torch.cat(values)))
    return DynamicCache(layers, config=model.config)
