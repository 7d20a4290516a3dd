"""Synthetic interaction data for the benchmarks: realistic shapes, unique content, seeded."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from ftui import REASONING_MODES
from ftui.ingest.formats import InteractionRecord
from ftui.resources import asset_path

MODELS = ["llama3.2:3b", "qwen2.5:7b-instruct", "smollm2:135m", "mistral:7b"]


def _demo_pairs() -> list[tuple[str, str]]:
    pairs = []
    for line in asset_path("demo_interactions.jsonl").read_text().splitlines():
        msgs = json.loads(line)["messages"]
        user = next(m["content"] for m in msgs if m["role"] == "user")
        answer = next(m["content"] for m in reversed(msgs) if m["role"] == "assistant")
        pairs.append((user, answer))
    return pairs


def records(n: int, seed: int = 0) -> Iterator[dict]:
    """`n` OpenAI-style records with metadata; every one distinct."""
    rng = random.Random(seed)
    pairs = _demo_pairs()
    start = datetime(2025, 1, 1)
    for i in range(n):
        user, answer = pairs[rng.randrange(len(pairs))]
        rating = rng.choice([None, None, 1, 2, 3, 4, 5])
        yield {
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": f"{user} (case {i})"},
                {"role": "assistant", "content": answer},
            ],
            "reasoning_mode": rng.choice(REASONING_MODES),
            "model": rng.choice(MODELS),
            "created_at": (start + timedelta(seconds=i * 37 + rng.randrange(30))).isoformat(),
            "rating": rating,
            "latency_ms": round(rng.uniform(200, 4000), 1),
        }


def write_jsonl(path: Path, n: int, seed: int = 0) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for rec in records(n, seed):
            fh.write(json.dumps(rec) + "\n")
    return path


def parsed_records(n: int, seed: int = 0) -> Iterator[InteractionRecord]:
    from ftui.ingest.formats import parse_openai

    for rec in records(n, seed):
        yield parse_openai(rec)


def varied_records(n: int, seed: int = 0, near_dup_share: float = 0.05) -> Iterator[dict]:
    """Mostly distinct conversations, as a real log has: prompts and answers assembled from
    sentences of the demo set, with `near_dup_share` of them near copies (a word changed) of an
    earlier one. For benchmarks of cleaning steps, where 100k copies of 276 answers would be
    unrealistic."""
    rng = random.Random(seed)
    pairs = _demo_pairs()
    sentences = [s.strip() for _, a in pairs for s in a.replace("\n", " ").split(". ") if len(s) > 20]
    start = datetime(2025, 1, 1)
    made: list[dict] = []
    for i in range(n):
        if made and rng.random() < near_dup_share:
            base = made[rng.randrange(len(made))]
            answer = base["messages"][2]["content"].replace(" the ", " a ", 1) + " Thanks!"
            user = base["messages"][1]["content"]
        else:
            user = f"{pairs[rng.randrange(len(pairs))][0]} {rng.choice(sentences)}"
            answer = ". ".join(rng.sample(sentences, rng.randint(2, 6))) + "."
        rec = {
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": user},
                {"role": "assistant", "content": answer},
            ],
            "reasoning_mode": rng.choice(REASONING_MODES),
            "model": rng.choice(MODELS),
            "created_at": (start + timedelta(seconds=i * 37)).isoformat(),
            "rating": rng.choice([None, 1, 2, 3, 4, 5]),
        }
        made.append(rec)
        if len(made) > 5000:
            made.pop(0)
        yield rec
