"""Preference and unpaired dataset versions: which answer is better, learned from the operator's
own signals.

Where preferences come from (each counted in the build report, by source):
- correction: an interaction's correction is chosen over the reply it corrects;
- rating: two answers to the same prompt (same conversation up to THE reply, same tools) whose
  ratings differ by at least `min_rating_gap`; the best answer is chosen over each worse one;
- arena: a decisive blind vote, winner over loser (ties and both-bad votes say no order).
For `unpaired` (KTO): a rating of `desirable_min_rating` or more, or accepted, is desirable; a
rating of `undesirable_max_rating` or less, or rejected, is undesirable; a correction is desirable
and the reply it corrects undesirable; an arena winner desirable and its loser undesirable.

A reply the operator rejected is only ever the rejected (undesirable) side. The prompt is the
conversation before the reply, so multi-turn and tool conversations work. The same rules as an sft
version hold: selection (but not min rating or status: those are the signal here), redaction,
exact and near dedup, length (long prompts lose their oldest turns, never the final exchange),
splits (by prompt: no prompt is in two splits), and the frozen content hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, select
from sqlmodel import col
from sqlmodel import select as model_select

from ftui.conversation import apply_correction, canonical_json, prompt_and_reply
from ftui.curate.build import (
    SPLITS,
    BuildResult,
    _conditions,
    has_pii,
    redact_messages,
    statistics_of,
    truncate,
    turn_text,
)
from ftui.curate.dedup import NearDuplicates, normalized_text
from ftui.curate.spec import DatasetSpec
from ftui.curate.tokens import load_tokenizer
from ftui.store import ArenaVote, DatasetExample, DatasetPreference, Interaction, Store

C = Interaction.__table__.c


@dataclass
class PreferenceExample:
    """`messages` is the prompt plus the chosen (pairs) or labelled (unpaired) reply, so code
    that reads a version's conversations (arena prompts, evaluation) reads these too."""

    interaction_id: int | None
    mode: str
    rating: int | None
    messages: list[dict[str, Any]]
    tools_json: str | None
    source: str
    rejected: dict[str, Any] | None = None
    label: bool | None = None
    redactions: int = 0
    tokens: int = 0
    turn_tokens: list[int] = field(default_factory=list)
    split: str = "train"

    @property
    def prompt(self) -> list[dict[str, Any]]:
        return self.messages[:-1]

    @property
    def prompt_key(self) -> str:
        return canonical_json(self.prompt) + "\x1f" + (self.tools_json or "")

    @property
    def key(self) -> str:
        raw = (canonical_json(self.messages) + "\x1f" + (self.tools_json or "") + "\x1f"
               + canonical_json(self.rejected) + "\x1f" + str(self.label))
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def text(self) -> str:
        sides = [self.rejected] if self.rejected else []
        return normalized_text([*self.messages, *sides]) + f"\x1f{self.label}"


# ---------------------------------------------------------------- candidates


def _selection(spec: DatasetSpec) -> DatasetSpec:
    """The sft selection rules without min rating and status: here those are the signal."""
    return dataclasses.replace(spec, min_rating=None, include_unrated=True, statuses=())


def _interactions(store: Store, spec: DatasetSpec) -> Iterator[tuple]:
    stmt = (select(C.id, C.reasoning_mode, C.rating, C.status, C.messages_json, C.tools_json,
                   C.correction)
            .where(and_(True, *_conditions(_selection(spec))))
            .order_by(C.id))
    with store.engine.connect() as conn:
        yield from conn.execution_options(yield_per=5000).execute(stmt)


def _votes(store: Store, spec: DatasetSpec) -> list[ArenaVote]:
    stmt = model_select(ArenaVote).where(col(ArenaVote.winner).in_(("A", "B"))).order_by(ArenaVote.id)
    stmt = stmt.where(ArenaVote.voter == "human")  # a judge's votes are not people's preferences
    if spec.since:
        stmt = stmt.where(ArenaVote.created_at >= datetime.fromisoformat(spec.since))
    if spec.until:
        stmt = stmt.where(ArenaVote.created_at < datetime.fromisoformat(spec.until))
    with store.session() as s:
        return list(s.exec(stmt))


