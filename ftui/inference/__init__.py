"""One `generate(...)` over two backends: Ollama (through the `ollama` client) and local
transformers (base model + peft adapter, cached per model). Both stream; both return text,
latency and token counts; every failure a user can cause becomes an FtuiError with the fix."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.errors import FtuiError

OnToken = Callable[[str], None]


@dataclass
class Generation:
    text: str
    model: str
    backend: str  # ollama / local
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    token_ids: list[int] | None = None  # the generated ids, end token included (local only)

    @property
    def tokens_per_second(self) -> float | None:
        if not self.completion_tokens or not self.latency_ms:
            return None
        return self.completion_tokens / (self.latency_ms / 1000)


# ---------------------------------------------------------------- Ollama


def _ollama_error(err: BaseException, model: str, host: str) -> FtuiError:
    import httpx
    import ollama

    if isinstance(err, ollama.ResponseError):
        if err.status_code == 404:
            return FtuiError(f"Ollama has no model {model!r} ({err.error})",
                             f"pull or deploy it first: ollama pull {model}")
        return FtuiError(f"Ollama answered {err.status_code}: {err.error}",
                         "check the request and the Ollama server log")
    if isinstance(err, httpx.TimeoutException | TimeoutError):
        return FtuiError(f"Ollama at {host} did not answer in time", "check the server's load, or "
                         "raise the timeout")
    return FtuiError(f"cannot reach Ollama at {host} ({type(err).__name__})",
                     "start it (ollama serve) or set OLLAMA_HOST to where it runs")


def ollama_generate(host: str, model: str, messages: list[dict[str, Any]], *,
                    options: dict[str, Any] | None = None, on_token: OnToken | None = None,
                    timeout_s: float = 120.0) -> Generation:
    import httpx
    import ollama

    client = ollama.Client(host=host, timeout=timeout_s)
    started = time.perf_counter()
    pieces: list[str] = []
    last = None
    try:
        for chunk in client.chat(model=model, messages=messages, stream=True, options=options):
            piece = chunk.message.content or ""
            if piece:
                pieces.append(piece)
                if on_token:
                    on_token(piece)
            last = chunk
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError, TimeoutError) as err:
        raise _ollama_error(err, model, host) from err
    return Generation("".join(pieces), model, "ollama", (time.perf_counter() - started) * 1000,
                      getattr(last, "prompt_eval_count", None), getattr(last, "eval_count", None))


def ollama_models(host: str, timeout_s: float = 10.0) -> list[str]:
    """What `ollama list` shows: the names to pick from when registering an Ollama model."""
    import httpx
    import ollama

    try:
        listing = ollama.Client(host=host, timeout=timeout_s).list()
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError, TimeoutError) as err:
        raise _ollama_error(err, "", host) from err
    return [m.model for m in listing.models]


# ---------------------------------------------------------------- local transformers

# Loaded local models, most recently used last. Bounded: each holds a full copy of its base's
# weights (a 7B base is ~14 GB in bf16), and a session of evaluations, playground chats and
# gates would otherwise keep every one it touched. FTUI_MODEL_CACHE sets how many stay loaded.
_CACHE: OrderedDict[tuple[str, str | None], tuple[Any, Any]] = OrderedDict()
_CACHE_LOCK = threading.Lock()  # guards _CACHE and _LOADING only, never held while loading
_LOADING: dict[tuple[str, str | None], threading.Lock] = {}


def model_cache_size() -> int:
    try:
        return max(1, int(os.environ.get("FTUI_MODEL_CACHE", "2")))
    except ValueError:
        return 2


def local_model(base: str, adapter: str | None, home: Path):
    """(tokenizer, model) for `base` (+ `adapter`), loaded once and kept while recently used.
    Loading one model does not block callers of another one that is already loaded."""
    key = (base, adapter)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        loading = _LOADING.setdefault(key, threading.Lock())
    with loading:  # two callers of the same model: the second waits and takes the first's load
        with _CACHE_LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key]
        loaded = _load_local(base, adapter, home)
        with _CACHE_LOCK:
            _CACHE[key] = loaded
            _LOADING.pop(key, None)
            while len(_CACHE) > model_cache_size():
                _CACHE.popitem(last=False)  # callers still using it keep their reference
        return loaded



def forget_local_models() -> None:
    """Drop every loaded model (after a run, to give its memory back)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _load_local(base: str, adapter: str | None, home: Path):
    import torch

    from ftui.train.base import load_base

    tok, model = load_base(base, home)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    if torch.cuda.is_available():
        model.to("cuda")
    return tok, model


def local_generate(base: str, adapter: str | None, messages: list[dict[str, Any]], home: Path, *,
                   max_new_tokens: int = 256, temperature: float = 0.0,
                   on_token: OnToken | None = None) -> Generation:
    import torch
    from transformers import TextIteratorStreamer

    tok, model = local_model(base, adapter, home)
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tok(text, return_tensors="pt", add_special_tokens=False).to(model.device)
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "streamer": streamer,
                              "pad_token_id": tok.pad_token_id, "eos_token_id": tok.eos_token_id}
    if temperature > 0:
        kwargs.update(do_sample=True, temperature=temperature)
    else:
        kwargs["do_sample"] = False
    started = time.perf_counter()
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            with torch.no_grad():
                result["ids"] = model.generate(**inputs, **kwargs)
        except Exception as err:  # reported below, in the caller's thread
            result["error"] = err
            streamer.end()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    pieces = _drain(streamer, on_token)
    worker.join()
    if "error" in result:
        raise FtuiError(f"local generation failed: {result['error']}",
                        "check the model loads (ftui models show) and fits in memory")
    new_ids = result["ids"][0, inputs["input_ids"].shape[-1]:].tolist()
    return Generation("".join(pieces), adapter or base, "local",
                      (time.perf_counter() - started) * 1000, int(inputs["input_ids"].shape[-1]),
                      len(new_ids), token_ids=new_ids)


def _drain(stream: Iterator[str], on_token: OnToken | None) -> list[str]:
    pieces = []
    for piece in stream:
        if piece:
            pieces.append(piece)
            if on_token:
                on_token(piece)
    return pieces
