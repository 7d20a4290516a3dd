"""The interaction file formats ftui reads, each normalized to one `InteractionRecord`.

Normalized conversation: a list of OpenAI-style messages, `{"role", "content": str}` plus, where
present, `tool_calls` (`[{"type": "function", "function": {"name", "arguments"}}]`), `tool_call_id`
and `name`. Roles are system / user / assistant / tool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ftui import REASONING_MODES, STATUSES
from ftui.conversation import (  # noqa: F401 - moved below the store; import paths kept
    OBSERVATION_JOIN,
    TOOL_CALL_WORDS,
    RecordError,
    canonical_json,
    content_hash,
    normalize_tags,
    preview_of,
)

FORMATS = ("openai", "sharegpt", "alpaca", "ftui")
FTUI_FORMAT_MARK = "ftui"  # key present (value: format version) in ftui's own export records

ROLE_ALIASES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
}


@dataclass
class InteractionRecord:
    messages: list[dict[str, Any]]
    tools: list[Any] | None = None
    context: Any = None
    reasoning_mode: str | None = None
    model: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    uid: str | None = None
    source: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    rating: int | None = None
    status: str | None = None
    correction: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    experiment_id: int | None = None
    arm: str | None = None
    content_hash: str | None = None  # carried by ftui's own export; verified before use


# ---------------------------------------------------------------- helpers


def parse_time(value: Any, where: str = "created_at") -> datetime | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int | float):
            seconds = value / 1000 if value > 1e11 else value  # epoch ms or s
            return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
        parsed = datetime.fromisoformat(str(value).strip())
    except (ValueError, OverflowError, OSError) as err:
        raise RecordError(f"{where} {value!r} is not an ISO 8601 time or epoch number") from err
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _text(content: Any, where: str) -> str:
    """Content as text: a string, or a list of parts whose text parts are joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
                pieces.append(str(part.get("text", "")))
            elif isinstance(part, dict) and "type" in part:
                pieces.append(f"[{part['type']} omitted]")
            else:
                raise RecordError(f"{where}: a content part is neither text nor a typed part")
        return "".join(pieces)
    if isinstance(content, dict | int | float):
        return json.dumps(content, ensure_ascii=False)
    raise RecordError(f"{where}: content of type {type(content).__name__} is not text")


def _tool_calls(raw: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise RecordError(f"{where}: tool_calls must be a list")
    calls = []
    for call in raw:
        if not isinstance(call, dict):
            raise RecordError(f"{where}: a tool call is not an object")
        fn = call.get("function", call)
        if not isinstance(fn, dict) or not fn.get("name"):
            raise RecordError(f"{where}: a tool call has no function name")
        out: dict[str, Any] = {
            "type": "function",
            "function": {"name": str(fn["name"]), "arguments": fn.get("arguments", {})},
        }
        if call.get("id"):
            out["id"] = str(call["id"])
        calls.append(out)
    return calls


def _tools(raw: Any) -> list[Any] | None:
    if raw in (None, "", []):
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise RecordError(f"tools is a string but not JSON: {err.msg}") from err
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise RecordError("tools must be a list of tool schemas")
    return [_tool_schema(t) for t in raw]


def _tool_schema(tool: Any) -> Any:
    """A schema as written to parquet (parameters as JSON text, absent fields null) comes back
    as the schema it was."""
    fn = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("parameters"), str):
        return tool
    try:
        params = json.loads(fn["parameters"])
    except json.JSONDecodeError:
        return tool
    fn = {k: v for k, v in fn.items() if v is not None}
    return {**tool, "function": {**fn, "parameters": params}}


def _opt_int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as err:
        raise RecordError(f"{name} {value!r} is not a whole number") from err


