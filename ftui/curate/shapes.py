"""Conversations in the shapes other tools train from, each following that tool's own rules.

- OpenAI chat fine-tuning JSONL: tool calls carry `id`, `type: "function"` and `function.arguments`
  as a JSON string; tool messages carry the `tool_call_id` of an earlier call; an assistant message
  that only calls tools has no content. Calls without an id get a stable one, derived from the
  conversation's hash and the call's position (same data, same ids).
- LLaMA-Factory ShareGPT: `conversations` strictly alternate human/observation (odd positions) and
  gpt/function_call (even positions), ending on the model's side. A `function_call` value is the
  call as JSON (`{"name", "arguments": {...}}`, arguments an object, never a JSON string inside
  JSON), or a list for parallel calls; text said beside calls goes before them, the calls wrapped
  in `<tool_call>`…`</tool_call>` (LLaMA-Factory's tool_call_words, which keep that text). Several
  tool results in a row are one observation joined the way LLaMA-Factory's own OpenAI converter
  joins them. A later system message is folded into the next user turn (or, without one, appended
  to the system prompt): LLaMA-Factory reads a system prompt only at the start.
- Parquet rows for `datasets`/TRL: `messages` and `tools` as list-of-struct columns. A struct
  column needs one schema for every row, and tool arguments and tool parameter schemas differ
  from call to call and tool to tool, so `arguments` and `parameters` are stored as JSON text,
  typed as Arrow's JSON extension type: `datasets` 5+ decodes them to objects (what chat
  templates expect), other readers see JSON strings (OpenAI's convention for arguments).

A conversation that cannot be put in a shape raises `ShapeError`; the writer skips it and counts
the reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ftui.conversation import OBSERVATION_JOIN, TOOL_CALL_WORDS, canonical_json

HUMAN_SIDE = ("human", "observation")  # odd positions; gpt and function_call take the even
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # OpenAI's rule for function names


class ShapeError(ValueError):
    """This conversation has no faithful form in the target shape; the message says why."""


def _arguments_object(args: Any) -> dict[str, Any]:
    """Arguments as an object (decoded once when they came as a JSON string)."""
    if args is None or args == "":
        return {}
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except (json.JSONDecodeError, RecursionError):
            raise ShapeError("tool call arguments are text, not a JSON object") from None
    if not isinstance(args, dict):
        raise ShapeError("tool call arguments are not a JSON object")
    return args


def _arguments_text(args: Any) -> str:
    return json.dumps(_arguments_object(args), ensure_ascii=False)


def openai_tools(tools: list | None) -> list[dict[str, Any]] | None:
    """Tool schemas in OpenAI's wrapped form ({"type": "function", "function": {...}})."""
    if not tools:
        return None
    return [t if isinstance(t, dict) and t.get("type") == "function" and "function" in t
            else {"type": "function", "function": t} for t in tools]


def openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seed = hashlib.sha256(canonical_json(messages).encode()).hexdigest()[:16]
    out: list[dict[str, Any]] = []
    pending: list[tuple[str, str]] = []  # (id, name) of calls not yet answered
    used: set[str] = set()
    n = 0
    for msg in messages:
        role = msg["role"]
        if role != "tool" and pending and out and out[-1]["role"] == "tool":
            raise ShapeError("a tool call has no result before the conversation goes on")
        if role == "assistant":
            if pending:
                raise ShapeError("a tool call has no result before the conversation goes on")
            new: dict[str, Any] = {"role": "assistant"}
            calls = msg.get("tool_calls") or []
            if msg.get("content") or not calls:
                new["content"] = msg.get("content") or ""
            if calls:
                new["tool_calls"] = []
                for call in calls:
                    cid = str(call.get("id") or "")
                    while not cid or cid in used:
                        cid = f"call_{seed}_{n}"
                        n += 1
                    used.add(cid)
                    fn = call["function"]
                    if not FUNCTION_NAME.match(str(fn.get("name"))):
                        raise ShapeError(f"function name {fn.get('name')!r} is not allowed "
                                         "(letters, digits, _ and -, at most 64)")
                    new["tool_calls"].append({"id": cid, "type": "function", "function": {
                        "name": fn["name"], "arguments": _arguments_text(fn.get("arguments"))}})
                    pending.append((cid, fn["name"]))
            out.append(new)
        elif role == "tool":
            if not pending:
                raise ShapeError("a tool result answers no tool call")
            ids = [p[0] for p in pending]
            names = [p[1] for p in pending]
            if msg.get("tool_call_id") in ids:
                k = ids.index(msg["tool_call_id"])
            elif msg.get("name") in names:
                k = names.index(msg["name"])
            else:
                k = 0
            out.append({"role": "tool", "tool_call_id": pending.pop(k)[0],
                        "content": msg.get("content") or ""})
        else:
            if pending:
                raise ShapeError("a tool call has no result before the conversation goes on")
            out.append({"role": role, "content": msg.get("content") or ""})
    if not any(m["role"] == "assistant" for m in out):
        raise ShapeError("no assistant message")
    return out


