"""The interaction file formats ftui reads, each normalized to one `InteractionRecord`.

Normalized conversation: a list of OpenAI-style messages, `{"role", "content": str}` plus, where
present, `tool_calls` (`[{"type": "function", "function": {"name", "arguments"}}]`), `tool_call_id`
and `name`. Roles are system / user / assistant / tool.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ftui import REASONING_MODES, STATUSES

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


class RecordError(ValueError):
    """One record cannot be imported; the message is the reason shown to the user."""


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


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def content_hash(messages_json: str, tools_json: str | None, created_at: datetime | None) -> str:
    """Stable identity of an interaction: same conversation (and same logged time, when the
    source gave one) means same hash, so importing a file twice adds nothing."""
    stamp = created_at.isoformat() if created_at else ""
    raw = "\x1f".join((messages_json, tools_json or "", stamp))
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def preview_of(messages: list[dict[str, Any]], limit: int = 160) -> str:
    for msg in messages:
        if msg["role"] == "user" and msg.get("content"):
            return " ".join(msg["content"].split())[:limit]
    return ""


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
    return raw


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


def normalize_tags(tags) -> list[str]:
    """Tags are lower-case words without commas or spaces; duplicates collapse; sorted."""
    clean = {"-".join(str(t).strip().lower().replace(",", " ").split()) for t in tags}
    return sorted(t for t in clean if t)


def _check_conversation(messages: list[dict[str, Any]]) -> None:
    if not messages:
        raise RecordError("empty conversation")
    if not any(m["role"] == "user" and m["content"].strip() for m in messages):
        raise RecordError("no user turn")
    if not any(
        m["role"] == "assistant" and (m["content"].strip() or m.get("tool_calls")) for m in messages
    ):
        raise RecordError("no assistant turn")


def _common(obj: dict[str, Any], rec: InteractionRecord) -> InteractionRecord:
    """Metadata that any format may carry next to its conversation."""
    mode = obj.get("reasoning_mode", obj.get("mode"))
    if mode is not None and mode not in REASONING_MODES:
        raise RecordError(f"unknown reasoning mode {mode!r} (one of {', '.join(REASONING_MODES)})")
    rec.reasoning_mode = mode
    rec.model = _opt_str(obj.get("model"))
    rec.created_at = parse_time(obj.get("created_at", obj.get("timestamp")))
    rec.updated_at = parse_time(obj.get("updated_at"), "updated_at")
    rec.uid = _opt_str(obj.get("uid"))  # other formats' "id" fields collide across files
    rec.source = _opt_str(obj.get("source"))
    rec.user_id = _opt_str(obj.get("user_id", obj.get("user")))
    rec.session_id = _opt_str(obj.get("session_id"))
    rec.latency_ms = _opt_float(obj.get("latency_ms"), "latency_ms")
    rec.prompt_tokens = _opt_int(obj.get("prompt_tokens"), "prompt_tokens")
    rec.completion_tokens = _opt_int(obj.get("completion_tokens"), "completion_tokens")
    rating = _opt_int(obj.get("rating"), "rating")
    if rating is not None and not 1 <= rating <= 5:
        raise RecordError(f"rating {rating} is outside 1-5")
    rec.rating = rating
    status = obj.get("status")
    if status is not None and status not in STATUSES:
        raise RecordError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    rec.status = status
    rec.correction = _opt_str(obj.get("correction"))
    rec.tags = _tag_list(obj.get("tags"))
    rec.notes = _opt_str(obj.get("notes"))
    if "context" in obj and obj["context"] not in (None, "", {}, []):
        rec.context = obj["context"]
    return rec


# ---------------------------------------------------------------- the formats


def parse_openai(obj: dict[str, Any]) -> InteractionRecord:
    raw = obj.get("messages")
    if not isinstance(raw, list):
        raise RecordError("'messages' is missing or not a list")
    messages = []
    for i, msg in enumerate(raw):
        where = f"message {i}"
        if not isinstance(msg, dict):
            raise RecordError(f"{where} is not an object")
        role = ROLE_ALIASES.get(str(msg.get("role", "")).lower())
        if role is None:
            raise RecordError(f"{where} has unknown role {msg.get('role')!r}")
        out: dict[str, Any] = {"role": role, "content": _text(msg.get("content"), where)}
        if msg.get("tool_calls"):
            out["tool_calls"] = _tool_calls(msg["tool_calls"], where)
        if msg.get("function_call"):  # the older OpenAI single-call field
            out["tool_calls"] = _tool_calls([msg["function_call"]], where)
        if msg.get("tool_call_id"):
            out["tool_call_id"] = str(msg["tool_call_id"])
        if msg.get("name") and role == "tool":
            out["name"] = str(msg["name"])
        messages.append(out)
    _check_conversation(messages)
    rec = _common(obj, InteractionRecord(messages=messages))
    rec.tools = _tools(obj.get("tools"))
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
            messages.append({"role": "assistant", "content": "", "tool_calls": _sharegpt_call(value, where)})
            continue
        role = ROLE_ALIASES.get(speaker)
        if role is None:
            raise RecordError(f"{where} has unknown speaker {turn.get('from')!r}")
        messages.append({"role": role, "content": _text(value, where)})
    _check_conversation(messages)
    rec = _common(obj, InteractionRecord(messages=messages))
    rec.tools = _tools(obj.get("tools"))
    return rec


def _sharegpt_call(value: Any, where: str) -> list[dict[str, Any]]:
    try:
        call = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as err:
        raise RecordError(f"{where}: function_call value is not JSON: {err.msg}") from err
    return _tool_calls(call if isinstance(call, list) else [call], where)


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
