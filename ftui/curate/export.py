"""The one writer of training data: every path that writes training data out goes through
`write_training_data` (dataset export, `ftui dataset pairs`, `ftui ab pairs`, and any added later),
so the same rules hold everywhere:

- redaction on by default: "redact" replaces PII and secrets with typed placeholders, "drop"
  leaves out any record that holds one, "off" writes text as it is;
- corrections: an interaction's correction replaces its reply (`ftui.conversation`);
- status rules: a reply the operator rejected is only ever the rejected (undesirable) side, never
  the chosen side of a pair nor the target of a supervised example (its correction may be).

Dataset export formats (one file per split; see ftui.curate.shapes for each tool's rules):
openai   {split}.jsonl    OpenAI chat fine-tuning format
sharegpt {split}.json     LLaMA-Factory sharegpt, plus dataset_info.json
alpaca   {split}.json     single-turn only, plus dataset_info.json
hf       {split}.parquet  messages, tools as list-of-struct columns (datasets / TRL)

Preference pairs go to JSONL as {"prompt", "chosen", "rejected"} message lists, the
conversational shape TRL's DPO trainer reads.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import or_, select

from ftui.conversation import apply_correction, canonical_json, prompt_and_reply, reply_text
from ftui.curate.build import has_pii, redact_messages
from ftui.curate.redact import REDACT_MODES
from ftui.curate.shapes import (
    ShapeError,
    llamafactory_info,
    parquet_table,
    to_alpaca,
    to_openai,
    to_parquet_row,
    to_sharegpt,
)
from ftui.curate.versions import examples_of, get_dataset
from ftui.errors import FtuiError
from ftui.store import Interaction, Store

EXPORT_FORMATS = ("openai", "sharegpt", "alpaca", "hf")
PREFERENCE_FORMATS = ("trl", "sharegpt")  # for preference and unpaired versions
SPLITS = ("train", "validation", "test")
SHAPES = {"openai": to_openai, "sharegpt": to_sharegpt, "alpaca": to_alpaca, "hf": to_parquet_row}


@dataclass
class TrainingRecord:
    """One record on its way out. Supervised: `messages` is the conversation. Pair: `messages`
    is the prompt, `chosen` and `rejected` the two replies (messages)."""

    messages: list[dict[str, Any]]
    tools: list[Any] | None = None
    chosen: dict[str, Any] | None = None
    rejected: dict[str, Any] | None = None
    correction: str | None = None  # applied by the writer (supervised records)
    reply_rejected: bool = False  # the desired reply is one the operator rejected
    label: bool | None = None  # unpaired: the reply (last message) is desirable or not
    meta: dict[str, Any] = field(default_factory=dict)  # written beside the shape, as it is

    @property
    def is_pair(self) -> bool:
        return self.chosen is not None


@dataclass
class WriteReport:
    path: str
    written: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> records left out
    redacted: Counter = field(default_factory=Counter)  # kind -> replacements

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "written": self.written, "skipped": dict(self.skipped),
                "redacted": dict(self.redacted)}


def apply_rules(rec: TrainingRecord, redact: str, redacted: Counter) -> TrainingRecord | str:
    """The record as it may be written, or the reason it may not."""
    messages = rec.messages
    if rec.is_pair:
        if rec.reply_rejected:
            return "rejected reply on the chosen side"
    elif rec.label is not None:  # unpaired: the reply is judged as it is, never corrected
        if rec.label and rec.reply_rejected:
            return "rejected reply on the desirable side"
    else:
        corrected = apply_correction(messages, rec.correction)
        if corrected is not None:
            messages = corrected
        elif rec.reply_rejected:
            return "rejected reply, not corrected in this version"
    sides = [rec.chosen, rec.rejected] if rec.is_pair else []
    if redact == "drop" and has_pii([*messages, *sides]):
        return "holds PII or a secret (--redact drop)"
    if redact == "redact":
        messages, counts = redact_messages(messages)
        redacted.update(counts)
        if sides:
            sides, counts = redact_messages(sides)
            redacted.update(counts)
    if sides and (sides[0].get("content"), sides[0].get("tool_calls")) == (
            sides[1].get("content"), sides[1].get("tool_calls")):  # compared as written
        return "chosen and rejected are the same"
    return TrainingRecord(messages, rec.tools, *(sides or (None, None)), meta=rec.meta,
                          label=rec.label)


def _sink_lines(fh, rows: Iterator[dict]) -> None:
    for row in rows:
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _sink_array(fh, rows: Iterator[dict]) -> None:
    json.dump(list(rows), fh, ensure_ascii=False, indent=1)


def trl_pair(prompt: list, chosen: dict, rejected: dict, tools: list | None) -> dict[str, Any]:
    """TRL's conversational preference shape (DPO, ORPO)."""
    row = {"prompt": prompt, "chosen": [chosen], "rejected": [rejected]}
    return {**row, "tools": tools} if tools else row