def _opt_float(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise RecordError(f"{name} {value!r} is not a number") from err


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _tag_list(raw: Any) -> list[str]:
    if not raw:
        return []
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise RecordError("tags must be a list or a comma-separated string")
    return normalize_tags(str(t) for t in items)


def _check_conversation(messages: list[dict[str, Any]]) -> None:
    if not messages:
        raise RecordError("empty conversation")
    has_user = has_assistant = False
    for m in messages:
        role, text = m["role"], m["content"]
        if role == "user":
            has_user = has_user or (bool(text) and not text.isspace())
        elif role == "assistant":
            has_assistant = has_assistant or (bool(text) and not text.isspace()) or "tool_calls" in m
    if not has_user:
        raise RecordError("no user turn")
    if not has_assistant:
        raise RecordError("no assistant turn")


def _mode(value: Any) -> str | None:
    if value is not None and value not in REASONING_MODES:
        raise RecordError(f"unknown reasoning mode {value!r} (one of {', '.join(REASONING_MODES)})")
    return value


def _rating(value: Any) -> int | None:
    rating = _opt_int(value, "rating")
    if rating is not None and not 1 <= rating <= 5:
        raise RecordError(f"rating {rating} is outside 1-5")
    return rating


def _status(value: Any) -> str | None:
    if value is not None and value not in STATUSES:
        raise RecordError(f"unknown status {value!r} (one of {', '.join(STATUSES)})")
    return value


def _context(value: Any) -> Any:
    return None if value in (None, "", {}, []) else value


# Metadata any format may carry next to its conversation: key -> (field, converter, the key this
# one is an alias of). The proper key wins when a record has both.
_META: dict[str, tuple[str, Any, str | None]] = {
    "reasoning_mode": ("reasoning_mode", _mode, None),
    "mode": ("reasoning_mode", _mode, "reasoning_mode"),
    "model": ("model", _opt_str, None),
    "created_at": ("created_at", parse_time, None),
    "timestamp": ("created_at", parse_time, "created_at"),
    "updated_at": ("updated_at", lambda v: parse_time(v, "updated_at"), None),
    "uid": ("uid", _opt_str, None),  # other formats' "id" fields collide across files: not used
    "source": ("source", _opt_str, None),
    "user_id": ("user_id", _opt_str, None),
    "user": ("user_id", _opt_str, "user_id"),
    "session_id": ("session_id", _opt_str, None),
    "latency_ms": ("latency_ms", lambda v: _opt_float(v, "latency_ms"), None),
    "prompt_tokens": ("prompt_tokens", lambda v: _opt_int(v, "prompt_tokens"), None),
    "completion_tokens": ("completion_tokens", lambda v: _opt_int(v, "completion_tokens"), None),
    "rating": ("rating", _rating, None),
    "status": ("status", _status, None),
    "correction": ("correction", _opt_str, None),
    "tags": ("tags", _tag_list, None),
    "notes": ("notes", _opt_str, None),
    "context": ("context", _context, None),
}


def _common(obj: dict[str, Any], rec: InteractionRecord) -> InteractionRecord:
    """Metadata that any format may carry next to its conversation."""
    meta = _META
    for key, value in obj.items():
        spec = meta.get(key)
        if spec is not None and (spec[2] is None or spec[2] not in obj):
            setattr(rec, spec[0], spec[1](value))
    return rec


def _message(msg: Any, i: int) -> dict[str, Any]:
    if type(msg) is not dict:
        raise RecordError(f"message {i} is not an object")
    role = msg.get("role")
    role = ROLE_ALIASES.get(role) or ROLE_ALIASES.get(str(role).lower())
    if role is None:
        raise RecordError(f"message {i} has unknown role {msg.get('role')!r}")
    content = msg.get("content")
    out: dict[str, Any] = {
        "role": role,
        "content": content if type(content) is str else _text(content, f"message {i}"),
    }
    if len(msg) > 2 or "content" not in msg:  # rarer fields: tool calls and tool results
        # (OpenAI's own shape of a message that only calls tools has no content key)
        if msg.get("tool_calls"):
            out["tool_calls"] = _tool_calls(msg["tool_calls"], f"message {i}")
        if msg.get("function_call"):  # the older OpenAI single-call field
            out["tool_calls"] = _tool_calls([msg["function_call"]], f"message {i}")
        if msg.get("tool_call_id"):
            out["tool_call_id"] = str(msg["tool_call_id"])
        if msg.get("name") and role == "tool":
            out["name"] = str(msg["name"])
    return out


# ---------------------------------------------------------------- the formats


def parse_openai(obj: dict[str, Any]) -> InteractionRecord:
    raw = obj.get("messages")
    if type(raw) is not list:
        raise RecordError("'messages' is missing or not a list")
    messages = [_message(msg, i) for i, msg in enumerate(raw)]
    _check_conversation(messages)
    rec = _common(obj, InteractionRecord(messages=messages))
    if "tools" in obj:
        rec.tools = _tools(obj["tools"])
    return rec


def parse_sharegpt(obj: dict[str, Any]) -> InteractionRecord:
    raw = obj.get("conversations")
    if not isinstance(raw, list):
        raise RecordError("'conversations' is missing or not a list")
    messages: list[dict[str, Any]] = []
    if obj.get("system"):
        messages.append({"role": "system", "content": _text(obj["system"], "system")})
    for i, turn in enumerate(raw):
        where = f"turn {i}"
        if not isinstance(turn, dict):
            raise RecordError(f"{where} is not an object")
        speaker = str(turn.get("from", turn.get("role", ""))).lower()
        value = turn.get("value", turn.get("content"))
        if speaker == "function_call":
            text, calls = _sharegpt_call(value, where)
            messages.append({"role": "assistant", "content": text, "tool_calls": calls})
            continue
        role = ROLE_ALIASES.get(speaker)
        if role is None:
            raise RecordError(f"{where} has unknown speaker {turn.get('from')!r}")
        text = _text(value, where)
        prev = messages[-1] if messages else None
        calls = (prev.get("tool_calls") or []) if prev and role == "tool" else []
        parts = text.split(OBSERVATION_JOIN) if len(calls) > 1 else [text]
        if len(parts) != len(calls):  # one result per call only when the joined count matches
            parts = [text]
        for k, part in enumerate(parts):
            msg = {"role": role, "content": part}
            if calls and len(parts) == len(calls):
                msg["name"] = calls[k]["function"]["name"]  # the call it answers
            messages.append(msg)
    _check_conversation(messages)
    rec = _common(obj, InteractionRecord(messages=messages))
    rec.tools = _tools(obj.get("tools"))
    return rec


def _sharegpt_call(value: Any, where: str) -> tuple[str, list[dict[str, Any]]]:
    """(text said beside the calls, the calls): the value is the call as JSON (a list for
    parallel calls), or text with the JSON inside LLaMA-Factory's <tool_call>...</tool_call>."""
    text = ""
    if isinstance(value, str) and TOOL_CALL_WORDS[0] in value and TOOL_CALL_WORDS[1] in value:
        before, _, after = value.partition(TOOL_CALL_WORDS[0])
        body, _, rest = after.partition(TOOL_CALL_WORDS[1])
        text, value = (before + rest).strip(), body
    try:
        call = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as err:
        raise RecordError(f"{where}: function_call value is not JSON: {err.msg}") from err
    return text, _tool_calls(call if isinstance(call, list) else [call], where)


def parse_alpaca(obj: dict[str, Any]) -> InteractionRecord:
    instruction, output = obj.get("instruction"), obj.get("output")
    if not isinstance(instruction, str) or not isinstance(output, str):
        raise RecordError("alpaca record needs 'instruction' and 'output' as text")
    messages: list[dict[str, Any]] = []
    if obj.get("system"):
        messages.append({"role": "system", "content": str(obj["system"])})
    for j, pair in enumerate(obj.get("history") or []):
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise RecordError(f"history item {j} is not a [prompt, answer] pair")
        messages.append({"role": "user", "content": str(pair[0])})
        messages.append({"role": "assistant", "content": str(pair[1])})
    extra = obj.get("input") or ""
    prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    messages.append({"role": "user", "content": prompt})
    messages.append({"role": "assistant", "content": output})
    _check_conversation(messages)
    return _common(obj, InteractionRecord(messages=messages))


def parse_ftui(obj: dict[str, Any]) -> InteractionRecord:
    rec = parse_openai(obj)
    if obj.get("experiment_id") is not None:
        rec.experiment_id = _opt_int(obj["experiment_id"], "experiment_id")
    rec.arm = _opt_str(obj.get("arm"))
    rec.content_hash = _opt_str(obj.get("content_hash"))
    return rec


PARSERS = {
    "openai": parse_openai,
    "sharegpt": parse_sharegpt,
    "alpaca": parse_alpaca,
    "ftui": parse_ftui,
}


def detect_format(obj: Any) -> str | None:
    """The format of one record, or None. Preference pairs are recognised to be refused."""
    if not isinstance(obj, dict):
        return None
    if FTUI_FORMAT_MARK in obj and "messages" in obj:
        return "ftui"
    if "chosen" in obj and "rejected" in obj:
        return "preference"
    if "messages" in obj:
        return "openai"
    if "conversations" in obj:
        return "sharegpt"
    if "instruction" in obj and "output" in obj:
        return "alpaca"
    return None


def to_export_record(row) -> dict[str, Any]:
    """An `Interaction` row in ftui's own format: every field, re-importable losslessly."""
    out: dict[str, Any] = {
        FTUI_FORMAT_MARK: 1,
        "uid": row.uid,
        "content_hash": row.content_hash,
        "messages": row.messages,
    }
    if row.tools_json:
        out["tools"] = row.tools
    if row.context_json:
        out["context"] = row.context
    for name in (
        "source", "user_id", "session_id", "reasoning_mode", "model", "latency_ms",
        "prompt_tokens", "completion_tokens", "rating", "status", "correction", "notes",
        "experiment_id", "arm",
    ):
        value = getattr(row, name)
        if value is not None:
            out[name] = value
    out["created_at"] = row.created_at.isoformat()
    out["updated_at"] = row.updated_at.isoformat()
    if row.tags:
        out["tags"] = row.tag_list
    return out