def to_openai(messages: list[dict], tools: list | None) -> dict[str, Any]:
    out: dict[str, Any] = {"messages": openai_messages(messages)}
    wrapped = openai_tools(tools)
    if wrapped:
        out["tools"] = wrapped
    return out


# ---------------------------------------------------------------- LLaMA-Factory ShareGPT


def _render(turn: dict[str, Any]) -> dict[str, str]:
    side, texts = turn["from"], [t for t in turn["texts"] if t.strip()] or turn["texts"]
    if side == "observation":
        return {"from": side, "value": OBSERVATION_JOIN.join(texts)}
    if side != "function_call":
        return {"from": side, "value": "\n\n".join(texts)}
    calls = [{"name": c["function"]["name"],
              "arguments": _arguments_object(c["function"].get("arguments"))}
             for c in turn["calls"]]
    body = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
    text = "\n\n".join(t.strip() for t in turn["texts"] if t.strip())
    return {"from": side,
            "value": f"{text}\n{TOOL_CALL_WORDS[0]}{body}{TOOL_CALL_WORDS[1]}" if text else body}


def _answer_order(calls: list[dict], results: list[dict]) -> list[int]:
    """For each tool result, the position of the call it answers (by id, else by name, else the
    first call not answered yet): sharegpt has no ids, so results go in the order of the calls."""
    free = list(range(len(calls)))
    order = []
    for res in results:
        k = next((j for j in free if calls[j].get("id") and calls[j]["id"] == res.get(
            "tool_call_id")), None)
        if k is None:
            k = next((j for j in free if calls[j]["function"]["name"] == res.get("name")), free[0])
        free.remove(k)
        order.append(k)
    return order


def to_sharegpt(messages: list[dict], tools: list | None) -> dict[str, Any]:
    system: list[str] = []
    rest = messages
    if messages and messages[0]["role"] == "system":
        system.append(messages[0]["content"])
        rest = messages[1:]
    turns: list[dict[str, Any]] = []
    carried: list[str] = []  # later system messages, waiting for the next user turn

    def add(side: str, text: str, calls: list | None = None) -> None:
        if side == "human" and carried:
            text = "\n\n".join([*carried, text])
        elif carried:
            system.extend(carried)
        carried.clear()
        prev = turns[-1] if turns else None
        if prev is None or (prev["from"] in HUMAN_SIDE) != (side in HUMAN_SIDE):
            turns.append({"from": side, "texts": [text], "calls": calls or []})
        elif side == prev["from"] and side != "function_call":  # same speaker twice: one turn
            prev["texts"].append(text)
        elif side == "function_call" and prev["from"] == "gpt":  # text, then calls: one turn
            prev.update({"from": side, "calls": calls})
            prev["texts"].append(text)
        else:  # a user turn right after a tool result, calls after calls, ...: no faithful form
            raise ShapeError(f"{prev['from']} followed by {side} cannot alternate")

    for msg in rest:
        role = msg["role"]
        if role == "system":
            carried.append(msg["content"])
        elif role == "user":
            add("human", msg["content"])
        elif role == "tool":
            add("observation", msg["content"])
            turns[-1].setdefault("results", []).append(msg)
        elif msg.get("tool_calls"):
            add("function_call", msg.get("content") or "", msg["tool_calls"])
        else:
            add("gpt", msg["content"])
    system.extend(carried)
    while turns and turns[-1]["from"] in HUMAN_SIDE:
        turns.pop()  # nothing after it to learn: LLaMA-Factory wants the model's turn last
    if not turns or turns[0]["from"] != "human":
        raise ShapeError("the conversation does not start with a user turn")
    for prev, turn in zip(turns, turns[1:], strict=False):
        if turn["from"] == "observation" and len(prev["calls"]) == len(turn["texts"]) > 1:
            order = _answer_order(prev["calls"], turn["results"])
            turn["texts"] = [t for _, t in sorted(zip(order, turn["texts"], strict=True))]
    out: dict[str, Any] = {"conversations": [_render(t) for t in turns]}
    if system:
        out["system"] = "\n\n".join(system)
    if tools:
        out["tools"] = json.dumps(tools, ensure_ascii=False)
    return out


