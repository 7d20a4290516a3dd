"""Importing interaction files into the store, and the in-process collector API."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from ftui import REASONING_MODES
from ftui.errors import FtuiError, ImportFormatError
from ftui.ingest.formats import (
    FORMATS,
    PARSERS,
    InteractionRecord,
    RecordError,
    canonical_json,
    content_hash,
    detect_format,
    normalize_tags,
    preview_of,
)
from ftui.ingest.reader import read_records
from ftui.store import Interaction, Store, utcnow

BATCH = 2000
_TABLE = Interaction.__table__


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)  # file -> detected format

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "errors": self.errors,
            "formats": self.formats,
        }

    def skip(self, where: str, reason: str) -> None:
        self.skipped += 1
        self.errors.append({"where": where, "reason": reason})


def record_to_row(
    rec: InteractionRecord, *, default_mode: str = "standard", default_source: str = "import",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The column values of one interaction, with its content hash."""
    messages_json = canonical_json(rec.messages)
    tools_json = canonical_json(rec.tools) if rec.tools else None
    digest = content_hash(messages_json, tools_json, rec.created_at)
    # ftui's export carries the hash it was stored under, which may have been computed without
    # a source time; accept it only if it still matches the content.
    if rec.content_hash and rec.content_hash == content_hash(messages_json, tools_json, None):
        digest = rec.content_hash
    now = now or utcnow()
    return {
        "uid": rec.uid or f"h{digest[:31]}",
        "created_at": rec.created_at or now,
        "updated_at": rec.updated_at or rec.created_at or now,
        "source": rec.source or default_source,
        "user_id": rec.user_id,
        "session_id": rec.session_id,
        "reasoning_mode": rec.reasoning_mode or default_mode,
        "model": rec.model,
        "messages_json": messages_json,
        "tools_json": tools_json,
        "context_json": canonical_json(rec.context) if rec.context is not None else None,
        "preview": preview_of(rec.messages),
        "latency_ms": rec.latency_ms,
        "prompt_tokens": rec.prompt_tokens,
        "completion_tokens": rec.completion_tokens,
        "rating": rec.rating,
        "status": rec.status or "new",
        "correction": rec.correction,
        "tags": ",".join(rec.tags),
        "notes": rec.notes,
        "content_hash": digest,
        "experiment_id": rec.experiment_id,
        "arm": rec.arm,
    }


def _insert_ignoring_duplicates(conn, rows: list[dict[str, Any]]) -> int:
    """Insert rows, skipping those whose hash or uid is already stored. Returns rows added."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        stmt = insert(_TABLE).prefix_with("OR IGNORE")
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(_TABLE).on_conflict_do_nothing()
    else:  # portable fallback: look the hashes up first
        hashes = [r["content_hash"] for r in rows]
        known = set(
            conn.execute(
                _TABLE.select().with_only_columns(_TABLE.c.content_hash)
                .where(_TABLE.c.content_hash.in_(hashes))
            ).scalars()
        )
        rows = [r for r in rows if r["content_hash"] not in known]
        if not rows:
            return 0
        stmt = insert(_TABLE)
    result = conn.execute(stmt, rows)
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(rows)


def _check_mode(mode: str | None) -> None:
    if mode is not None and mode not in REASONING_MODES:
        raise FtuiError(
            f"unknown reasoning mode {mode!r}", f"use one of: {', '.join(REASONING_MODES)}"
        )


def import_files(
    store: Store,
    paths: Sequence[str | Path],
    fmt: str = "auto",
    mode: str | None = None,
    source: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import every valid record of every file; report each record that was skipped and why.

    `mode` and `source` apply to records that do not carry their own."""
    if fmt != "auto" and fmt not in FORMATS:
        raise FtuiError(f"unknown format {fmt!r}", f"use auto or one of: {', '.join(FORMATS)}")
    _check_mode(mode)
    report = ImportReport()
    for raw_path in paths:
        path = Path(raw_path)
        try:
            _import_one(store, path, fmt, mode, source, report, progress)
        except ImportFormatError as err:
            report.skip(str(path.name), str(err))
    return report


