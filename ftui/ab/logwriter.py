"""The gateway's store writer: a thread that takes records off a queue and writes them in
batches, so logging never blocks or breaks a reply.

No record can stop it: a record that cannot be stored as it is (lone surrogates, integers
beyond 64 bits, nesting deeper than the JSON encoder goes, wrong types) is stored sanitized and
tagged `sanitized`; a batch the store refuses is written again one record at a time, so one bad
record never costs the others; any other exception is logged (logger `ftui.gateway`) and shown in
`state()`, and the thread goes on. When the store is busy a batch is retried (kept in memory
meanwhile). `close()` drains the queue before returning, so a clean shutdown loses nothing; on
kill -9 what is still queued (the replies of the last moments, see the README) is lost.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from ftui.errors import FtuiError
from ftui.store import Interaction, Outcome, Store

log = logging.getLogger("ftui.gateway")
_STOP = object()
MAX_DEPTH = 64  # deeper JSON is replaced by a mark when a record is sanitized
TRUNCATED = "\n[ftui: truncated here, {n} more bytes not stored]"
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64 = (-(2 ** 63), 2 ** 63 - 1)


@dataclass
class Reply:
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def reply_of(path: str, raw: bytes) -> Reply:
    """What upstream answered (text, token counts, tool calls) from Ollama NDJSON or one JSON
    object, or OpenAI server-sent events or one JSON object. Streamed OpenAI tool calls arrive
    in pieces (by index) and are put together."""
    out = Reply()
    text: list[str] = []
    streamed: dict[int, dict[str, Any]] = {}
    for line in raw.splitlines():
        line = line.strip()
        if line.startswith(b"data:"):
            line = line[5:].strip()
        if not line or line == b"[DONE]":
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(obj, dict):
            continue
        if "choices" in obj:  # OpenAI-compatible
            choices = obj["choices"] if isinstance(obj["choices"], list) else []
            for choice in choices:
                if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                    continue
                part = choice.get("delta") or choice.get("message") or {}
                if not isinstance(part, dict):
                    continue
                text.append(part["content"] if isinstance(part.get("content"), str) else "")
                calls = part.get("tool_calls")
                if "delta" in choice and isinstance(calls, list):
                    _merge_streamed(streamed, calls)
                elif isinstance(calls, list):
                    out.tool_calls.extend(c for c in calls if isinstance(c, dict))
            usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else {}
            out.prompt_tokens = _int_or_none(usage.get("prompt_tokens")) or out.prompt_tokens
            out.completion_tokens = (_int_or_none(usage.get("completion_tokens"))
                                     or out.completion_tokens)
        else:
            message = obj.get("message") if isinstance(obj.get("message"), dict) else {}
            piece = message.get("content") or obj.get("response") or ""
            text.append(piece if isinstance(piece, str) else "")
            if isinstance(message.get("tool_calls"), list):
                out.tool_calls.extend(c for c in message["tool_calls"] if isinstance(c, dict))
            if obj.get("done"):
                out.prompt_tokens = _int_or_none(obj.get("prompt_eval_count"))
                out.completion_tokens = _int_or_none(obj.get("eval_count"))
    out.tool_calls.extend(streamed[i] for i in sorted(streamed))
    out.text = "".join(text)
    return out


def _merge_streamed(acc: dict[int, dict[str, Any]], deltas: list[Any]) -> None:
    for delta in deltas:
        if not isinstance(delta, dict):
            continue
        index = delta.get("index", 0) if isinstance(delta.get("index", 0), int) else 0
        call = acc.setdefault(index, {"type": "function", "function": {"name": "",
                                                                        "arguments": ""}})
        if isinstance(delta.get("id"), str):
            call["id"] = delta["id"]
        fn = delta.get("function") if isinstance(delta.get("function"), dict) else {}
        for key in ("name", "arguments"):
            if isinstance(fn.get(key), str):
                call["function"][key] += fn[key]


# ---------------------------------------------------------------- sanitizing


def clean_text(text: str) -> str:
    """Lone surrogates and NUL become U+FFFD (neither UTF-8 nor PostgreSQL text holds them)."""
    return _SURROGATE.sub("\ufffd", text).replace("\x00", "\ufffd")


def clean(value: Any, depth: int = 0) -> Any:
    """A JSON value every store can hold: clean text, integers beyond 64 bits as text, non-finite
    numbers as text, nesting cut at MAX_DEPTH, anything else as its text."""
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= MAX_DEPTH and isinstance(value, dict | list | tuple):
        return f"[ftui: nested deeper than {MAX_DEPTH} levels, not stored]"
    if isinstance(value, dict):
        return {clean_text(str(k)): clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v, depth + 1) for v in value]
    return clean_text(str(value))


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def cap_messages(messages: list[Any], limit: int) -> tuple[list[Any], bool]:
    """Each message's text cut to `limit` UTF-8 bytes, with a visible mark saying how much was
    left out."""
    cut = False
    out = []
    for msg in messages:
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, str) and len(content) > limit // 4:
            data = content.encode("utf-8", "surrogatepass")
            if len(data) > limit:
                kept = data[:limit].decode("utf-8", "ignore")
                msg = {**msg, "content": kept + TRUNCATED.format(n=len(data) - len(
                    kept.encode("utf-8", "surrogatepass")))}
                cut = True
        out.append(msg)
    return out, cut


def sanitized_messages(messages: Any) -> list[dict[str, Any]]:
    """Best effort: every message an object with a known role and text content; a conversation
    without a user turn gets one that says so."""
    from ftui.ingest.formats import ROLE_ALIASES

    raw = messages if isinstance(messages, list) else [messages]
    out: list[dict[str, Any]] = []
    for msg in raw:
        if isinstance(msg, dict):
            role = ROLE_ALIASES.get(str(msg.get("role")).lower(), "user")
            item: dict[str, Any] = {"role": role,
                                    "content": clean_text(_as_text(clean(msg.get("content"))))}
            if isinstance(msg.get("tool_calls"), list) and role == "assistant":
                calls = [c for c in clean(msg["tool_calls"]) if isinstance(c, dict)]
                item["tool_calls"] = [{"type": "function", **c} if "function" in c else
                                      {"type": "function", "function": c} for c in calls]
            for key in ("tool_call_id", "name"):
                if msg.get(key) is not None and role == "tool":
                    item[key] = clean_text(str(msg[key]))
        elif msg is None:
            continue
        else:
            item = {"role": "user", "content": clean_text(_as_text(clean(msg)))}
        out.append(item)
    if not any(m["role"] == "user" and m["content"].strip() for m in out):
        out.insert(0, {"role": "user", "content": "[ftui: the request had no readable user turn]"})
    return out


# ---------------------------------------------------------------- the writer


class LogWriter(threading.Thread):
    def __init__(self, store: Store, batch: int = 500, retry_s: float = 0.2,
                 max_message_bytes: int = 1 << 20, spill_dir: Path | None = None) -> None:
        super().__init__(name="ftui-gateway-writer", daemon=True)
        self.store, self.batch, self.retry_s = store, batch, retry_s
        self.spill_dir = spill_dir
        self._inflight: list[dict[str, Any]] = []
        self.max_message_bytes = max_message_bytes
        self.queue: queue.Queue = queue.Queue()
        self.written = self.sanitized = self.dropped = self.retries = self.empty = 0
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.not_stored: dict[str, str] = {}  # uid -> why (empty reply, dropped), bounded
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._closing = False

    # -------------------------------------------------------- the gateway's side

    def put(self, item: dict[str, Any]) -> None:
        if item.get("uid"):
            with self._lock:
                self._pending.add(item["uid"])
        self.queue.put(item)

    def is_pending(self, uid: str) -> bool:
        with self._lock:
            return uid in self._pending

    def state(self) -> dict[str, Any]:
        return {"alive": self.is_alive(), "queued": self.queue.qsize(),
                "written": self.written, "sanitized": self.sanitized, "dropped": self.dropped,
                "empty_replies": self.empty, "retries": self.retries,
                "last_error": self.last_error,
                "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None}

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is written (True) or the timeout passes."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self.queue.unfinished_tasks

    def close(self, timeout: float = 60.0) -> None:
        """Write out what is queued, then stop. If the thread is gone (it never should be), the
        caller's thread writes the queue out itself."""
        self._closing = True
        if self.is_alive():
            self.queue.put(_STOP)
            self.join(timeout)
            if self.is_alive():  # the store would not take them in time: keep them in a file
                self.spill([*self._inflight, *self._drain()], timeout)
            return
        items = self._drain()
        if items:
            self._write_batch(items)

    def _drain(self) -> list[dict[str, Any]]:
        items = []
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            self.queue.task_done()
            if item is not _STOP:
                items.append(item)
        return items

    def spill(self, items: list[dict[str, Any]], waited: float) -> Path | None:
        """Records the store did not take, as ftui's own JSONL (`ftui import FILE` brings them
        in; uids already stored are skipped). Experiment outcomes are not in it."""
        from ftui.ingest.formats import to_export_record

        if not items:
            return None
        folder = self.spill_dir or Path.cwd()
        path = folder / f"gateway-unsaved-{datetime.now(UTC):%Y%m%dT%H%M%S}.jsonl"
        lines = []
        for item in items:
            for force in (False, True):
                try:
                    lines += [json.dumps(to_export_record(o), ensure_ascii=False, default=str)
                              for o in self._objects(item, force_sanitize=force)
                              if isinstance(o, Interaction)]
                    break
                except Exception as err:  # noqa: BLE001
                    if force:
                        self._drop(item, err)
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        log.error("the store did not take %d records in %g s (%s); they are in %s: bring them "
                  "in with `ftui import %s`", len(items), waited, self.last_error, path, path)
        return path

    # -------------------------------------------------------- the thread

    def run(self) -> None:
        stopping = False
        while not stopping:
            items = [self.queue.get()]
            while len(items) < self.batch:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            taken = len(items)
            stopping = any(i is _STOP for i in items)
            self._inflight = [i for i in items if i is not _STOP]
            try:
                self._write_batch(self._inflight)
            except BaseException as err:  # noqa: BLE001 - the writer must outlive any bug
                self._error("the log writer failed on a batch", err)
            finally:
                self._inflight = []
                for _ in range(taken):
                    self.queue.task_done()

    def _error(self, what: str, err: BaseException) -> None:
        self.last_error = f"{what}: {type(err).__name__}: {err}"[:1000]
        self.last_error_at = datetime.now(UTC)
        log.error("%s", self.last_error, exc_info=err)

    def _done(self, items: list[dict[str, Any]]) -> None:
        with self._lock:
            self._pending.difference_update(i.get("uid") for i in items)
            if len(self.not_stored) > 100_000:
                for old in list(self.not_stored)[:50_000]:
                    del self.not_stored[old]

    def _write_batch(self, items: list[dict[str, Any]]) -> None:
        try:
            built = []
            for item in items:
                try:
                    built.append((item, self._objects(item)))
                except Exception as err:  # noqa: BLE001 - a bug: log it, store what we can
                    self._error(f"record {item.get('uid')} could not be read", err)
                    try:
                        built.append((item, self._objects(item, force_sanitize=True)))
                    except Exception as again:  # noqa: BLE001
                        self._drop(item, again)
            while built:
                try:
                    self._commit([o for _, objs in built for o in objs])
                    self.written += len(built)
                    return
                except OperationalError as err:  # busy / locked: keep the batch, try again
                    self._busy(err, len(built))
                except Exception as err:  # noqa: BLE001 - one record spoilt the batch
                    self._error(f"the store refused a batch of {len(built)}; writing them "
                                "one by one", err)
                    for item, objs in built:
                        self._write_one(item, objs)
                    return
        finally:
            self._done(items)

    def _busy(self, err: OperationalError, n: int) -> None:
        self.retries += 1
        self.last_error = f"store busy: {err.orig}"[:1000]
        self.last_error_at = datetime.now(UTC)
        log.warning("store busy (%s); retrying %d records", err.orig, n)
        time.sleep(self.retry_s)

    def _write_one(self, item: dict[str, Any], objs: list[Any]) -> None:
        """As it is, else sanitized, else dropped (logged); a busy store is waited for."""
        last: BaseException | None = None
        for sanitize in (False, True):
            try:
                attempt = self._objects(item, force_sanitize=True) if sanitize else objs
            except Exception as err:  # noqa: BLE001
                last = err
                break
            while True:
                try:
                    self._commit(attempt)
                    self.written += 1
                    return
                except OperationalError as err:
                    self._busy(err, 1)
                except Exception as err:  # noqa: BLE001
                    last = err
                    break
        self._drop(item, last)

    def _drop(self, item: dict[str, Any], err: BaseException) -> None:
        self.dropped += 1
        uid = item.get("uid")
        if uid:
            self.not_stored[uid] = f"it could not be stored ({type(err).__name__})"
        self._error(f"record {uid} could not be stored even sanitized", err)

    def _commit(self, objs: list[Any]) -> None:
        with self.store.session() as s:
            s.add_all(objs)
            s.commit()

    # -------------------------------------------------------- records to rows

    def _objects(self, item: dict[str, Any], force_sanitize: bool = False) -> list[Any]:
        if item["kind"] != "interaction":
            raise FtuiError(f"unknown record kind {item['kind']!r}", "a bug: report it")
        try:
            reply = reply_of(item["path"], item["raw"])
        except Exception:
            if not force_sanitize:
                raise
            reply = Reply(text=item["raw"].decode("utf-8", "replace"))  # the raw reply, as text
        objs: list[Any] = []
        if item.get("experiment_id") is not None:
            objs.append(Outcome(experiment_id=item["experiment_id"], unit=clean_text(
                str(item["unit"])), arm=item["arm"], interaction_uid=item["uid"],
                latency_ms=item["latency_ms"], tokens=reply.completion_tokens,
                fell_back=item["fell_back"]))
        if not reply.text.strip() and not reply.tool_calls:
            self.empty += 1
            self.not_stored[item["uid"]] = "the reply was empty"
            log.info("not logged (%s): the reply was empty", item["uid"])
            return objs
        assistant: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.tool_calls:
            assistant["tool_calls"] = reply.tool_calls
        tags = ["fallback"] if item.get("fell_back") else []
        if item.get("abandoned"):  # the client left mid-reply: what had arrived
            tags.append("abandoned")
        if item.get("sanitized"):
            tags.append("sanitized")
        messages = item["messages"]
        reason = item.get("sanitized")
        row = None
        if isinstance(messages, list) and not force_sanitize:
            capped, cut = cap_messages([*messages, assistant], self.max_message_bytes)
            try:
                row = self._row(item, capped, item.get("tools"), reply,
                                tags + (["truncated"] if cut else []))
            except (FtuiError, ValueError, TypeError, RecursionError, OverflowError) as err:
                reason = getattr(err, "message", None) or str(err)
        if row is not None and item.get("sanitized"):
            self.sanitized += 1  # the gateway already had to repair the request (not UTF-8)
        if row is None:
            capped, cut = cap_messages([*sanitized_messages(messages), clean(assistant)],
                                       self.max_message_bytes)
            tools = clean(item.get("tools"))
            tools = tools if isinstance(tools, list) or tools is None else [tools]
            ctx = clean(item.get("context")) or {}
            row = self._row({**item, "context": {**ctx, "sanitized": clean_text(
                str(reason or "forced"))[:500]}, "model": clean(item.get("model")),
                "user_id": clean(item.get("user_id")), "session_id": clean(item.get(
                    "session_id"))}, capped, tools or None, reply,
                [*tags, "sanitized", *(["truncated"] if cut else [])])
            self.sanitized += 1
            log.warning("interaction %s stored sanitized: %s", item["uid"], reason)
        objs.append(Interaction(**row))
        return objs

    @staticmethod
    def _row(item: dict[str, Any], messages: list[Any], tools: Any, reply: Reply,
             tags: list[str]) -> dict[str, Any]:
        from ftui.ingest import interaction_row

        return interaction_row(
            messages, mode=item["mode"], model=item["model"], latency_ms=item["latency_ms"],
            prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
            source="gateway", user_id=item.get("user_id"), session_id=item.get("session_id"),
            tools=tools, context=item.get("context"), tags=tags, uid=item["uid"],
            experiment_id=item.get("experiment_id"), arm=item.get("arm"))