def trl_unpaired(messages: list, tools: list | None, label: bool) -> dict[str, Any]:
    """TRL's conversational unpaired shape (KTO): the reply is the completion."""
    row = {"prompt": messages[:-1], "completion": [messages[-1]], "label": label}
    return {**row, "tools": tools} if tools else row


def sharegpt_pair(prompt: list, chosen: dict, rejected: dict,
                  tools: list | None) -> dict[str, Any]:
    """LLaMA-Factory's sharegpt ranking layout: the prompt turns, then chosen and rejected
    as single turns beside them."""
    good, bad = to_sharegpt([*prompt, chosen], tools), to_sharegpt([*prompt, rejected], tools)
    if good["conversations"][:-1] != bad["conversations"][:-1]:
        raise ShapeError("chosen and rejected do not share one prompt in sharegpt form")
    return {**good, "conversations": good["conversations"][:-1],
            "chosen": good["conversations"][-1], "rejected": bad["conversations"][-1]}


def sharegpt_unpaired(messages: list, tools: list | None, label: bool) -> dict[str, Any]:
    """LLaMA-Factory's KTO layout: the conversation and its kto_tag."""
    return {**to_sharegpt(messages, tools), "kto_tag": label}


def write_training_data(path: str | Path, records: Iterable[TrainingRecord], *,
                        shape: Callable[[list, list | None], dict] = to_openai,
                        layout: str = "jsonl", redact: str = "redact",
                        pair_shape: Callable[..., dict] = trl_pair,
                        unpaired_shape: Callable[..., dict] = trl_unpaired) -> WriteReport:
    """Write records to `path` (atomically: a half-written file never has the real name).
    `shape` turns a supervised record's (messages, tools) into the target format; pairs are
    written by `pair_shape` (TRL's {"prompt", "chosen", "rejected"} by default), labelled
    replies by `unpaired_shape`. `layout`: jsonl, json (an array), parquet."""
    if redact not in REDACT_MODES:
        raise FtuiError(f"unknown redaction mode {redact!r}", f"use one of {', '.join(REDACT_MODES)}")
    path = Path(path)
    report = WriteReport(str(path))

    def rows() -> Iterator[dict]:
        for rec in records:
            clean = apply_rules(rec, redact, report.redacted)
            if isinstance(clean, str):
                report.skipped[clean] += 1
                continue
            try:
                if clean.is_pair:
                    row = pair_shape(clean.messages, clean.chosen, clean.rejected, clean.tools)
                elif clean.label is not None:
                    row = unpaired_shape(clean.messages, clean.tools, clean.label)
                else:
                    row = shape(clean.messages, clean.tools)
            except ShapeError as err:
                report.skipped[str(err)] += 1
                continue
            report.written += 1
            yield {**row, **clean.meta}

    tmp = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if layout == "parquet":
            _write_parquet(tmp, rows())
        else:
            with tmp.open("w", encoding="utf-8") as fh:
                (_sink_lines if layout == "jsonl" else _sink_array)(fh, rows())
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise FtuiError(f"cannot write {path}: {err.strerror}", "choose a writable path") from err
    return report


def _write_parquet(path: Path, rows: Iterator[dict]) -> None:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise FtuiError("the hf export writes parquet and needs pyarrow",
                        "pip install pyarrow (or pip install 'ftui[hf]')") from err
    pq.write_table(parquet_table(list(rows)), path)


# ---------------------------------------------------------------- dataset versions