def _vote_sides(v: ArenaVote) -> tuple[list[dict], dict, dict]:
    win, lose = (v.answer_a, v.answer_b) if v.winner == "A" else (v.answer_b, v.answer_a)
    return (json.loads(v.prompt_json), {"role": "assistant", "content": win},
            {"role": "assistant", "content": lose})


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a.get("content"), a.get("tool_calls")) == (b.get("content"), b.get("tool_calls"))


def pair_candidates(store: Store, spec: DatasetSpec) -> list[PreferenceExample]:
    out: list[PreferenceExample] = []
    groups: dict[str, list[tuple]] = defaultdict(list)  # prompt key -> answers
    for iid, mode, rating, status, messages_json, tools_json, correction in _interactions(
            store, spec):
        messages = orjson.loads(messages_json)
        split = prompt_and_reply(messages)
        if split is None or not split[0]:
            continue
        prompt, reply = split
        if "correction" in spec.pair_sources and correction:
            chosen = apply_correction(messages, correction)[-1]
            if not _same(chosen, reply):
                out.append(PreferenceExample(iid, mode, rating, [*prompt, chosen], tools_json,
                                             "correction", rejected=reply))
        rejected = status == "rejected"
        if "rating" in spec.pair_sources and (rating is not None or rejected):
            rank = 0 if rejected else rating  # a rejected reply ranks below every rating
            key = canonical_json(prompt) + "\x1f" + (tools_json or "")
            groups[key].append((rank, not rejected, iid, mode, rating, prompt, reply, tools_json))
    for answers in groups.values():
        eligible = sorted((a for a in answers if a[1]), key=lambda a: (-a[0], a[2]))
        if not eligible:
            continue
        best = eligible[0]
        for low in sorted(answers, key=lambda a: (a[0], a[2])):
            if best[0] - low[0] >= spec.min_rating_gap and not _same(best[6], low[6]):
                out.append(PreferenceExample(best[2], best[3], best[4], [*best[5], best[6]],
                                             best[7], "rating", rejected=low[6]))
    if "arena" in spec.pair_sources:
        for v in _votes(store, spec):
            prompt, chosen, rejected = _vote_sides(v)
            if prompt and not _same(chosen, rejected):
                out.append(PreferenceExample(None, "standard", None, [*prompt, chosen], None,
                                             "arena", rejected=rejected))
    return out


def unpaired_candidates(store: Store, spec: DatasetSpec) -> list[PreferenceExample]:
    out: list[PreferenceExample] = []
    for iid, mode, rating, status, messages_json, tools_json, correction in _interactions(
            store, spec):
        messages = orjson.loads(messages_json)
        split = prompt_and_reply(messages)
        if split is None or not split[0]:
            continue
        prompt, reply = split
        if "correction" in spec.pair_sources and correction:
            chosen = apply_correction(messages, correction)[-1]
            out.append(PreferenceExample(iid, mode, rating, [*prompt, chosen], tools_json,
                                         "correction", label=True))
            out.append(PreferenceExample(iid, mode, rating, [*prompt, reply], tools_json,
                                         "correction", label=False))
            continue
        if "rating" not in spec.pair_sources:
            continue
        if status == "rejected":
            label, source = False, "status"  # never desirable, whatever its rating
        elif status == "accepted":
            label, source = True, "status"
        elif rating is not None and rating >= spec.desirable_min_rating:
            label, source = True, "rating"
        elif rating is not None and rating <= spec.undesirable_max_rating:
            label, source = False, "rating"
        else:
            continue
        out.append(PreferenceExample(iid, mode, rating, [*prompt, reply], tools_json, source,
                                     label=label))
    if "arena" in spec.pair_sources:
        for v in _votes(store, spec):
            prompt, chosen, rejected = _vote_sides(v)
            if prompt and not _same(chosen, rejected):
                for reply, label in ((chosen, True), (rejected, False)):
                    out.append(PreferenceExample(None, "standard", None, [*prompt, reply], None,
                                                 "arena", label=label))
    return out


# ---------------------------------------------------------------- the pipeline


