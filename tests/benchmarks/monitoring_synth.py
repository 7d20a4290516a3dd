"""A store of synthetic product traffic for the monitoring benchmark and tests: users who come back
over weeks, sessions of several turns, agent answers with tool results (some failed), ratings,
reviews, fallbacks. Rows are inserted with bulk Core inserts (executemany), seeded."""

from __future__ import annotations

import math
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from ftui import REASONING_MODES
from ftui.conversation import canonical_json
from ftui.store import Interaction, Store

MODELS = ["llama3.2:3b", "qwen2.5:7b-instruct", "smollm2:135m", "mistral:7b", None]
START = datetime(2025, 1, 6)  # a Monday


def _messages(rng: random.Random, i: int, mode: str) -> tuple[list[dict[str, Any]], bool]:
    msgs: list[dict[str, Any]] = [{"role": "user", "content": f"question number {i} about things"}]
    if mode == "agent" and rng.random() < 0.7:
        for k in range(rng.randint(1, 3)):
            msgs.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": f"c{k}", "type": "function",
                 "function": {"name": "search", "arguments": "{\"q\": \"x\"}"}}]})
            roll = rng.random()
            result = ("Error: the service timed out" if roll < 0.08 else
                      '{"error": "not found"}' if roll < 0.12 else f"result {k} for {i}")
            msgs.append({"role": "tool", "tool_call_id": f"c{k}", "name": "search",
                         "content": result})
    msgs.append({"role": "assistant", "content": f"the answer to question {i} is this."})
    return msgs, False


def rows(n: int, seed: int = 0, days: int = 182) -> list[dict[str, Any]]:
    """`n` interaction rows spread over `days`, in time order."""
    rng = random.Random(seed)
    users = [f"u{k}" for k in range(max(10, n // 200))]
    out: list[dict[str, Any]] = []
    step = days * 86400 / max(n, 1)
    session, session_left, session_user = None, 0, None
    for i in range(n):
        if session_left <= 0:
            session, session_left = uuid.UUID(int=rng.getrandbits(128)).hex, rng.randint(1, 8)
            # a few heavy users come back week after week, most are seen a few times
            session_user = users[int(len(users) * rng.random() ** 2)] if rng.random() < 0.9 else None
        session_left -= 1
        mode = rng.choice(REASONING_MODES)
        model = rng.choice(MODELS)
        created = START + timedelta(seconds=i * step + rng.random() * step)
        msgs, _ = _messages(rng, i, mode)
        roll = rng.random()
        latency = None if roll < 0.03 else round(math.exp(rng.gauss(6.8, 0.7)), 1)
        out.append({
            "uid": None, "created_at": created, "updated_at": created,
            "source": "bench", "user_id": session_user,
            "session_id": session if rng.random() < 0.95 else None,
            "reasoning_mode": mode, "model": model,
            "messages_json": canonical_json(msgs), "tools_json": None, "context_json": None,
            "preview": msgs[0]["content"][:80], "latency_ms": latency,
            "prompt_tokens": rng.randint(10, 400),
            "completion_tokens": None if rng.random() < 0.05 else rng.randint(5, 600),
            "rating": rng.choice([None, None, None, 1, 2, 3, 4, 5, 5]),
            "status": rng.choices(["new", "accepted", "rejected"], [8, 3, 1])[0],
            "correction": None,
            "tags": "fallback" if rng.random() < 0.02 else ("fallback,x" if rng.random() < 0.005
                                                             else ""),
            "notes": None, "content_hash": f"{seed:04x}{i:028x}",
            "experiment_id": None, "arm": None,
        })
    return out


def fill(store: Store, n: int, seed: int = 0, days: int = 182, batch: int = 20_000) -> int:
    """Insert `n` synthetic rows with bulk Core inserts; returns the number written."""
    table = Interaction.__table__
    data = rows(n, seed, days)
    with store.engine.begin() as conn:
        for k in range(0, len(data), batch):
            conn.execute(insert(table), data[k:k + batch])
    return len(data)