def _statuses(store: Store, ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """interaction id -> (status, correction), read in chunks (bound-parameter limits)."""
    out = {}
    with store.engine.connect() as conn:
        for i in range(0, len(ids), 500):
            stmt = select(Interaction.id, Interaction.status, Interaction.correction).where(
                Interaction.id.in_(ids[i:i + 500]))
            out.update({iid: (status, corr) for iid, status, corr in conn.execute(stmt)})
    return out


def _carries(messages: list[dict[str, Any]], correction: str | None) -> bool:
    """Whether a built example's reply is the correction (as the build wrote it, maybe redacted).
    A correction made after the build is not in the frozen example."""
    if not correction:
        return False
    text = reply_text(messages)
    return text == correction or text == redact_messages(
        [{"role": "assistant", "content": correction}])[0][0]["content"]


def export_dataset(store: Store, dataset_id: int | str, fmt: str, out_dir: str | Path,
                   redact: str = "redact") -> dict:
    version = get_dataset(store, dataset_id)
    if version.spec.get("kind", "sft") != "sft":
        return export_preference_dataset(store, version, fmt, out_dir, redact)
    if fmt not in EXPORT_FORMATS:
        raise FtuiError(f"unknown export format {fmt!r}", f"use one of {', '.join(EXPORT_FORMATS)}")
    out = Path(out_dir)
    files, skipped, redacted = {}, {}, Counter()
    for split in SPLITS:
        rows = list(examples_of(store, version.id, split))
        if not rows:
            continue
        status = _statuses(store, sorted({r.interaction_id for r in rows if r.interaction_id}))

        def records(rows=rows, status=status) -> Iterator[TrainingRecord]:
            for ex in rows:
                st, correction = status.get(ex.interaction_id, (None, None))
                meta = ({"reasoning_mode": ex.reasoning_mode, "rating": ex.rating,
                         "tokens": ex.tokens} if fmt == "hf" else {})
                msgs = orjson.loads(ex.messages_json)
                yield TrainingRecord(msgs, orjson.loads(ex.tools_json) if ex.tools_json else None,
                                     reply_rejected=st == "rejected"
                                     and not _carries(msgs, correction), meta=meta)

        ext = {"openai": "jsonl", "hf": "parquet"}.get(fmt, "json")
        layout = {"openai": "jsonl", "hf": "parquet"}.get(fmt, "json")
        report = write_training_data(out / f"{split}.{ext}", records(), shape=SHAPES[fmt],
                                     layout=layout, redact=redact)
        files[split] = report.path
        redacted.update(report.redacted)
        if report.skipped:
            skipped[split] = sum(report.skipped.values())
            reasons = skipped.setdefault("reasons", Counter())
            reasons.update(report.skipped)
    result = {"dataset": version.id, "format": fmt, "files": files, "redact": redact,
              "redacted": dict(redacted), "skipped": {k: v for k, v in skipped.items()
                                                      if k != "reasons"},
              "note": "; ".join(f"{r} ({n})" for r, n in skipped.get("reasons", {}).items())}
    if fmt in ("sharegpt", "alpaca"):  # LLaMA-Factory loads the folder as it is
        prefix = re.sub(r"[^A-Za-z0-9_]+", "_", version.name).strip("_") or "ftui"
        info = llamafactory_info(fmt, {s: Path(p).name for s, p in files.items()}, prefix)
        info_path = out / "dataset_info.json"
        try:
            info_path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        except OSError as err:
            raise FtuiError(f"cannot write {info_path}: {err.strerror}",
                            "choose a writable folder") from err
        result["dataset_info"] = str(info_path)
    return result


def export_preference_dataset(store: Store, version, fmt: str, out_dir: str | Path,
                              redact: str = "redact") -> dict:
    """A preference version as TRL's conversational prompt/chosen/rejected (JSONL), or LLaMA-
    Factory's sharegpt ranking layout; an unpaired one as TRL's prompt/completion/label, or
    LLaMA-Factory's KTO layout (kto_tag). A reply rejected since the build is left out of the
    chosen / desirable side."""
    from ftui.curate.preference import preference_examples

    kind = version.spec["kind"]
    if fmt not in PREFERENCE_FORMATS:
        raise FtuiError(f"a {kind} version exports as {' or '.join(PREFERENCE_FORMATS)}, "
                        f"not {fmt!r}", "use --format trl (TRL) or --format sharegpt "
                        "(LLaMA-Factory)")
    out = Path(out_dir)
    files, skipped, redacted, reasons = {}, {}, Counter(), Counter()
    for split in SPLITS:
        rows = preference_examples(store, version.id, split)
        if not rows:
            continue
        status = _statuses(store, sorted({r.interaction_id for r in rows if r.interaction_id}))

        def records(rows=rows, status=status) -> Iterator[TrainingRecord]:
            for ex in rows:
                # the chosen / desirable reply is the interaction's own (not a correction)
                own = ex.source in ("rating", "status")
                gone = own and status.get(ex.interaction_id, (None,))[0] == "rejected"
                if ex.rejected is not None:
                    yield TrainingRecord(ex.prompt, ex.tools, chosen=ex.reply,
                                         rejected=ex.rejected, reply_rejected=gone)
                else:
                    yield TrainingRecord([*ex.prompt, ex.reply], ex.tools, label=ex.label,
                                         reply_rejected=gone and bool(ex.label))

        name = f"{split}.jsonl" if fmt == "trl" else f"{split}.json"
        report = write_training_data(
            out / name, records(), layout="jsonl" if fmt == "trl" else "json", redact=redact,
            pair_shape=trl_pair if fmt == "trl" else sharegpt_pair,
            unpaired_shape=trl_unpaired if fmt == "trl" else sharegpt_unpaired)
        files[split] = report.path
        redacted.update(report.redacted)
        if report.skipped:
            skipped[split] = sum(report.skipped.values())
            reasons.update(report.skipped)
    result = {"dataset": version.id, "kind": kind, "format": fmt, "files": files,
              "redact": redact, "redacted": dict(redacted), "skipped": skipped,
              "note": "; ".join(f"{r} ({n})" for r, n in reasons.items())}
    if fmt == "sharegpt":
        prefix = re.sub(r"[^A-Za-z0-9_]+", "_", version.name).strip("_") or "ftui"
        columns = {"messages": "conversations", "system": "system", "tools": "tools"}
        extra = ({"ranking": True, "columns": {**columns, "chosen": "chosen",
                                               "rejected": "rejected"}}
                 if kind == "preference" else {"columns": {**columns, "kto_tag": "kto_tag"}})
        info = {f"{prefix}_{s}": {"file_name": Path(p).name, "formatting": "sharegpt", **extra}
                for s, p in files.items()}
        info_path = out / "dataset_info.json"
        try:
            info_path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        except OSError as err:
            raise FtuiError(f"cannot write {info_path}: {err.strerror}",
                            "choose a writable folder") from err
        result["dataset_info"] = str(info_path)
    return result


# ---------------------------------------------------------------- preference pairs


@dataclass
class _Answer:
    rank: int  # rating; a correction ranks above every rating; rejected and unrated rank 0
    reply: dict[str, Any]
    interaction_id: int
    rating: int | None
    may_be_chosen: bool


def preference_records(store: Store, min_gap: int = 1) -> list[TrainingRecord]:
    """Pairs of answers to the same prompt (the same conversation up to THE reply, same tools):
    the best answer that may be chosen against the worst, when their ranks differ by `min_gap`.
    An interaction's correction is an answer that beats its own reply; a rejected reply is never
    chosen."""
    groups: dict[str, list[_Answer]] = defaultdict(list)
    prompts: dict[str, tuple[list[dict], list | None]] = {}
    stmt = (select(Interaction.id, Interaction.rating, Interaction.status,
                   Interaction.messages_json, Interaction.tools_json, Interaction.correction)
            .where(or_(Interaction.rating.is_not(None), Interaction.correction.is_not(None),
                       Interaction.status == "rejected"))
            .order_by(Interaction.id))
    with store.engine.connect() as conn:
        for iid, rating, status, messages_json, tools_json, correction in conn.execute(stmt):
            split = prompt_and_reply(orjson.loads(messages_json))
            if split is None or not split[0]:
                continue
            prompt, reply = split
            key = canonical_json(prompt) + "\x1f" + (tools_json or "")
            prompts[key] = (prompt, orjson.loads(tools_json) if tools_json else None)
            rejected = status == "rejected"
            ranked = rating is not None and not rejected
            groups[key].append(_Answer(rating if ranked else 0, reply, iid, rating, ranked))
            if correction:
                groups[key].append(_Answer(6, {**reply, "content": correction}, iid, None, True))
    records = []
    for key, answers in groups.items():
        eligible = sorted((a for a in answers if a.may_be_chosen),
                          key=lambda a: (-a.rank, a.interaction_id))
        worst = sorted(answers, key=lambda a: (a.rank, a.interaction_id))
        if not eligible:
            continue
        best = eligible[0]
        low = next((a for a in worst if a.reply.get("content") != best.reply.get("content")), None)
        if low is None or best.rank - low.rank < min_gap:
            continue
        prompt, tools = prompts[key]
        records.append(TrainingRecord(
            prompt, tools, chosen=best.reply, rejected=low.reply,
            meta={"chosen_rating": best.rating if best.rank <= 5 else None,
                  "rejected_rating": low.rating,
                  "chosen_source": ("correction:" if best.rank > 5 else "interaction:")
                  + str(best.interaction_id),
                  "rejected_source": f"interaction:{low.interaction_id}"}))
    return records


def preference_pairs(store: Store, min_gap: int = 1, redact: str = "redact") -> list[dict]:
    """The pairs as written (redaction applied), for callers that want them in memory."""
    out: list[dict] = []
    redacted: Counter = Counter()
    for rec in preference_records(store, min_gap):
        clean = apply_rules(rec, redact, redacted)
        if not isinstance(clean, str):
            out.append({"prompt": clean.messages, "chosen": [clean.chosen],
                        "rejected": [clean.rejected], **clean.meta})
    return out


def export_preferences(store: Store, out: str | Path, min_gap: int = 1,
                       redact: str = "redact") -> WriteReport:
    return write_training_data(out, preference_records(store, min_gap), redact=redact)