def _import_one(store, path, fmt, mode, source, report, progress) -> None:
    file_format = None if fmt == "auto" else fmt
    default_source = source or f"import:{path.name}"
    batch: list[dict[str, Any]] = []
    now = utcnow()
    with store.engine.begin() as conn:
        for where, obj in read_records(path):
            if isinstance(obj, RecordError):
                report.skip(where, str(obj))
                continue
            if file_format is None:
                file_format = detect_format(obj)
                if file_format == "preference":
                    raise ImportFormatError(
                        "the file holds preference pairs (chosen/rejected), not conversations",
                        "import the conversations the pairs came from; ftui exports preference "
                        "pairs itself (ftui dataset), it does not import them",
                    )
                if file_format is None:
                    report.skip(where, "not a known record shape (openai messages, sharegpt "
                                "conversations, alpaca instruction/output, or ftui)")
                    continue
                report.formats[path.name] = file_format
            if not isinstance(obj, dict):
                report.skip(where, f"a record must be a JSON object, not {type(obj).__name__}")
                continue
            if not obj:
                report.skip(where, "empty record")
                continue
            try:
                rec = PARSERS[file_format](obj)
            except RecordError as err:
                report.skip(where, str(err))
                continue
            batch.append(record_to_row(rec, default_mode=mode or "standard",
                                       default_source=default_source, now=now))
            if len(batch) >= BATCH:
                _flush(conn, batch, report, progress)
        if batch:
            _flush(conn, batch, report, progress)
    if file_format is None and path.name not in report.formats:
        report.formats[path.name] = "none"


def _flush(conn, batch, report, progress) -> None:
    added = _insert_ignoring_duplicates(conn, batch)
    report.imported += added
    report.duplicates += len(batch) - added
    if progress:
        progress(report.imported + report.duplicates)
    batch.clear()


def insert_records(store: Store, records: Iterable[InteractionRecord], **row_args) -> int:
    """Bulk-insert already parsed records (demo loader, gateway). Returns rows added."""
    rows = [record_to_row(r, **row_args) for r in records]
    if not rows:
        return 0
    with store.engine.begin() as conn:
        return sum(_insert_ignoring_duplicates(conn, rows[i:i + BATCH])
                   for i in range(0, len(rows), BATCH))


def log_interaction(
    store: Store,
    messages: list[dict[str, Any]],
    *,
    mode: str = "standard",
    model: str | None = None,
    latency_ms: float | None = None,
    rating: int | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    source: str = "app",
    user_id: str | None = None,
    session_id: str | None = None,
    tools: list[Any] | None = None,
    context: Any = None,
    tags: Iterable[str] = (),
    uid: str | None = None,
    created_at: datetime | None = None,
) -> Interaction:
    """Record one live interaction of the chat app. Raises `FtuiError` on invalid input.

    Each call is a distinct interaction (its time is part of its identity), unlike a file import
    where the same record twice is one interaction."""
    _check_mode(mode)
    obj: dict[str, Any] = {"messages": messages, "tools": tools, "rating": rating, "model": model}
    try:
        rec = PARSERS["openai"](obj)
    except RecordError as err:
        raise FtuiError(f"cannot log the interaction: {err}",
                        "pass OpenAI-style messages with a user and an assistant turn") from err
    rec.reasoning_mode = mode
    rec.latency_ms = latency_ms
    rec.prompt_tokens, rec.completion_tokens = prompt_tokens, completion_tokens
    rec.user_id, rec.session_id = user_id, session_id
    rec.context = context
    rec.tags = normalize_tags(tags)
    rec.created_at = created_at or utcnow()
    rec.uid = uid or uuid.uuid4().hex
    row = record_to_row(rec, default_source=source)
    with store.session() as session:
        item = Interaction(**row)
        session.add(item)
        session.commit()
        session.refresh(item)
        return item
