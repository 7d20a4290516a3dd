"""Building a dataset: select, correct, re-prompt, redact, dedup, length rules, split, stats.

Every step reports what it removed or changed. The same spec over the same data gives the same
examples, the same split and the same content hash. `preview` runs the same steps over a sample
so a screen can show the effect of a rule as it is typed.
"""

from __future__ import annotations

import gc
import hashlib
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, func, literal, not_, or_, select

from ftui.conversation import apply_correction, canonical_json, normalize_tags
from ftui.curate.dedup import NearDuplicates, normalized_text
from ftui.curate.redact import PATTERNS, find, redact, runnable
from ftui.curate.spec import DatasetSpec
from ftui.curate.tokens import load_tokenizer
from ftui.store import Interaction, Store

T = Interaction.__table__
C = T.c
SPLITS = ("train", "validation", "test")
Progress = Callable[[str, float], None]  # (step, fraction done)


@dataclass
class Example:
    interaction_id: int
    mode: str
    rating: int | None
    messages: list[dict[str, Any]]
    tools_json: str | None
    redactions: int = 0
    tokens: int = 0
    turn_tokens: list[int] = field(default_factory=list)
    dup_key: bytes = b""
    split: str = "train"
    # (messages it was made from, their canonical JSON, key or None until asked): the hash, the
    # split order and the frozen version all need them, and a list of messages given a new value
    # is made again. A conversation the build left as it was starts with the stored JSON, which
    # is canonical already (serialized once at ingest): most examples are never serialized again.
    _frozen: tuple | None = field(default=None, repr=False, compare=False)

    def _freeze(self) -> tuple:
        frozen = self._frozen
        if frozen is None or frozen[0] is not self.messages:
            frozen = (self.messages, canonical_json(self.messages), None)
        if frozen[2] is None:
            raw = frozen[1] + "\x1f" + (self.tools_json or "")
            frozen = (frozen[0], frozen[1], hashlib.sha256(raw.encode()).hexdigest()[:32])
        self._frozen = frozen
        return frozen

    @property
    def messages_json(self) -> str:
        """The messages as stored: canonical JSON."""
        return self._freeze()[1]

    @property
    def key(self) -> str:
        """Identity of the final example (conversation and tools), to compare versions."""
        return self._freeze()[2]


@dataclass
class BuildResult:
    spec: DatasetSpec
    examples: list[Example]
    matched: int
    removed: dict[str, int]
    changed: dict[str, int]
    seconds: dict[str, float]
    stats: dict[str, Any]
    content_hash: str
    tokenizer: str
    exact_tokens: bool
    sampled: bool = False

    @property
    def splits(self) -> dict[str, int]:
        counts = Counter(e.split for e in self.examples)
        return {s: counts.get(s, 0) for s in SPLITS}

    def report(self) -> dict[str, Any]:
        return {"matched": self.matched, "splits": self.splits, "removed": self.removed,
                "changed": self.changed, "stats": self.stats, "seconds": self.seconds,
                "tokenizer": self.tokenizer, "exact_tokens": self.exact_tokens}


# ---------------------------------------------------------------- selection


def _conditions(spec: DatasetSpec) -> list:
    conds = []
    if spec.min_rating is not None:
        rated = C.rating >= spec.min_rating
        conds.append(or_(rated, C.rating.is_(None)) if spec.include_unrated
                     else _or_judged(rated, spec))
    elif not spec.include_unrated:
        conds.append(_or_judged(C.rating.is_not(None), spec))
    if spec.statuses:
        conds.append(C.status.in_(spec.statuses))
    if spec.modes:
        conds.append(C.reasoning_mode.in_(spec.modes))
    if spec.models:
        conds.append(C.model.in_(spec.models))
    if spec.sources:
        conds.append(C.source.in_(spec.sources))
    if spec.users or spec.teams:
        from ftui.config import people

        conds.append(C.user_id.in_(people(spec.users, spec.teams)))
    tagged = literal(",") + C.tags + literal(",")
    if spec.tags:  # tags are stored normalized: compare them the same way
        conds.append(or_(*(tagged.like(f"%,{t},%") for t in normalize_tags(spec.tags))))
    for t in normalize_tags(spec.exclude_tags):
        conds.append(not_(tagged.like(f"%,{t},%")))
    if spec.since:
        conds.append(C.created_at >= datetime.fromisoformat(spec.since))
    if spec.until:
        conds.append(C.created_at < datetime.fromisoformat(spec.until))
    return conds