def split_by_prompt(examples: list[PreferenceExample], spec: DatasetSpec) -> None:
    """Deterministic, stratified by mode, cut by prompt: every example of a prompt lands in
    the same split, so no validation prompt was trained on."""
    by_mode: dict[str, dict[str, None]] = defaultdict(dict)
    for ex in examples:
        by_mode[ex.mode].setdefault(ex.prompt_key, None)
    where: dict[str, str] = {}
    for keys in by_mode.values():
        ordered = sorted(keys, key=lambda k: hashlib.sha256(f"{spec.seed}:{k}".encode()).digest())
        n = len(ordered)
        n_test, n_val = round(n * spec.test), round(n * spec.val)
        if spec.val > 0 and n_val == 0 and n - n_test >= 3:
            n_val = 1
        for i, k in enumerate(ordered):
            where.setdefault(k, "test" if i < n_test else "validation" if i < n_test + n_val
                             else "train")
    for ex in examples:
        ex.split = where[ex.prompt_key]


def run_preference_pipeline(store: Store, spec: DatasetSpec,
                            limit: int | None = None) -> BuildResult:
    spec.validate()
    tick = time.perf_counter()
    seconds: dict[str, float] = {}
    removed: Counter = Counter()
    changed: Counter = Counter()
    gather = pair_candidates if spec.kind == "preference" else unpaired_candidates
    candidates = gather(store, spec)
    if limit:
        candidates = candidates[:limit]
    seconds["select"] = time.perf_counter() - tick
    kept: list[PreferenceExample] = []
    seen: set[bytes] = set()
    near = NearDuplicates(spec.near_dup) if spec.near_dup else None
    for ex in candidates:
        sides = [ex.rejected] if ex.rejected else []
        if spec.redact == "drop" and has_pii([*ex.messages, *sides]):
            removed["pii"] += 1
            continue
        if spec.redact == "redact":
            messages, counts = redact_messages([*ex.messages, *sides])
            if counts:
                ex.redactions = sum(counts.values())
                changed["redacted_examples"] += 1
                for kind, n in counts.items():
                    changed[f"redacted:{kind}"] += n
            ex.messages, ex.rejected = (messages[:-1], messages[-1]) if sides else (messages, None)
        if sides and _same(ex.messages[-1], ex.rejected):
            removed["chosen_equals_rejected"] += 1  # e.g. they differed only in redacted text
            continue
        text = ex.text()
        key = hashlib.sha1(text.encode()).digest()
        if key in seen:
            removed["exact_duplicate"] += 1
            continue
        seen.add(key)
        if near is not None:
            near.add(text)
        kept.append(ex)
    if near is not None:
        copies = near.duplicates()
        if any(copies):
            removed["near_duplicate"] += sum(copies)
            kept = [ex for ex, copy in zip(kept, copies, strict=True) if not copy]
    seconds["clean"] = time.perf_counter() - tick - seconds["select"]
    tokenizer = load_tokenizer(spec.tokenizer)
    texts = []
    for ex in kept:
        texts.extend(turn_text(m) for m in ex.messages)
        texts.append(turn_text(ex.rejected) if ex.rejected else "")
    counts = tokenizer.count(texts)
    pos, final = 0, []
    for ex in kept:
        n = len(ex.messages)
        ex.turn_tokens = counts[pos:pos + n]
        ex.turn_tokens[-1] = max(ex.turn_tokens[-1], counts[pos + n])  # the longer reply counts
        ex.tokens = sum(ex.turn_tokens)
        pos += n + 1
        if spec.min_tokens and ex.tokens < spec.min_tokens:
            removed["too_short"] += 1
        elif spec.max_tokens and ex.tokens > spec.max_tokens:
            if spec.over_length == "truncate" and truncate(ex, spec.max_tokens):
                changed["truncated"] += 1
                final.append(ex)
            else:
                removed["too_long"] += 1
        else:
            final.append(ex)
    if spec.max_examples and len(final) > spec.max_examples:
        removed["over_max_examples"] = len(final) - spec.max_examples
        final = final[: spec.max_examples]
    split_by_prompt(final, spec)
    stats = statistics_of(final)  # type: ignore[arg-type]  # same fields as build.Example
    stats["sources"] = {"candidates": dict(Counter(e.source for e in candidates)),
                        "all": dict(Counter(e.source for e in final)),
                        **{s: dict(Counter(e.source for e in final if e.split == s))
                           for s in SPLITS}}
    if spec.kind == "unpaired":
        stats["balance"] = {"desirable": sum(1 for e in final if e.label),
                            "undesirable": sum(1 for e in final if e.label is False)}
    digest = hashlib.sha256(spec.canonical().encode())
    for split, key in sorted((e.split, e.key) for e in final):
        digest.update(f"\n{split}:{key}".encode())
    seconds["total"] = time.perf_counter() - tick
    return BuildResult(spec, final, len(candidates), dict(removed), dict(changed),  # type: ignore[arg-type]
                       {k: round(v, 3) for k, v in seconds.items()}, stats,
                       digest.hexdigest()[:32], tokenizer.name, tokenizer.exact)


