"""Writing a dataset version out: one file per split, in the format other tools train from.

openai   {split}.jsonl  {"messages": [...], "tools": [...]}        (tool calls kept)
sharegpt {split}.json   [{"conversations": [{"from", "value"}], "system", "tools"}]
alpaca   {split}.json   [{"instruction", "input", "output", "system"}]  single-turn only
hf       {split}.parquet  columns messages, tools (JSON text), reasoning_mode, rating, tokens

The first three re-import with `ftui import` to the same conversations. Preference pairs (two
rated answers to one prompt) go to JSONL as {"prompt", "chosen", "rejected"} message lists, the
conversational shape TRL's DPO trainer reads.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from ftui.curate.versions import examples_of, get_dataset
from ftui.errors import FtuiError
from ftui.store import Interaction, Store

EXPORT_FORMATS = ("openai", "sharegpt", "alpaca", "hf")
SPLITS = ("train", "validation", "test")


def to_openai(messages: list[dict], tools: list | None) -> dict[str, Any]:
    out: dict[str, Any] = {"messages": messages}
    if tools:
        out["tools"] = tools
    return out


def to_sharegpt(messages: list[dict], tools: list | None) -> dict[str, Any]:
    turns, system = [], None
    for msg in messages:
        role = msg["role"]
        if role == "system" and system is None and not turns:
            system = msg["content"]
        elif role == "user":
            turns.append({"from": "human", "value": msg["content"]})
        elif role == "assistant":
            if msg["content"]:
                turns.append({"from": "gpt", "value": msg["content"]})
            for call in msg.get("tool_calls") or []:
                fn = call["function"]
                turns.append({"from": "function_call", "value": json.dumps(
                    {"name": fn["name"], "arguments": fn.get("arguments", {})}, ensure_ascii=False)})
        elif role == "tool":
            turns.append({"from": "observation", "value": msg["content"]})
        else:  # a later system message
            turns.append({"from": "system", "value": msg["content"]})
    out: dict[str, Any] = {"conversations": turns}
    if system is not None:
        out["system"] = system
    if tools:
        out["tools"] = json.dumps(tools, ensure_ascii=False)
    return out


def to_alpaca(messages: list[dict], tools: list | None) -> dict[str, Any] | None:
    """Alpaca holds one prompt and one answer (plus a system prompt); anything else is None."""
    rest = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if tools or len(rest) != 2 or [m["role"] for m in rest] != ["user", "assistant"] \
            or rest[1].get("tool_calls"):
        return None
    out = {"instruction": rest[0]["content"], "input": "", "output": rest[1]["content"]}
    if rest is not messages:
        out["system"] = messages[0]["content"]
    return out


def export_dataset(store: Store, dataset_id: int | str, fmt: str, out_dir: str | Path) -> dict:
    if fmt not in EXPORT_FORMATS:
        raise FtuiError(f"unknown export format {fmt!r}", f"use one of {', '.join(EXPORT_FORMATS)}")
    version = get_dataset(store, dataset_id)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FtuiError(f"cannot create {out}: {err.strerror}", "choose a writable folder") from err
    files, skipped = {}, {}
    for split in SPLITS:
        rows = list(examples_of(store, version.id, split))
        if not rows:
            continue
        if fmt == "hf":
            files[split] = str(_write_parquet(out / f"{split}.parquet", rows))
            continue
        records, skip = [], 0
        for ex in rows:
            msgs = orjson.loads(ex.messages_json)
            tools = orjson.loads(ex.tools_json) if ex.tools_json else None
            rec = {"openai": to_openai, "sharegpt": to_sharegpt, "alpaca": to_alpaca}[fmt](msgs, tools)
            if rec is None:
                skip += 1
            else:
                records.append(rec)
        path = out / (f"{split}.jsonl" if fmt == "openai" else f"{split}.json")
        tmp = path.with_name(path.name + ".part")
        with tmp.open("w", encoding="utf-8") as fh:
            if fmt == "openai":
                for rec in records:
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            else:
                json.dump(records, fh, ensure_ascii=False, indent=1)
        tmp.replace(path)
        files[split] = str(path)
        if skip:
            skipped[split] = skip
    return {"dataset": version.id, "format": fmt, "files": files, "skipped": skipped,
            "note": "alpaca holds single-turn conversations without tools only" if skipped else ""}


def _write_parquet(path: Path, rows) -> Path:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise FtuiError("the hf export writes parquet and needs pyarrow",
                        "pip install pyarrow (or pip install 'ftui[hf]')") from err
    table = pa.table({
        "messages": [r.messages_json for r in rows],
        "tools": [r.tools_json for r in rows],
        "reasoning_mode": [r.reasoning_mode for r in rows],
        "rating": [r.rating for r in rows],
        "tokens": [r.tokens for r in rows],
    })
    pq.write_table(table, path)
    return path


def preference_pairs(store: Store, min_gap: int = 1) -> list[dict[str, Any]]:
    """Pairs of rated answers to the same prompt (same conversation up to the last user turn):
    the best-rated is chosen, the worst rejected, when their ratings differ by `min_gap`."""
    groups: dict[str, list[tuple[int, dict, int]]] = defaultdict(list)
    prompts: dict[str, list[dict]] = {}
    stmt = select(Interaction.id, Interaction.rating, Interaction.messages_json,
                  Interaction.correction).where(Interaction.rating.is_not(None))
    with store.engine.connect() as conn:
        for iid, rating, messages_json, correction in conn.execute(stmt):
            msgs = orjson.loads(messages_json)
            last_user = max((i for i, m in enumerate(msgs) if m["role"] == "user"), default=-1)
            answer = msgs[last_user + 1:]
            if last_user < 0 or not answer or answer[-1]["role"] != "assistant":
                continue
            key = orjson.dumps(msgs[:last_user + 1]).decode()
            prompts[key] = msgs[:last_user + 1]
            groups[key].append((rating, answer[-1], iid))
            if correction:  # the operator's corrected reply beats every logged one
                groups[key].append((6, dict(answer[-1], content=correction), iid))
    pairs = []
    for key, answers in groups.items():
        if len(answers) < 2:
            continue
        answers.sort(key=lambda a: (-a[0], a[2]))
        best, worst = answers[0], answers[-1]
        if best[0] - worst[0] >= min_gap and best[1]["content"] != worst[1]["content"]:
            pairs.append({"prompt": prompts[key], "chosen": [best[1]], "rejected": [worst[1]],
                          "chosen_rating": min(best[0], 5), "rejected_rating": worst[0]})
    return pairs


def export_preferences(store: Store, out: str | Path, min_gap: int = 1) -> int:
    pairs = preference_pairs(store, min_gap)
    path = Path(out)
    with path.open("w", encoding="utf-8") as fh:
        for pair in pairs:
            fh.write(json.dumps(pair, ensure_ascii=False) + "\n")
    return len(pairs)
