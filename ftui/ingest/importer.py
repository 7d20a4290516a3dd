"""Importing interaction files into the store, and the in-process collector API."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
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
from ftui.ingest.reader import file_layout, jsonl_chunks, load_file, records_in
from ftui.store import Interaction, Store, utcnow
from ftui.store.db import without_nul

BATCH = 2000
_TABLE = Interaction.__table__


# A file of a million bad lines must not cost a million error records (it took 722 MB of
# memory and 121 MB of --json): the first ones are kept in full, the rest only counted.
MAX_ERRORS = 1000


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)  # the first MAX_ERRORS
    formats: dict[str, str] = field(default_factory=dict)  # file -> detected format
    failed_files: list[str] = field(default_factory=list)  # files refused as a whole

    @property
    def errors_truncated(self) -> int:
        """Skipped records (or files) whose reason was not kept."""
        return self.skipped - len(self.errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "errors": self.errors,
            "errors_truncated": self.errors_truncated,
            "failed_files": self.failed_files,
            "formats": self.formats,
        }

    def skip(self, where: str, reason: str) -> None:
        self.skipped += 1
        if len(self.errors) < MAX_ERRORS:
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
        "uid": rec.uid,
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

        # executemany's rowcount counts attempted rows, not inserted ones (re-imports said
        # "imported 999, duplicates 0"): count the ids that RETURNING gives back. SQLAlchemy
        # sends these as multi-row INSERTs (insertmanyvalues), a page of rows per statement.
        stmt = pg_insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.id)
        return len(conn.execute(stmt, rows).all())
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
        except ImportFormatError as err:  # this file only: the next one is still imported
            report.skip(str(path.name), str(err))
            report.failed_files.append(str(path))
    return report


UNKNOWN_SHAPE = ("not a known record shape (openai messages, sharegpt conversations, "
                 "alpaca instruction/output, or ftui)")


@dataclass(frozen=True)
class _Converter:
    """One record -> one row (a dict of columns), or the reason it is skipped. Picklable, so a
    worker process can run it."""

    file_format: str | None
    mode: str
    source: str
    now: datetime

    def __call__(self, obj: Any) -> dict[str, Any] | str:
        if type(obj) is not dict:
            return f"a record must be a JSON object, not {type(obj).__name__}"
        if not obj:
            return "empty record"
        if self.file_format is None:
            return UNKNOWN_SHAPE
        try:
            rec = PARSERS[self.file_format](obj)
            return record_to_row(rec, default_mode=self.mode, default_source=self.source,
                                 now=self.now)
        except RecordError as err:
            return str(err)
        except RecursionError:
            from ftui.ingest.reader import MAX_DEPTH_REASON

            return MAX_DEPTH_REASON


def _detect(name: str, data: bytes, layout: str) -> str | None:
    """The format of a file: that of its first record of a known shape."""
    for _where, obj in records_in(name, data, layout):
        found = detect_format(obj) if not isinstance(obj, RecordError) else None
        if found == "preference":
            raise ImportFormatError(
                "the file holds preference pairs (chosen/rejected), not conversations",
                "import the conversations the pairs came from; ftui exports preference "
                "pairs itself (ftui dataset), it does not import them",
            )
        if found is not None:
            return found
    return None


# Files at least this big are parsed in a worker process while this one writes: two cores busy
# without fighting over the GIL (a writer thread spends its time waiting for it).
PARALLEL_MIN_BYTES = 8 << 20
CHUNK_BYTES = 2 << 20


def _import_one(store, path, fmt, mode, source, report, progress) -> None:
    data = load_file(path)
    layout = file_layout(data)
    file_format = _detect(path.name, data, layout) if fmt == "auto" else fmt
    report.formats[path.name] = file_format or "none"
    convert = _Converter(file_format, mode or "standard", source or f"import:{path.name}", utcnow())
    with _writer_for(store) as write:
        if (layout == "jsonl" and len(data) >= PARALLEL_MIN_BYTES
                and not isinstance(write, _SqlAlchemyWriter)
                and (os.cpu_count() or 1) > 1):
            for rows, errors, uncounted in _parse_in_worker(
                    path.name, data, convert, isinstance(write, _PostgresWriter)):
                for where, reason in errors:
                    report.skip(where, reason)
                report.skipped += uncounted
                write.tuples(rows)
                if progress:
                    progress(write.seen)
        else:
            batch: list[dict[str, Any]] = []
            for where, obj in records_in(path.name, data, layout):
                row = str(obj) if isinstance(obj, RecordError) else convert(obj)
                if type(row) is str:
                    report.skip(where, row)
                    continue
                batch.append(row)
                if len(batch) >= BATCH:
                    write(batch)
                    batch = []
                    if progress:
                        progress(write.seen)
            if batch:
                write(batch)
    report.imported += write.added
    report.duplicates += write.seen - write.added


@dataclass(frozen=True)
class CopyRows:
    """Rows already in PostgreSQL's COPY text format (made in the parsing process, so the
    importing one only passes bytes on), and how many there are."""

    data: bytes
    count: int

    def __len__(self) -> int:
        return self.count


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if type(value) is not str:
        return str(value)
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _has_nul(row: tuple) -> bool:
    return any(type(v) is str and "\x00" in v for v in row)


def copy_rows(rows: list[tuple]) -> CopyRows:
    """Tuples (as `_SqliteWriter.as_tuple` makes them) as COPY ... FROM STDIN text, NUL (which
    PostgreSQL text cannot hold) as U+FFFD. psycopg's own C formatter when it has one (3x
    faster than Python's), else the same format written here."""
    rows = [tuple(without_nul(v) for v in row) if _has_nul(row) else row for row in rows]
    try:
        from psycopg._copy_base import format_row_text  # C in psycopg[binary]
        from psycopg.adapt import Transformer
    except ImportError:
        lines = ["\t".join([_copy_field(v) for v in row]) for row in rows]
        return CopyRows(("\n".join(lines) + "\n").encode() if lines else b"", len(rows))
    out, tx = bytearray(), Transformer(None)
    for row in rows:
        format_row_text(row, tx, out)
    return CopyRows(bytes(out), len(rows))