def preference_rows(ex: PreferenceExample, dataset_id: int, position: int) -> dict[str, Any]:
    return {"dataset_id": dataset_id, "split": ex.split, "position": position,
            "source": ex.source, "label": ex.label,
            "rejected_json": canonical_json(ex.rejected) if ex.rejected else None}


# ---------------------------------------------------------------- reading a version back


@dataclass
class StoredPreference:
    interaction_id: int | None
    split: str
    position: int
    source: str
    prompt: list[dict[str, Any]]
    reply: dict[str, Any]  # chosen (pairs) or the labelled completion (unpaired)
    tools: list[Any] | None
    rejected: dict[str, Any] | None
    label: bool | None


def preference_examples(store: Store, dataset_id: int,
                        split: str | None = None) -> list[StoredPreference]:
    E, P = DatasetExample.__table__.c, DatasetPreference.__table__.c
    stmt = (select(E.interaction_id, E.split, E.position, E.messages_json, E.tools_json,
                   P.source, P.rejected_json, P.label)
            .join(DatasetPreference.__table__, and_(P.dataset_id == E.dataset_id,
                                                    P.split == E.split,
                                                    P.position == E.position))
            .where(E.dataset_id == dataset_id))
    if split:
        stmt = stmt.where(E.split == split)
    out = []
    with store.engine.connect() as conn:
        for iid, sp, pos, mj, tj, source, rj, label in conn.execute(
                stmt.order_by(E.split, E.position)):
            messages = orjson.loads(mj)
            out.append(StoredPreference(iid, sp, pos, source, messages[:-1], messages[-1],
                                        orjson.loads(tj) if tj else None,
                                        orjson.loads(rj) if rj else None,
                                        None if label is None else bool(label)))
    return out


def dataset_kind(version) -> str:
    return version.spec.get("kind", "sft")


def _text(msg: dict[str, Any] | None) -> str:
    if not msg:
        return ""
    text = msg.get("content") if isinstance(msg.get("content"), str) else ""
    return text + (" [tool calls]" if msg.get("tool_calls") else "")


def sample_of(store: Store, dataset_id: int, count: int) -> list[dict[str, Any]]:
    """The first `count` examples of a preference or unpaired version as `dataset show` gives
    them: the prompt, the chosen reply beside the rejected one (or the reply and its label)."""
    out = []
    for ex in preference_examples(store, dataset_id)[:max(0, count)]:
        row: dict[str, Any] = {"split": ex.split, "source": ex.source, "prompt": ex.prompt}
        if ex.label is None:
            row |= {"chosen": ex.reply, "rejected": ex.rejected}
        else:
            row |= {"reply": ex.reply, "label": "desirable" if ex.label else "undesirable"}
        out.append(row)
    return out


def sample_lines(sample: list[dict[str, Any]], width: int = 100) -> list[str]:
    """The sample for a terminal: the prompt's last user turn, then chosen and rejected (or the
    reply and its label), each on one line cut to `width`."""
    def cut(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= width else text[:width - 1] + "…"

    lines = []
    for i, row in enumerate(sample, 1):
        user = next((m for m in reversed(row["prompt"]) if m.get("role") == "user"), None)
        lines.append(f"  [{i}] {row['split']} · {row['source']} · prompt: {cut(_text(user))}")
        if "chosen" in row:
            lines.append(f"      chosen:   {cut(_text(row['chosen']))}")
            lines.append(f"      rejected: {cut(_text(row['rejected']))}")
        else:
            lines.append(f"      {row['label']}: {cut(_text(row['reply']))}")
    return lines
