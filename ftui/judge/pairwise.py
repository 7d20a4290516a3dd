"""The pairwise judge: two answers to the same prompt, which is better? Asked twice, once with A
shown first and once with B first, to cancel position bias; when the two orders disagree the pair
is a tie. The result: wins, ties, failures, and B's win rate over decisive pairs with a Wilson
interval (as the arena reports it).

    verdicts = judge_pairs(judge, pairs, host=host, home=home, parallel=4)
    summary = summarize(verdicts)
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.errors import FtuiError
from ftui.judge.parse import JudgeParseError
from ftui.judge.prompt import SYSTEM, escape, transcript
from ftui.judge.rubrics import Rubric
from ftui.judge.run import DEFAULT_OPTIONS, Judge

PAIR_SCHEMA = {"type": "object", "properties": {
    "winner": {"type": "string", "enum": ["1", "2", "tie"]},
    "rationale": {"type": "string"}}, "required": ["winner", "rationale"]}


@dataclass(frozen=True)
class Pair:
    messages: list[dict[str, Any]]  # the conversation up to the answer (the prompt)
    answer_a: str
    answer_b: str
    mode: str = "standard"


@dataclass
class PairVerdict:
    winner: str  # A / B / tie / failed
    a_first: str | None  # what the judge said with A shown first (A / B / tie), None: failed
    b_first: str | None
    error: str | None = None


def pair_messages(pair: Pair, first: str, second: str, rubric: Rubric) -> list[dict[str, str]]:
    criteria = ", ".join(c.key.replace("_", " ") for c in rubric.criteria)
    user = (f"<interaction>\n{transcript(pair.messages, None, pair.mode)}\n</interaction>\n\n"
            f"<answer_1>\n{escape(first)}\n</answer_1>\n\n<answer_2>\n{escape(second)}\n"
            "</answer_2>\n\nTwo assistants answered the conversation above: answer_1 and "
            f"answer_2. Which answer is better for the user, judged by {criteria}? Ignore "
            "which came first and how long they are. Answer with one JSON object and nothing "
            'else: {"winner": "1" or "2" or "tie", "rationale": "one line"}')
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_pair(text: str) -> str:
    """"1", "2" or "tie" from a reply, or JudgeParseError."""
    for candidate in [text, *re.findall(r"\{.*?\}", text or "", re.S)]:
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, RecursionError, TypeError):
            continue
        if isinstance(value, dict):
            winner = str(value.get("winner", "")).strip().lower().removeprefix("answer_")
            if winner in ("1", "2", "tie"):
                return winner
    m = re.search(r"winner\W{0,5}(?:answer[ _]?)?(1|2|tie)\b", text or "", re.I)
    if m:
        return m.group(1).lower()
    shown = " ".join((text or "").split())[:120]
    raise JudgeParseError(f"no winner (1, 2 or tie) in the reply: {shown!r}")


def _ask_all(judge: Judge, prompts: Sequence[list[dict[str, str]]], *, host: str, home: Path,
             parallel: int, options: dict[str, Any],
             cancel: threading.Event) -> list[str | FtuiError | None]:
    if judge.backend != "ollama":
        from ftui.inference.batch import generate_many

        outs = generate_many(judge.target, prompts, home=home,
                             max_new_tokens=int(options.get("num_predict", 256)),
                             temperature=float(options.get("temperature", 0.0)),
                             batch_size=parallel, cancel=cancel)
        return [o.generation.text if o.generation else o.error for o in outs]
    import httpx
    import ollama

    from ftui.inference import _ollama_error

    client = ollama.Client(host=host, timeout=120.0)
    name = judge.target["name"]

    def one(messages) -> str | FtuiError | None:
        if cancel.is_set():
            return None
        try:
            resp = client.chat(model=name, messages=messages, stream=False,
                               format=PAIR_SCHEMA, options=options)
            return resp.message.content or ""
        except (ollama.ResponseError, httpx.HTTPError, ConnectionError, TimeoutError) as err:
            return _ollama_error(err, name, host)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="ftui-pair") as pool:
        return list(pool.map(one, prompts))


def _as_arm(reply: str | FtuiError | None, shown_first: str) -> str | None:
    if not isinstance(reply, str):
        return None
    try:
        said = parse_pair(reply)
    except JudgeParseError:
        return None
    if said == "tie":
        return "tie"
    other = "B" if shown_first == "A" else "A"
    return shown_first if said == "1" else other


def judge_pairs(judge: Judge, pairs: Sequence[Pair], rubric: Rubric, *, host: str, home: Path,
                parallel: int = 4, options: dict[str, Any] | None = None,
                cancel: threading.Event | None = None) -> list[PairVerdict]:
    options = {**DEFAULT_OPTIONS, "num_predict": 256, **(options or {})}
    prompts = []
    for p in pairs:
        prompts.append(pair_messages(p, p.answer_a, p.answer_b, rubric))  # A shown first
        prompts.append(pair_messages(p, p.answer_b, p.answer_a, rubric))  # B shown first
    replies = _ask_all(judge, prompts, host=host, home=home, parallel=max(1, parallel),
                       options=options, cancel=cancel or threading.Event())
    out = []
    for k in range(len(pairs)):
        a_first, b_first = _as_arm(replies[2 * k], "A"), _as_arm(replies[2 * k + 1], "B")
        if a_first is None or b_first is None:
            errs = [r for r in replies[2 * k:2 * k + 2] if isinstance(r, FtuiError)]
            out.append(PairVerdict("failed", a_first, b_first,
                                   str(errs[0]) if errs else "unreadable or missing reply"))
        else:
            out.append(PairVerdict(a_first if a_first == b_first else "tie", a_first, b_first))
    return out


def summarize(verdicts: Sequence[PairVerdict]) -> dict[str, Any]:
    from ftui.ab.stats import wilson

    count = {w: sum(1 for v in verdicts if v.winner == w) for w in ("A", "B", "tie", "failed")}
    decisive = count["A"] + count["B"]
    interval = wilson(count["B"], decisive)
    return {"n": len(verdicts), "a_wins": count["A"], "b_wins": count["B"], "ties": count["tie"],
            "failed": count["failed"], "order_disagreements": sum(
                1 for v in verdicts if v.winner == "tie" and v.a_first != v.b_first),
            "b_win_rate": interval.estimate if interval else None,
            "b_win_rate_ci95": [interval.low, interval.high] if interval else None}


def _answers(store, ref: str, prompts: Sequence[tuple[list[dict[str, Any]], str]], *,
             host: str, home: Path, parallel: int) -> list[str | None]:
    """`ref`'s answer to each prompt (with its mode's system prompt, as served), None where it
    failed. Ollama models answer `parallel` at a time; local ones one at a time."""
    from ftui.inference.router import run_target, target_of, with_mode
    from ftui.prompts import system_prompts

    target, _ = target_of(store, ref)
    modes = system_prompts(home)
    options = {"temperature": 0.0, "seed": 0, "num_predict": 512}

    def one(item) -> str | None:
        messages, mode = item
        try:
            return run_target(target, with_mode(messages, mode, modes), home, host,
                              options=options).text
        except FtuiError:
            return None

    workers = parallel if target["backend"] == "ollama" else 1
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ftui-cmp") as pool:
        return list(pool.map(one, prompts))


def compare_models(store, model_a: str, model_b: str, judge: Judge, ids: Sequence[int], *,
                   host: str, home: Path, rubric: str | None = None,
                   parallel: int = 4) -> dict[str, Any]:
    """A and B answer the prompts of the interactions `ids`; the judge compares each pair in
    both orders. A prompt either model failed to answer counts as failed."""
    from ftui.conversation import prompt_and_reply
    from ftui.judge.rubrics import rubric_for
    from ftui.store.interactions import get

    prompts = []
    for i in ids:
        item = get(store, i)
        split = prompt_and_reply(item.messages) if item else None
        if split and split[0]:
            prompts.append((split[0], item.reasoning_mode))
    a = _answers(store, model_a, prompts, host=host, home=home, parallel=parallel)
    b = _answers(store, model_b, prompts, host=host, home=home, parallel=parallel)
    pairs, lost = [], 0
    for (messages, mode), ans_a, ans_b in zip(prompts, a, b, strict=True):
        if ans_a is None or ans_b is None:
            lost += 1
        else:
            pairs.append(Pair(messages, ans_a, ans_b, mode))
    by_mode: dict[str, list[Pair]] = {}
    for p in pairs:
        by_mode.setdefault(p.mode, []).append(p)
    verdicts = []
    for mode, group in by_mode.items():  # each mode's criteria
        verdicts += judge_pairs(judge, group, rubric_for(mode, home, rubric), host=host,
                                home=home, parallel=parallel)
    out = summarize(verdicts)
    out.update(a=model_a, b=model_b, judge=judge.ref, judge_digest=judge.digest,
               unanswered=lost)
    return out
