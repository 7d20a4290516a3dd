"""Writes assets/demo_interactions.jsonl: the sample set that `ftui demo` loads.

Deterministic (fixed seed and dates): run `python assets/generate_demo.py` after editing
demo_topics.py and commit both. The output is in ftui's own JSONL format.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

try:
    from demo_topics import FOLLOW_UPS, PII_PROMPTS, TOOLS, TOPICS
except ImportError:  # imported as ftui.assets.generate_demo
    from ftui.assets.demo_topics import FOLLOW_UPS, PII_PROMPTS, TOOLS, TOPICS

SYSTEM = {
    "standard": "You are a concise, accurate assistant for programmers and technical writers.",
    "chain_of_thought": "Think step by step. Number your steps, then give the final answer after 'Final answer:'.",
    "multi_step": "Break the question into sub-questions, answer each, then write a synthesis.",
    "agent": "You can call tools. Use them when they help, then answer from their results.",
    "auto": "You are a helpful assistant for programmers and technical writers.",
}
MODELS = ["llama3.2:3b", "llama3.2:3b", "qwen2.5:7b-instruct", "smollm2:135m"]
START = datetime(2026, 10, 1, 8, 0, 0)


def first_sentence(text: str) -> str:
    """The first sentence of prose: not a code fence, not a line inside a code block."""
    in_code = False
    for raw in text.strip().split("\n"):
        if raw.startswith("```"):
            in_code = not in_code
            continue
        line = raw.strip().lstrip("-*0123456789. ")
        if line and not in_code:
            return line.split(". ")[0].rstrip(".:") + "."
    return "see the answer below."


def chain_of_thought(prompt: str, answer: str) -> str:
    return (
        f"Step 1 — what is asked: {prompt.rstrip('?.')}.\n"
        f"Step 2 — the key fact: {first_sentence(answer)}\n"
        "Step 3 — apply it to the question and check the edge cases.\n\n"
        f"**Final answer:**\n\n{answer}"
    )


def multi_step(prompt: str, answer: str) -> str:
    return (
        "**Sub-questions**\n\n"
        f"1. What exactly is the problem? — {prompt.rstrip('?.')}.\n"
        f"2. What is the underlying mechanism? — {first_sentence(answer)}\n"
        "3. What should be done in practice? — see below.\n\n"
        f"**Synthesis**\n\n{answer}"
    )


def mediocre(answer: str) -> str:
    return answer.split("\n\n")[0]


class Builder:
    def __init__(self) -> None:
        self.rng = random.Random(7)
        self.records: list[dict] = []

    def add(self, mode, messages, quality, domain, tools=None, extra_tags=()):
        rng = self.rng
        n = len(self.records) + 1
        created = START + timedelta(minutes=rng.randint(0, 55 * 24 * 60))
        answer = next(m["content"] for m in reversed(messages) if m["role"] == "assistant")
        completion = max(4, len(answer) // 4)
        prompt_tokens = sum(len(m["content"]) for m in messages[:-1]) // 4 + 12
        rec = {
            "ftui": 1,
            "uid": f"demo-{n:04d}",
            "created_at": created.isoformat() + "Z",
            "source": "chat-app",
            "user_id": f"user-{rng.randint(1, 40):02d}",
            "session_id": f"s-{rng.randint(1, 400):04d}",
            "reasoning_mode": mode,
            "model": rng.choice(MODELS),
            "messages": messages,
            "latency_ms": round(250 + completion * rng.uniform(8, 30), 1),
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "tags": [domain, *extra_tags],
        }
        if tools:
            rec["tools"] = tools
        if rng.random() < 0.5:
            rec["rating"] = rng.choice({"good": [5, 5, 4], "ok": [3, 3, 4, 2], "poor": [1, 1, 2]}[quality])
            if rec["rating"] >= 4 and rng.random() < 0.4:
                rec["status"] = "accepted"
            elif rec["rating"] <= 2 and rng.random() < 0.4:
                rec["status"] = "rejected"
        self.records.append(rec)
        return rec


def conv(mode: str, prompt: str, answer: str, system: bool = True) -> list[dict]:
    msgs = [{"role": "system", "content": SYSTEM[mode]}] if system else []
    return [*msgs, {"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def build() -> list[dict]:
    b = Builder()
    for i, (domain, prompts, good, poor) in enumerate(TOPICS):
        p0, p1 = prompts[0], prompts[-1]
        b.add("standard", conv("standard", p0, good), "good", domain)
        b.add("standard", conv("standard", p1, poor), "poor", domain)
        b.add("standard", conv("standard", p1, mediocre(good)), "ok", domain)
        b.add("chain_of_thought", conv("chain_of_thought", p0, chain_of_thought(p0, good)), "good", domain)
        if i % 2 == 0:
            b.add("chain_of_thought", conv("chain_of_thought", p1, chain_of_thought(p1, poor)), "poor", domain)
        else:
            b.add("chain_of_thought", conv("chain_of_thought", p1, chain_of_thought(p1, mediocre(good))), "ok", domain)
        b.add("multi_step", conv("multi_step", p0, multi_step(p0, good)), "good", domain)
        if i % 3 == 1:
            b.add("multi_step", conv("multi_step", p1, multi_step(p1, poor)), "poor", domain)
        call = {"type": "function", "function": {"name": "search_docs", "arguments": {"query": p0}}}
        agent_msgs = [
            {"role": "system", "content": SYSTEM["agent"]},
            {"role": "user", "content": p0},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "name": "search_docs", "content": json.dumps({"top_result": first_sentence(good)})},
            {"role": "assistant", "content": good},
        ]
        b.add("agent", agent_msgs, "good", domain, tools=TOOLS, extra_tags=("tool-use",))
        follow_q, follow_a = FOLLOW_UPS[i % len(FOLLOW_UPS)]
        multi_turn = [*conv("auto", p0, good), {"role": "user", "content": follow_q},
                      {"role": "assistant", "content": follow_a}]
        b.add("auto", multi_turn, "good" if i % 3 else "ok", domain, extra_tags=("multi-turn",))
        if i % 3 == 0:  # a near-duplicate of the first record of this topic
            b.add("standard", conv("standard", "Hi! " + p0, good + "\n\nHope this helps!"), "good",
                  domain, extra_tags=("near-duplicate",))
    for j, (prompt, answer) in enumerate(PII_PROMPTS):
        mode = ("standard", "auto", "agent")[j % 3]
        b.add(mode, conv(mode, prompt, answer), "good", "programming", extra_tags=("contains-pii",))
    return b.records


def main() -> None:
    out = Path(__file__).with_name("demo_interactions.jsonl")
    records = build()
    with out.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} interactions to {out}")


if __name__ == "__main__":
    main()
