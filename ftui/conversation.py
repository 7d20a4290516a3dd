"""Conversation shapes, below the store: canonical JSON, content hashes, tags, and which reply a
correction replaces.

A conversation is a list of OpenAI-style messages, `{"role", "content": str}` plus, where present,
`tool_calls` (`[{"type": "function", "function": {"name", "arguments"}, "id"?}]`), `tool_call_id`
and `name`. Roles are system / user / assistant / tool.

The reply (one rule for the correction editor, the dataset build, training labels, preference
pairs and evaluation): the last assistant message that carries text. A conversation may end in a
tool-call turn (imported agent traffic); the editor shows the text the operator reads and corrects,
so a correction of "2+2 is 5." replaces exactly that turn, never a later tool-call turn. Only when
no assistant message has text is the last assistant message the reply (its text is then empty).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson

# LLaMA-Factory's sharegpt conventions, read by import and written by export: text said beside
# tool calls goes before the calls wrapped in its default tool_call_words, and several tool
# results in a row are one observation joined as its own OpenAI converter joins them.
TOOL_CALL_WORDS = ("<tool_call>", "</tool_call>")
OBSERVATION_JOIN = "\n</tool_response>\n<tool_response>\n"


class RecordError(ValueError):
    """One record cannot be imported or stored; the message is the reason shown to the user."""


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: the stored form and the input of the content hash.
    (Byte-identical to json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False).)"""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError) as err:
        raise RecordError(f"cannot store the conversation as JSON: {err}") from err


def content_hash(messages_json: str, tools_json: str | None, created_at: datetime | None) -> str:
    """Stable identity of an interaction: same conversation (and same logged time, when the
    source gave one) means same hash, so importing a file twice adds nothing. The first 128 bits
    of sha256, in hex: collisions are out of reach and the unique index stays small."""
    digest = hashlib.sha256(messages_json.encode())
    digest.update(f"\x1f{tools_json or ''}\x1f{created_at.isoformat() if created_at else ''}".encode())
    return digest.hexdigest()[:32]


def normalize_tags(tags) -> list[str]:
    """Tags are lower-case words without commas or spaces; duplicates collapse; sorted."""
    clean = {"-".join(str(t).strip().lower().replace(",", " ").split()) for t in tags}
    return sorted(t for t in clean if t)


def preview_of(messages: list[dict[str, Any]], limit: int = 160) -> str:
    for msg in messages:
        if msg["role"] == "user" and msg["content"]:
            return " ".join(msg["content"][: 2 * limit].split())[:limit]
    return ""


def _has_text(msg: dict[str, Any]) -> bool:
    content = msg.get("content")
    return isinstance(content, str) and bool(content.strip())


def reply_index(messages: list[dict[str, Any]]) -> int | None:
    """Index of THE reply of a conversation: the one the correction editor shows and a correction
    replaces, the reference of evaluation, the answer of a preference pair, the turn trained on
    with train_on="last". The last assistant message with text; failing that, the last assistant
    message; None when there is no assistant message at all."""
    last_any = None
    for i in range(len(messages) - 1, -1, -1):
        msg = messages[i]
        if msg.get("role") != "assistant":
            continue
        if _has_text(msg):
            return i
        if last_any is None:
            last_any = i
    return last_any


def reply_text(messages: list[dict[str, Any]]) -> str:
    """The text of the reply (what the correction editor shows as the original)."""
    i = reply_index(messages)
    return (messages[i].get("content") or "") if i is not None else ""


def apply_correction(messages: list[dict[str, Any]],
                     correction: str | None) -> list[dict[str, Any]] | None:
    """The conversation as trained on when the reply is corrected: the reply's text becomes the
    correction and the turns after it are dropped, because they answered the reply that was
    replaced. Tool calls made beside the corrected text stay; a reply that was only tool calls
    (the editor showed no text) becomes the corrected text alone. None when there is nothing to
    correct (no correction, or no assistant message)."""
    if not correction:
        return None
    i = reply_index(messages)
    if i is None:
        return None
    reply = {**messages[i], "content": correction}
    if not _has_text(messages[i]):
        reply.pop("tool_calls", None)
    return [*messages[:i], reply]


def prompt_and_reply(messages: list[dict[str, Any]]
                     ) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """(the conversation before the reply, the reply), or None without an assistant message."""
    i = reply_index(messages)
    return None if i is None else (messages[:i], messages[i])