def to_alpaca(messages: list[dict], tools: list | None) -> dict[str, Any]:
    """Alpaca holds one prompt and one answer (plus a system prompt)."""
    rest = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if tools or len(rest) != 2 or [m["role"] for m in rest] != ["user", "assistant"] \
            or rest[1].get("tool_calls"):
        raise ShapeError("alpaca holds single-turn conversations without tools only")
    out = {"instruction": rest[0]["content"], "input": "", "output": rest[1]["content"]}
    if rest is not messages:
        out["system"] = messages[0]["content"]
    return out


def llamafactory_info(fmt: str, files: dict[str, str], prefix: str) -> dict[str, Any]:
    """dataset_info.json entries, one dataset per split file, as LLaMA-Factory's data/README
    describes them for its sharegpt and alpaca formats."""
    if fmt == "sharegpt":
        entry = {"formatting": "sharegpt",
                 "columns": {"messages": "conversations", "system": "system", "tools": "tools"}}
    else:
        entry = {"formatting": "alpaca", "columns": {
            "prompt": "instruction", "query": "input", "response": "output", "system": "system"}}
    return {f"{prefix}_{split}": {"file_name": name, **entry} for split, name in files.items()}


# ---------------------------------------------------------------- parquet (datasets, TRL)


def parquet_schema(json_text=None):
    """The hf export's columns. `json_text` is the type of the fields that hold JSON (call
    arguments, tool parameters): Arrow's canonical JSON extension type where pyarrow has it, so
    `datasets` (5+) hands them out as objects, the form chat templates expect; plain strings
    to anything else."""
    import pyarrow as pa

    js = json_text or pa.string()
    call = pa.struct([("id", pa.string()), ("type", pa.string()), ("function", pa.struct(
        [("name", pa.string()), ("arguments", js)]))])
    message = pa.struct([("role", pa.string()), ("content", pa.string()),
                         ("tool_calls", pa.list_(call)), ("tool_call_id", pa.string())])
    tool = pa.struct([("type", pa.string()), ("function", pa.struct(
        [("name", pa.string()), ("description", pa.string()), ("parameters", js)]))])
    return pa.schema([("messages", pa.list_(message)), ("tools", pa.list_(tool)),
                      ("reasoning_mode", pa.string()), ("rating", pa.int64()),
                      ("tokens", pa.int64())])


def parquet_table(rows: list[dict[str, Any]]):
    import pyarrow as pa

    table = pa.Table.from_pylist(rows, schema=parquet_schema())
    json_type = getattr(pa, "json_", None)  # pyarrow >= 19
    return table.cast(parquet_schema(json_type())) if json_type else table


def to_parquet_row(messages: list[dict], tools: list | None) -> dict[str, Any]:
    msgs = openai_messages(messages)
    for m in msgs:  # every row has every field: absent ones are null, content is text
        m.setdefault("content", "")
        m.setdefault("tool_calls", None)
        m.setdefault("tool_call_id", None)
    wrapped = None
    if tools:
        wrapped = []
        for t in openai_tools(tools):
            fn = t["function"]
            params = fn.get("parameters")
            wrapped.append({"type": "function", "function": {
                "name": fn.get("name"), "description": fn.get("description"),
                "parameters": None if params is None else json.dumps(params, ensure_ascii=False)}})
    return {"messages": msgs, "tools": wrapped}