def _or_judged(cond, spec: DatasetSpec):
    """`cond`, or unrated with a current judge score of at least `judged_min` (issue 13)."""
    if spec.judged_min is None:
        return cond
    from sqlalchemy import exists

    from ftui.store.models import Judgement

    J = Judgement.__table__.c
    return or_(cond, and_(C.rating.is_(None), exists().where(
        J.interaction_id == C.id, J.current.is_(True), J.status == "ok",
        J.score >= spec.judged_min)))


def count_matching(store: Store, spec: DatasetSpec) -> int:
    with store.engine.connect() as conn:
        stmt = select(func.count()).select_from(T).where(and_(True, *_conditions(spec)))
        return conn.execute(stmt).scalar_one()


def select_candidates(store: Store, spec: DatasetSpec, limit: int | None = None) -> Iterator[tuple]:
    """Matching interactions best-first (rated higher, then newer): duplicates keep the best."""
    order = (C.rating.is_(None), C.rating.desc(), C.created_at.desc(), C.id.desc())
    where = and_(True, *_conditions(spec))
    columns = (C.id, C.reasoning_mode, C.rating, C.messages_json, C.tools_json, C.correction)
    stmt = select(*columns).where(where).order_by(*order)
    if limit:
        # The best ids first, then their rows: sorting every match with its conversation
        # attached took most of the preview's time on a big store (0.32 s -> 0.13 s on 100k).
        best = select(C.id).where(where).order_by(*order).limit(limit).subquery()
        stmt = select(*columns).join(best, best.c.id == C.id).order_by(*order)
    with store.engine.connect() as conn:
        yield from conn.execution_options(yield_per=5000).execute(stmt)


# ---------------------------------------------------------------- steps


def apply_system_policy(messages: list[dict[str, Any]], mode: str, policy: str,
                        prompts: dict[str, str]) -> list[dict[str, Any]]:
    if policy == "keep":
        return messages
    rest = [m for m in messages if m["role"] != "system"]
    prompt = prompts.get(mode) or prompts.get("standard", "")
    return [{"role": "system", "content": prompt}, *rest] if prompt else rest


def _redact_value(value: Any, counts: Counter, patterns: tuple = PATTERNS) -> Any:
    if isinstance(value, str):
        text, found = redact(value, patterns)
        if found:
            counts.update(found)
        return text
    if isinstance(value, dict):
        return {k: _redact_value(v, counts, patterns) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, counts, patterns) for v in value]
    return value


def patterns_for(messages: list[dict[str, Any]]) -> tuple:
    """The redaction patterns worth trying on these messages: one cheap look at the whole
    conversation, so only the patterns with signs in it are tried on its messages (most
    conversations: none). All of them when a message holds more than plain text."""
    if all(type(m["content"]) is str and "tool_calls" not in m for m in messages):
        return runnable("\n".join([m["content"] for m in messages]))
    return PATTERNS


def redact_messages(messages: list[dict[str, Any]], patterns: tuple | None = None,
                    ) -> tuple[list[dict[str, Any]], Counter]:
    if patterns is None:
        patterns = patterns_for(messages)
    counts: Counter = Counter()
    out = []
    for msg in messages:
        new = dict(msg)
        if patterns:
            new["content"] = _redact_value(msg["content"], counts, patterns)
        if "tool_calls" in msg:
            new["tool_calls"] = _redact_value(msg["tool_calls"], counts, patterns)
        out.append(new)
    return out, counts


