"""PostgreSQL's import path: a clean batch is COPYed straight into the table, a batch with any
stored (or repeated) record falls back to the staging table; counts, order and NUL scrubbing stay
right either way."""

from __future__ import annotations

import json

import psycopg
import pytest
from conftest import write_lines

from ftui.ingest import import_files, importer
from ftui.store import interactions as q


def _records(start: int, n: int) -> list[str]:
    return [json.dumps({"messages": [{"role": "user", "content": f"q {i}"},
                                     {"role": "assistant", "content": f"a {i}"}]})
            for i in range(start, start + n)]


@pytest.fixture
def paths_taken(monkeypatch):
    """Which way each batch went: 'direct', or 'staged' with the rows added."""
    taken: list[tuple[str, int]] = []
    staged = importer._PostgresWriter._write_staged
    write = importer._PostgresWriter._write

    def spy_staged(self, cur, rows):
        added = staged(self, cur, rows)
        taken.append(("staged", added))
        return added

    def spy_write(self, cur, batch):
        before = len(taken)
        added = write(self, cur, batch)
        if len(taken) == before:
            taken.append(("direct", added))
        return added

    monkeypatch.setattr(importer._PostgresWriter, "_write_staged", spy_staged)
    monkeypatch.setattr(importer._PostgresWriter, "_write", spy_write)
    monkeypatch.setattr(importer, "BATCH", 100)
    return taken


def test_clean_batches_go_straight_and_duplicates_fall_back(pg_store, tmp_path, paths_taken):
    first = import_files(pg_store, [write_lines(tmp_path / "a.jsonl", _records(0, 300))])
    assert (first.imported, first.duplicates) == (300, 0)
    assert paths_taken == [("direct", 100)] * 3
    paths_taken.clear()
    # batch 1: new; batch 2: half stored; batch 3: a record twice in it; batches 4, 5: new
    mixed = (_records(300, 100) + _records(250, 50) + _records(600, 50)
             + _records(400, 50) + _records(400, 1) + _records(451, 49) + _records(500, 100) + _records(700, 100))
    second = import_files(pg_store, [write_lines(tmp_path / "b.jsonl", mixed)])
    assert (second.imported, second.duplicates) == (449, 51)
    # after a batch with duplicates the next goes staged at once; a clean one switches back
    assert paths_taken == [("direct", 100), ("staged", 50), ("staged", 99), ("staged", 100),
                           ("direct", 100)]
    assert q.count(pg_store, q.InteractionFilter()) == 749
    # ids follow the file: the newest is the last record of the file
    newest = q.page_first(pg_store, q.InteractionFilter(), 1)[0]
    assert q.get(pg_store, newest.id).messages[0]["content"] == "q 799"


def test_reimport_is_all_staged_after_the_first_miss(pg_store, tmp_path, paths_taken):
    path = write_lines(tmp_path / "a.jsonl", _records(0, 300))
    import_files(pg_store, [path])
    paths_taken.clear()
    again = import_files(pg_store, [path])
    assert (again.imported, again.duplicates) == (0, 300)
    assert paths_taken == [("staged", 0)] * 3


def test_nul_in_a_direct_batch_is_scrubbed(pg_store, tmp_path, paths_taken):
    nul = json.dumps({"messages": [{"role": "user", "content": "x\u0000"},
                                   {"role": "assistant", "content": "y"}],
                      "model": "m\u0000", "notes": "n\u0000", "user_id": "u\u0000"})
    report = import_files(pg_store, [write_lines(tmp_path / "n.jsonl", [nul] + _records(0, 5))])
    assert (report.imported, report.skipped) == (6, 0)
    assert paths_taken == [("direct", 6)]
    item = q.get(pg_store, q.page_last(pg_store, q.InteractionFilter(), 1)[0].id)
    assert (item.model, item.notes, item.user_id) == ("m\ufffd", "n\ufffd", "u\ufffd")
    assert item.messages[0]["content"] == "x\x00"  # JSON keeps it, escaped


def test_other_errors_are_not_swallowed(pg_store, tmp_path, monkeypatch):
    """Only a duplicate sends a batch the careful way: any other refusal fails the import with
    a message (a DataError here), nothing is half-written."""
    def staged(self, cur, rows):
        raise AssertionError("a batch the server refused went the staged way")

    def bad_rating(record_to_row):
        def wrapped(rec, **kw):
            return {**record_to_row(rec, **kw), "rating": "not a number"}
        return wrapped

    monkeypatch.setattr(importer._PostgresWriter, "_write_staged", staged)
    monkeypatch.setattr(importer, "record_to_row", bad_rating(importer.record_to_row))
    with pytest.raises(importer.FtuiError, match="writing to the store failed") as err:
        import_files(pg_store, [write_lines(tmp_path / "r.jsonl", _records(0, 3))])
    assert isinstance(err.value.__cause__, psycopg.errors.DataError)
    assert q.count(pg_store, q.InteractionFilter()) == 0


HOSTILE_TEXT = ["back\\slash", "tab\there", "new\nline", "cr\rlf\r\n", "\\N", "\\\\N", "N",
                "nul\u0000", "", " ", "é✓🙂", "quote\"'", "\\t literally", "end\\"]


def test_parallel_copy_text_stores_what_sqlite_stores(pg_store, tmp_path, monkeypatch):
    """Big files are turned into COPY text in the parsing process: every hostile string comes
    back as SQLite stores it (NUL, which PostgreSQL text cannot hold, as U+FFFD)."""
    from ftui.store import open_store

    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(importer, "CHUNK_BYTES", 2_000)
    records = []
    for i, text in enumerate(HOSTILE_TEXT):
        records.append(json.dumps({
            "messages": [{"role": "user", "content": f"{i} {text}"},
                         {"role": "assistant", "content": f"reply {text}"}],
            "model": text, "user_id": text, "session_id": text, "notes": text,
            "tags": [text] if text.strip() else [], "latency_ms": 1e-5 * (i + 1),
            "rating": 1 + i % 5, "created_at": f"2025-01-0{1 + i % 9}T10:00:00.{i:06d}"}))
    path = write_lines(tmp_path / "h.jsonl", records + records[:3])
    sqlite = open_store(f"sqlite:///{tmp_path / 's.db'}")
    reports = [import_files(s, [path]) for s in (sqlite, pg_store)]
    assert [(r.imported, r.duplicates, r.skipped) for r in reports] == [
        (len(records), 3, 0)] * 2

    def stored(store):
        items = [q.get(store, row.id) for row in
                 q.page_first(store, q.InteractionFilter(), 100)]
        return sorted((i.messages_json, i.model, i.user_id, i.session_id, i.notes, i.tags,
                       i.preview, i.latency_ms, i.rating, i.created_at, i.content_hash)
                      for i in items)

    def scrubbed(values):
        return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) and i else v
                     for i, v in enumerate(values))  # not messages_json: JSON escapes NUL

    assert stored(pg_store) == sorted(scrubbed(v) for v in stored(sqlite))
    sqlite.close()


def test_copy_text_without_psycopgs_formatter_is_byte_identical(monkeypatch):
    import builtins

    rows = [(t, None, i, i / 3, "2025-01-01 00:00:00.000000") for i, t in
            enumerate(HOSTILE_TEXT)]
    with_c = importer.copy_rows(rows).data
    real = builtins.__import__

    def no_psycopg(name, *args, **kwargs):
        if name.startswith("psycopg"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    assert importer.copy_rows(rows).data == with_c
    assert b"\x00" not in with_c and with_c.count(b"\n") == len(rows)