def _parse_chunk(name: str, first_line: int, chunk: bytes, convert: _Converter,
                 for_copy: bool = False):
    """Worker process: parse one piece of a JSONL file into insert-ready tuples (or, for
    PostgreSQL, COPY text)."""
    rows, errors, uncounted = [], [], 0
    for where, obj in records_in(name, chunk, "jsonl", first_line):
        row = str(obj) if isinstance(obj, RecordError) else convert(obj)
        if type(row) is str:
            if len(errors) < MAX_ERRORS:
                errors.append((where, row))
            else:  # the report keeps no more than these anyway
                uncounted += 1
        else:
            rows.append(_SqliteWriter.as_tuple(row))
    return (copy_rows(rows) if for_copy else rows), errors, uncounted


def _die_with_parent(parent: int) -> None:
    """Worker initializer: end this process when the importing one dies, even by kill -9
    (its queue would otherwise keep it waiting for ever). Linux: the kernel sends SIGKILL
    (prctl PR_SET_PDEATHSIG); elsewhere, and for the moment before that is set, a thread
    watches the parent id."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="ftui-parent-watch").start()


def _parse_in_worker(name: str, data: bytes, convert: _Converter, for_copy: bool = False):
    """Yield (rows, errors) per chunk, in file order, parsed by one worker process."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context(method),
                             initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
        pending: deque = deque()
        for first_line, chunk in jsonl_chunks(data, CHUNK_BYTES):
            pending.append(pool.submit(_parse_chunk, name, first_line, chunk, convert,
                                       for_copy))
            if len(pending) >= 4:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class _SqlAlchemyWriter:
    """Portable path: one transaction, batches inserted as they come."""

    def __init__(self, store: Store) -> None:
        self.store, self.added, self.seen = store, 0, 0

    def __enter__(self):
        self._ctx = self.store.engine.begin()
        self.conn = self._ctx.__enter__()
        return self

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        self.added += _insert_ignoring_duplicates(self.conn, batch)
        self.seen += len(batch)

    def tuples(self, rows: list[tuple]) -> None:
        raise NotImplementedError("tuples are only written to SQLite")

    def __exit__(self, *exc) -> bool:
        return bool(self._ctx.__exit__(*exc))