def has_pii(messages: list[dict[str, Any]]) -> bool:
    for msg in messages:
        text = msg["content"]
        if "tool_calls" in msg:
            text += orjson.dumps(msg["tool_calls"]).decode()
        if find(text):
            return True
    return False


def turn_text(msg: dict[str, Any]) -> str:
    text = f"{msg['role']}: {msg['content']}"
    if "tool_calls" in msg:
        text += " " + orjson.dumps(msg["tool_calls"]).decode()
    return text


def truncate(ex: Example, max_tokens: int) -> bool:
    """Drop the oldest turns (never the system prompt, never the final exchange) until the
    example fits. False when even the final exchange is too long."""
    msgs, counts = ex.messages, ex.turn_tokens
    last_user = max((i for i, m in enumerate(msgs) if m["role"] == "user"), default=0)
    start = 1 if msgs and msgs[0]["role"] == "system" else 0
    cut = start
    while sum(counts) - sum(counts[start:cut]) > max_tokens and cut < last_user:
        cut += 1
        while cut < last_user and msgs[cut]["role"] != "user":
            cut += 1  # drop whole turns: resume at a user message
    total = sum(counts) - sum(counts[start:cut])
    if total > max_tokens:
        return False
    ex.messages = msgs[:start] + msgs[cut:]
    ex.turn_tokens = counts[:start] + counts[cut:]
    ex.tokens = total
    return True


def split_examples(examples: list[Example], spec: DatasetSpec) -> None:
    """Deterministic, stratified by mode: within each mode, examples are ordered by a seeded hash
    of their content and cut into test, validation and train."""
    by_mode: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        by_mode[ex.mode].append(ex)
    for group in by_mode.values():
        group.sort(key=lambda e: hashlib.sha256(f"{spec.seed}:".encode() + e.dup_key).digest())
        n = len(group)
        n_test = round(n * spec.test)
        n_val = round(n * spec.val)
        if spec.val > 0 and n_val == 0 and n - n_test >= 3:
            n_val = 1  # a small mode still gets a validation example
        for i, ex in enumerate(group):
            ex.split = "test" if i < n_test else "validation" if i < n_test + n_val else "train"


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"total": 0, "mean": 0, "p50": 0, "p95": 0, "max": 0}
    ordered = sorted(values)
    return {
        "total": sum(ordered),
        "mean": round(statistics.fmean(ordered), 1),
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max": ordered[-1],
    }


def statistics_of(examples: list[Example]) -> dict[str, Any]:
    def one(group: list[Example]) -> dict[str, Any]:
        return {
            "examples": len(group),
            "tokens": _summary([e.tokens for e in group]),
            "turns_mean": round(statistics.fmean(
                [sum(m["role"] == "user" for m in e.messages) for e in group]), 2) if group else 0,
            "by_mode": dict(sorted(Counter(e.mode for e in group).items())),
            "by_rating": {str(k): v for k, v in sorted(
                Counter(e.rating for e in group).items(), key=lambda kv: (kv[0] is None, kv[0] or 0))},
        }

    out = {"all": one(examples)}
    for split in SPLITS:
        out[split] = one([e for e in examples if e.split == split])
    return out


# ---------------------------------------------------------------- the pipeline


