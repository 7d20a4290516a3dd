"""Writes the demo's preference signals (issue 12), beside the sample set of generate_demo.py:

- assets/demo_preferences.jsonl: interactions in ftui's JSONL format. For each topic's first
  prompt (standard mode, the standard system prompt): its good answer rated 5 and accepted, and
  rated alternatives a user found useless (fluent non-answers, brush-offs and the topic's wrong
  answer, rated 1-2, some rejected); and one non-answer the operator corrected.
- assets/demo_arena.jsonl: blind arena votes on the same prompts (the good answer against a
  non-answer, either side), plus ties and both-bad votes, which make no pair.

Every chosen answer is the topic's hand-written good answer; every rejected one is a fluent
non-answer, a brush-off or a wrong answer. The fluent non-answers are what makes it a test: the
demo base gives them a high mean log-probability, so it prefers them to the real answers. Deterministic (fixed seed and dates): run
`python assets/generate_preferences.py` after editing demo_topics.py and commit the outputs.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

try:
    from demo_topics import TOPICS
    from generate_demo import SYSTEM
except ImportError:  # imported as ftui.assets.generate_preferences
    from ftui.assets.demo_topics import TOPICS
    from ftui.assets.generate_demo import SYSTEM

START = datetime(2026, 11, 1, 9, 0, 0)
# What a user rates 1: an answer that does not answer. {q} is the question, without its "?".
BRUSH_OFFS = [
    "I'm not sure. Try searching online for \"{q}\".",
    "That depends on a lot of things, so I can't really say.",
    "You should ask someone more experienced about this.",
    "Just read the documentation, it's all explained there.",
    "Why would you want to do that? I wouldn't bother.",
    "Sorry, I can't help with that.",
    "It's complicated. Maybe look it up later.",
    "Hmm, good question! I don't know.",
    "Have you tried turning it off and on again?",
    "There is no simple answer to \"{q}\".",
    "Ask me again tomorrow, I'm busy.",
    "Google it, it's the first result.",
]
# What reads well and says nothing: the fluent, generic reply a small instruct model likes to give
# (and rates high by its own log-probabilities), which users rate 1-2 all the same.
FLUFF = [
    "Great question! {q} is something many developers wonder about. There are several "
    "approaches, and the best one depends on your specific use case. In general, I recommend "
    "following best practices and testing your solution carefully. Let me know if you have any "
    "other questions!",
    "That's a really good question. When it comes to \"{q}\", there is no one-size-fits-all "
    "answer. It is important to consider your requirements, your environment and your goals. "
    "I hope this helps!",
    "Thanks for asking! {q} can be tricky. The key is to understand the basics, take it step "
    "by step, and check the official documentation for more details. Good luck!",
    "Sure! Here is an overview. {q} is an important topic. There are many factors to keep in "
    "mind, and different people prefer different solutions. Try a few options and see what "
    "works best for you.",
    "Absolutely, I can help with that. In short: {q} depends on the context. Make sure you "
    "follow the recommended guidelines, keep your code clean, and you should be fine. Feel free "
    "to ask if anything is unclear!",
    "Good question. Many people ask about {q}. The answer is that it depends. You should "
    "carefully evaluate the trade-offs and pick the approach that fits your needs best.",
    "Of course! {q} is a common topic. There are several ways to handle it, each with its own "
    "advantages and disadvantages. I would suggest doing some research and experimenting.",
    "Happy to help! Regarding {q}: it is best to follow industry standards and best practices. "
    "Always remember to test thoroughly and keep learning. Have a great day!",
]
RATED_FLUFF, RATED_BRUSH_OFFS = 4, 3  # per prompt, besides its wrong answer
ARENA_MODELS = ("llama3.2:3b", "smollm2:135m")


def _question(prompt: str) -> str:
    return prompt.strip().rstrip("?.!")


def _conversation(prompt: str, answer: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM["standard"]},
            {"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def build() -> tuple[list[dict], list[dict]]:
    rng = random.Random(12)
    records: list[dict] = []
    votes: list[dict] = []
    at = START

    def record(prompt: str, answer: str, domain: str, **fields) -> None:
        nonlocal at
        at += timedelta(minutes=rng.randint(3, 90))
        records.append({
            "ftui": 1, "uid": f"demo-pref-{len(records) + 1:04d}",
            "created_at": at.isoformat() + "Z", "source": "chat-app",
            "user_id": f"user-{rng.randint(1, 40):02d}", "session_id": f"s-{rng.randint(401, 800)}",
            "reasoning_mode": "standard", "model": rng.choice(ARENA_MODELS),
            "messages": _conversation(prompt, answer),
            "tags": [domain, "preference-demo"], **fields})

    for i, (domain, prompts, good, poor) in enumerate(TOPICS):
        prompt = prompts[0]
        q = _question(prompt)
        fluff = [t.format(q=q) for t in rng.sample(FLUFF, RATED_FLUFF + 3)]
        brush = [t.format(q=q) for t in rng.sample(BRUSH_OFFS, RATED_BRUSH_OFFS + 1)]
        # rated: 4 fluent non-answers and 3 brush-offs; corrected: a non-answer; arena: two
        # non-answers and a brush-off
        rated = fluff[:RATED_FLUFF] + brush[:RATED_BRUSH_OFFS]
        offs = [*rated, fluff[RATED_FLUFF], fluff[RATED_FLUFF + 1], fluff[RATED_FLUFF + 2],
                brush[RATED_BRUSH_OFFS]]
        record(prompt, good, domain, rating=5, status="accepted")
        record(prompt, poor, domain, rating=1, status="rejected" if i % 2 else "new")
        for j, off in enumerate(rated):
            record(prompt, off, domain, rating=1 + (j % 2), status="rejected" if j == 0 else "new")
        # the operator corrected a non-answer with the good answer
        record(prompt, offs[len(rated)], domain, correction=good)
        for off in offs[len(rated) + 1:]:
            good_left = rng.random() < 0.5
            a, b = (good, off) if good_left else (off, good)
            votes.append({"prompt": _conversation(prompt, "")[:2], "answer_a": a, "answer_b": b,
                          "winner": "A" if good_left else "B", "model_a": ARENA_MODELS[0],
                          "model_b": ARENA_MODELS[1], "left": rng.choice("AB")})
        if i % 5 == 0:  # votes that say no order: left out of pairs
            votes.append({"prompt": _conversation(prompt, "")[:2], "answer_a": good,
                          "answer_b": good + "\n\nHope this helps!", "winner": "tie",
                          "model_a": ARENA_MODELS[0], "model_b": ARENA_MODELS[1], "left": "A"})
            votes.append({"prompt": _conversation(prompt, "")[:2], "answer_a": poor,
                          "answer_b": offs[0], "winner": "both_bad",
                          "model_a": ARENA_MODELS[0], "model_b": ARENA_MODELS[1], "left": "B"})
    return records, votes


def main() -> None:
    records, votes = build()
    here = Path(__file__).parent
    for name, rows in (("demo_preferences.jsonl", records), ("demo_arena.jsonl", votes)):
        with (here / name).open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"wrote {len(rows)} rows to {here / name}")


if __name__ == "__main__":
    main()