class _SqliteWriter:
    """SQLite path: a writer thread runs `executemany` on the raw connection while the caller
    parses the next batch. sqlite3 releases the GIL while it steps, so parsing and writing
    overlap on two cores. It commits every COMMIT_EVERY rows: in WAL mode one huge transaction
    spills the page cache and doubles the writes, and an interrupted import keeps what it wrote
    (running it again adds only the rest, since duplicates are skipped)."""

    COMMIT_EVERY = 20_000

    _COLUMNS = [c.name for c in _TABLE.columns if c.name != "id"]

    def __init__(self, store: Store) -> None:
        self.store, self.added, self.seen = store, 0, 0
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        cols = ", ".join(self._COLUMNS)
        marks = ", ".join("?" for _ in self._COLUMNS)
        self._sql = f"INSERT OR IGNORE INTO {_TABLE.name} ({cols}) VALUES ({marks})"

    def __enter__(self):
        self._raw = self.store.engine.raw_connection()
        self._thread = threading.Thread(target=self._run, name="ftui-import-writer", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        cur = self._raw.cursor()
        try:
            pending = 0
            while (batch := self._queue.get()) is not None:
                if self._error is None:
                    self.added += self._write(cur, batch)
                    pending += len(batch)
                    if pending >= self.COMMIT_EVERY:
                        self._raw.commit()
                        pending = 0
        except BaseException as err:  # reported by the caller; keep draining the queue
            self._error = err
            while self._queue.get() is not None:
                pass
        finally:
            cur.close()

    def _write(self, cur, batch: list[tuple]) -> int:
        # Rows really inserted (not the ignored duplicates); the Monitoring change marks of
        # the batch are written once per day, not by a trigger per row.
        from ftui.monitoring import sqlite_bulk_insert

        return sqlite_bulk_insert(cur, self._sql, batch)

    _ROW = itemgetter(*_COLUMNS)

    @classmethod
    def as_tuple(cls, row: dict[str, Any]) -> tuple:
        # Store times exactly as SQLAlchemy does, or keyset paging compares them wrongly.
        row["created_at"] = _sa_time(row["created_at"])
        row["updated_at"] = _sa_time(row["updated_at"])
        return cls._ROW(row)

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        self.tuples([self.as_tuple(r) for r in batch])

    def tuples(self, rows: list[tuple]) -> None:
        if self._error is not None:
            raise self._error
        self.seen += len(rows)
        self._queue.put(rows)

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._queue.put(None)
        self._thread.join()
        try:
            if exc_type is None and self._error is None:
                self._raw.commit()
            else:
                self._raw.rollback()
        except Exception as err:  # noqa: BLE001 - e.g. the disk filled at the last commit
            self._error = self._error or err
        finally:
            with contextlib.suppress(Exception):
                self._raw.close()
        if exc_type is None and self._error is not None:
            if "full" in str(self._error).lower():
                raise FtuiError(f"writing to the store failed: the disk is full ({self._error})",
                                "free some disk space, then run the import again: what was "
                                "written is kept, duplicates are skipped") from self._error
            raise FtuiError(f"writing to the store failed: {self._error}",
                            "check free disk space and that no other program locks the store, "
                            "then run the import again: what was written is kept, duplicates "
                            "are skipped") from self._error
        return False


def _sa_time(dt: datetime) -> str:
    """SQLAlchemy's SQLite text form of a datetime: always with microseconds."""
    text = dt.isoformat(" ")
    return text if len(text) == 26 else text + ".000000"


class _PostgresWriter(_SqliteWriter):
    """PostgreSQL path, on the same writer thread. A batch is COPYed straight into the table
    (PostgreSQL's fast path) inside a savepoint; if one of its rows is already stored (or is
    there twice), the COPY fails whole, is rolled back to the savepoint, and the batch goes the
    careful way: COPY into a temporary table, then one INSERT ... SELECT ... ON CONFLICT DO
    NOTHING, whose rowcount is what was really added (executemany's rowcount counts attempted
    rows: re-imports said "imported 999, duplicates 0"). After a batch with duplicates the next
    one goes the careful way at once (a re-import is all duplicates); a clean one switches back.
    Row by row is ~15x slower than either."""

    STAGE = "ftui_import_stage"
    _COLS = ", ".join(_SqliteWriter._COLUMNS)
    direct = True  # the next batch tries the straight COPY

    def _write(self, cur, batch: list[tuple] | CopyRows) -> int:
        rows = batch if isinstance(batch, CopyRows) else copy_rows(batch)
        if self.direct:
            import psycopg

            cur.execute("SAVEPOINT ftui_import_batch")
            try:
                with cur.copy(f"COPY {_TABLE.name} ({self._COLS}) FROM STDIN") as copy:
                    copy.write(rows.data)
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT ftui_import_batch")
            else:
                cur.execute("RELEASE SAVEPOINT ftui_import_batch")
                return rows.count
        added = self._write_staged(cur, rows)
        self.direct = added == rows.count
        return added

    def _write_staged(self, cur, rows: CopyRows) -> int:
        if not getattr(self, "_staged", False):
            # Filled and emptied per batch; `seq` keeps file order, so of two equal records in
            # one batch the first is kept (as on SQLite) and ids follow the file.
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {self.STAGE} AS SELECT {self._COLS} "
                        f"FROM {_TABLE.name} WITH NO DATA")
            cur.execute(f"ALTER TABLE {self.STAGE} ADD COLUMN IF NOT EXISTS "
                        "seq bigint GENERATED ALWAYS AS IDENTITY")
            self._staged = True
        with cur.copy(f"COPY {self.STAGE} ({self._COLS}) FROM STDIN") as copy:
            copy.write(rows.data)
        cur.execute(f"INSERT INTO {_TABLE.name} ({self._COLS}) SELECT {self._COLS} "
                    f"FROM {self.STAGE} ORDER BY seq ON CONFLICT DO NOTHING")
        added = cur.rowcount
        cur.execute(f"TRUNCATE {self.STAGE}")
        return added

    def _run(self) -> None:
        super()._run()
        if self._error is None and getattr(self, "_staged", False):
            # The connection goes back to the pool: leave no temporary table on it. (After a
            # failure the rollback drops it, or leaves an empty one the next import reuses.)
            try:
                with self._raw.cursor() as cur:
                    cur.execute(f"DROP TABLE IF EXISTS {self.STAGE}")
            except Exception as err:  # reported by __exit__, as a failed batch would be
                self._error = err


