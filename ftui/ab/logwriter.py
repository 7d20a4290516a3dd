"""The gateway's store writer: a thread that takes records off a queue and writes them in
batches, so logging never blocks or breaks a reply. When the store is busy a batch is retried
(kept in memory meanwhile); `close()` drains the queue before returning, so a clean shutdown
loses nothing."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from ftui.errors import FtuiError
from ftui.store import Interaction, Outcome, Store

log = logging.getLogger("ftui.gateway")
_STOP = object()


def reply_of(path: str, raw: bytes) -> tuple[str, int | None, int | None]:
    """(reply text, prompt tokens, completion tokens) from what upstream sent: Ollama NDJSON or
    one JSON object, or OpenAI server-sent events or one JSON object."""
    text, prompt_tokens, completion_tokens = [], None, None
    for line in raw.splitlines():
        line = line.strip()
        if line.startswith(b"data:"):
            line = line[5:].strip()
        if not line or line == b"[DONE]":
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        if "choices" in obj:  # OpenAI-compatible
            for choice in obj["choices"] or []:
                part = choice.get("delta") or choice.get("message") or {}
                text.append(part.get("content") or "")
            usage = obj.get("usage") or {}
            prompt_tokens = usage.get("prompt_tokens", prompt_tokens)
            completion_tokens = usage.get("completion_tokens", completion_tokens)
        else:
            text.append((obj.get("message") or {}).get("content") or obj.get("response") or "")
            if obj.get("done"):
                prompt_tokens = obj.get("prompt_eval_count", prompt_tokens)
                completion_tokens = obj.get("eval_count", completion_tokens)
    return "".join(text), prompt_tokens, completion_tokens


class LogWriter(threading.Thread):
    def __init__(self, store: Store, batch: int = 500, retry_s: float = 0.2) -> None:
        super().__init__(name="ftui-gateway-writer", daemon=True)
        self.store, self.batch, self.retry_s = store, batch, retry_s
        self.queue: queue.Queue = queue.Queue()
        self.written = 0
        self.invalid = 0
        self.retries = 0

    def put(self, item: dict[str, Any]) -> None:
        self.queue.put(item)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is written (True) or the timeout passes."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self.queue.unfinished_tasks

    def close(self, timeout: float = 60.0) -> None:
        self.queue.put(_STOP)
        self.join(timeout)

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
            if _STOP in items:
                stopping = True
                items = [i for i in items if i is not _STOP]
            while items:
                try:
                    self._write(items)
                    break
                except OperationalError as err:  # busy / locked: keep the batch, try again
                    self.retries += 1
                    log.warning("store busy (%s); retrying %d records", err.orig, len(items))
                    time.sleep(self.retry_s)
            for _ in range(taken):
                self.queue.task_done()

    def _write(self, items: list[dict[str, Any]]) -> None:
        from ftui.ingest import interaction_row

        with self.store.session() as s:
            for item in items:
                if item["kind"] == "feedback":
                    s.flush()
                    s.execute(update(Interaction).where(Interaction.uid == item["uid"])
                              .values(rating=item["rating"]))
                    s.execute(update(Outcome).where(Outcome.interaction_uid == item["uid"])
                              .values(rating=item["rating"]))
                    continue
                text, p_tok, c_tok = reply_of(item["path"], item["raw"])
                if item.get("experiment_id") is not None:
                    s.add(Outcome(experiment_id=item["experiment_id"], unit=item["unit"],
                                  arm=item["arm"], interaction_uid=item["uid"],
                                  latency_ms=item["latency_ms"], tokens=c_tok,
                                  fell_back=item["fell_back"]))
                try:
                    row = interaction_row(
                        [*item["messages"], {"role": "assistant", "content": text}],
                        mode=item["mode"], model=item["model"], latency_ms=item["latency_ms"],
                        prompt_tokens=p_tok, completion_tokens=c_tok, source="gateway",
                        user_id=item.get("user_id"), session_id=item.get("session_id"),
                        tools=item.get("tools"), context=item.get("context"),
                        tags=["fallback"] if item["fell_back"] else (), uid=item["uid"],
                        experiment_id=item.get("experiment_id"), arm=item.get("arm"))
                except FtuiError as err:  # e.g. an empty reply: nothing to train on
                    self.invalid += 1
                    log.info("not logged (%s): %s", item["uid"], err.message)
                    continue
                s.add(Interaction(**row))
            s.commit()
        self.written += len(items)
