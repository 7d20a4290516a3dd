"""One playground exchange: route the prompt (mode, model, fallback), then log the exchange as an
interaction (source `playground`) so it can be rated and later trained on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.inference import OnToken
from ftui.inference.router import Routed, generate
from ftui.store import Store

SOURCE = "playground"


@dataclass
class Exchange:
    routed: Routed
    interaction_id: int | None  # None when the model answered nothing (nothing to rate)
    messages: list[dict[str, Any]]  # the conversation so far, reply included


def chat_turn(store: Store, model_ref: str, history: list[dict[str, Any]], prompt: str, *,
              mode: str, home: Path, host: str, on_token: OnToken | None = None,
              session_id: str | None = None, timeout_s: float = 120.0) -> Exchange:
    from ftui.ingest import log_interaction

    convo = [*history, {"role": "user", "content": prompt}]
    routed = generate(store, model_ref, convo, mode=mode, home=home, host=host,
                      on_token=on_token, timeout_s=timeout_s)
    gen = routed.generation
    used = gen.model if routed.fell_back or gen.backend == "ollama" else _name_of(store, model_ref)
    convo = [*convo, {"role": "assistant", "content": gen.text}]
    if not gen.text.strip():
        return Exchange(routed, None, list(history))  # the empty exchange is dropped
    row = log_interaction(
        store, convo, mode=routed.mode, model=used, latency_ms=gen.latency_ms,
        prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens, source=SOURCE,
        session_id=session_id, tags=["fallback"] if routed.fell_back else (),
        context={"requested_model": model_ref, "fallback_reason": routed.fallback_reason}
        if routed.fell_back else None)
    return Exchange(routed, row.id, convo)


def _name_of(store: Store, ref: str) -> str:
    from ftui.errors import FtuiError
    from ftui.registry import get_model

    try:
        return get_model(store, ref).name
    except FtuiError:
        return ref