def _writer_for(store: Store):
    if store.is_sqlite:
        return _SqliteWriter(store)
    if store.engine.dialect.name == "postgresql":
        return _PostgresWriter(store)
    return _SqlAlchemyWriter(store)


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
    experiment_id: int | None = None,
    arm: str | None = None,
) -> Interaction:
    """Record one live interaction of the chat app. Raises `FtuiError` on invalid input.

    Each call is a distinct interaction (its time is part of its identity), unlike a file import
    where the same record twice is one interaction."""
    row = interaction_row(
        messages, mode=mode, model=model, latency_ms=latency_ms, rating=rating,
        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, source=source,
        user_id=user_id, session_id=session_id, tools=tools, context=context, tags=tags, uid=uid,
        created_at=created_at, experiment_id=experiment_id, arm=arm)
    with store.session() as session:
        item = Interaction(**row)
        session.add(item)
        session.commit()
        session.refresh(item)
        return item


def interaction_row(messages: list[dict[str, Any]], *, mode: str = "standard",
                    model: str | None = None, latency_ms: float | None = None,
                    rating: int | None = None, prompt_tokens: int | None = None,
                    completion_tokens: int | None = None, source: str = "app",
                    user_id: str | None = None, session_id: str | None = None,
                    tools: list[Any] | None = None, context: Any = None,
                    tags: Iterable[str] = (), uid: str | None = None,
                    created_at: datetime | None = None, experiment_id: int | None = None,
                    arm: str | None = None) -> dict[str, Any]:
    """The Interaction row for one live exchange (validated), for callers that write in
    batches (the gateway's writer)."""
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
    row.update(experiment_id=experiment_id, arm=arm)
    return row