def run_pipeline(rows: Iterable[tuple], spec: DatasetSpec, prompts: dict[str, str],
                 progress: Progress | None = None, total: int | None = None) -> BuildResult:
    """The build's steps over `rows`. Python's cycle collector waits meanwhile: the steps make
    millions of small objects without cycles (messages), and each full collection walked all of
    them again (a fifth of a 100k build's time); it runs as usual afterwards."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run_pipeline(rows, spec, prompts, progress, total)
    finally:
        if collecting:
            gc.enable()


def _run_pipeline(rows: Iterable[tuple], spec: DatasetSpec, prompts: dict[str, str],
                  progress: Progress | None, total: int | None) -> BuildResult:
    spec.validate()
    seconds: dict[str, float] = {}
    removed: Counter = Counter()
    changed: Counter = Counter()
    tick = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        seconds[step] = seconds.get(step, 0.0) + now - tick  # rounded once, at the end
        tick = now

    examples: list[Example] = []
    seen_exact: set[bytes] = set()
    near = NearDuplicates(spec.near_dup) if spec.near_dup else None
    matched = 0
    for matched, (iid, mode, rating, messages_json, tools_json, correction) in enumerate(rows, 1):
        messages = stored = orjson.loads(messages_json)
        corrected = apply_correction(messages, correction)
        if corrected is not None:
            messages = corrected
            changed["corrected"] += 1
        if spec.system_prompt == "mode":
            messages = apply_system_policy(messages, mode, "mode", prompts)
            changed["system_prompt_replaced"] += 1
        lap("select_and_correct")
        redactions = 0
        if spec.redact == "drop":
            if has_pii(messages):
                removed["pii"] += 1
                lap("redact")
                continue
        elif spec.redact == "redact" and (patterns := patterns_for(messages)):
            redacted, counts = redact_messages(messages, patterns)
            if counts:  # else the same conversation: keep the very list (its JSON is stored)
                messages = redacted
                redactions = sum(counts.values())
                changed["redacted_examples"] += 1
                for kind, n in counts.items():
                    changed[f"redacted:{kind}"] += n
        lap("redact")
        text = normalized_text(messages)
        key = hashlib.sha1(text.encode()).digest()
        if key in seen_exact:
            removed["exact_duplicate"] += 1
            lap("exact_dedup")
            continue
        seen_exact.add(key)
        lap("exact_dedup")
        if near is not None:
            near.add(text)  # decided below, all at once, in this (best-first) order
        lap("near_dedup")
        examples.append(Example(iid, mode, rating, messages, tools_json, redactions, dup_key=key,
                                _frozen=(messages, messages_json, None) if messages is stored
                                else None))
        if progress and total and matched % 2000 == 0:
            progress("cleaning", matched / total)

    if near is not None:
        copies = near.duplicates()
        if any(copies):
            removed["near_duplicate"] += sum(copies)
            examples = [ex for ex, copy in zip(examples, copies, strict=True) if not copy]
        lap("near_dedup")
    tokenizer = load_tokenizer(spec.tokenizer)
    texts = [turn_text(m) for ex in examples for m in ex.messages]
    counts = tokenizer.count(texts)
    pos = 0
    for ex in examples:
        ex.turn_tokens = counts[pos:pos + len(ex.messages)]
        ex.tokens = sum(ex.turn_tokens)
        pos += len(ex.messages)
    lap("tokens")
    kept: list[Example] = []
    for ex in examples:
        if spec.min_tokens and ex.tokens < spec.min_tokens:
            removed["too_short"] += 1
        elif spec.max_tokens and ex.tokens > spec.max_tokens:
            if spec.over_length == "truncate" and truncate(ex, spec.max_tokens):
                changed["truncated"] += 1
                kept.append(ex)
            else:
                removed["too_long"] += 1
        else:
            kept.append(ex)
    if spec.max_examples and len(kept) > spec.max_examples:
        removed["over_max_examples"] = len(kept) - spec.max_examples
        kept = kept[: spec.max_examples]
    lap("length")
    split_examples(kept, spec)
    lap("split")
    stats = statistics_of(kept)
    lap("stats")
    digest = hashlib.sha256(spec.canonical().encode())
    for split, key in sorted((e.split, e.key) for e in kept):
        digest.update(f"\n{split}:{key}".encode())
    if progress:
        progress("done", 1.0)
    seconds = {k: round(v, 3) for k, v in seconds.items()}
    return BuildResult(spec, kept, matched, dict(removed), dict(changed), seconds, stats,
                       digest.hexdigest()[:32], tokenizer.name, tokenizer.exact)
