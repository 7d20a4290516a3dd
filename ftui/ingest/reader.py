"""Reading records out of JSONL files and JSON arrays, one bad record never sinking the rest.

Yields `(where, obj)` for every record and `(where, RecordError)` for every record that could not
be read, where `where` is `file:line` (JSONL) or `file[index]` (JSON array).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ftui.errors import ImportFormatError
from ftui.ingest.formats import RecordError

_DECODER = json.JSONDecoder()


def _has_surrogates(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_surrogates(k) or _has_surrogates(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogates(v) for v in value)
    return False


def load_file(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise ImportFormatError(f"{path}: no such file", "check the path") from err
    except IsADirectoryError as err:
        raise ImportFormatError(f"{path} is a folder", "name the files inside it") from err
    except OSError as err:
        raise ImportFormatError(f"{path}: cannot read ({err.strerror})", "check permissions") from err
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def file_layout(data: bytes) -> str:
    """"array" (a JSON array), "single" (one pretty-printed object), "parquet" or "jsonl"."""
    if data[:4] == b"PAR1":
        return "parquet"
    head = data.lstrip()[:1]
    if head == b"[":
        return "array"
    if head == b"{" and not _first_line_is_json(data):
        return "single"
    return "jsonl"


def records_in(name: str, data: bytes, layout: str, first_line: int = 1) -> Iterator[tuple[str, Any]]:
    if layout == "parquet":
        return _read_parquet(name, data)
    if layout == "array":
        return _read_array(name, data)
    if layout == "single":
        return _read_array(name, b"[" + data + b"]", single=True)
    return _read_jsonl(name, data, first_line)


def read_records(path: Path) -> Iterator[tuple[str, Any]]:
    data = load_file(path)
    yield from records_in(path.name, data, file_layout(data))


def jsonl_chunks(data: bytes, size: int) -> Iterator[tuple[int, bytes]]:
    """Split JSONL at line ends into pieces of about `size` bytes: (first line number, bytes)."""
    start, line = 0, 1
    while start < len(data):
        end = data.find(b"\n", start + size)
        end = len(data) if end == -1 else end + 1
        yield line, data[start:end]
        line += data.count(b"\n", start, end)
        start = end


def _first_line_is_json(data: bytes) -> bool:
    line = data.lstrip().split(b"\n", 1)[0]
    try:
        json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _read_jsonl(name: str, data: bytes, first_line: int = 1) -> Iterator[tuple[str, Any]]:
    loads = orjson.loads  # parses bytes and checks UTF-8 in one pass
    for lineno, line in enumerate(data.split(b"\n"), start=first_line):
        try:
            obj = loads(line)
        except orjson.JSONDecodeError as err:
            if not line.strip():
                continue
            yield f"{name}:{lineno}", _line_error(line, err)
            continue
        yield f"{name}:{lineno}", obj


def _line_error(line: bytes, err: json.JSONDecodeError) -> RecordError:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as bad:
        return RecordError(f"invalid UTF-8 at byte {bad.start} of the line")
    return RecordError(f"invalid JSON: {err.msg} (column {err.colno})")


def _read_array(name: str, data: bytes, single: bool = False) -> Iterator[tuple[str, Any]]:
    bad_utf8 = False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "surrogateescape")
        bad_utf8 = True
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        items = None
    if isinstance(items, list):
        for i, item in enumerate(items):
            where = name if single else f"{name}[{i}]"
            if bad_utf8 and _has_surrogates(item):
                yield where, RecordError("invalid UTF-8 inside the record")
            else:
                yield where, item
        return
    yield from _salvage_array(name, text, bad_utf8)


def _salvage_array(name: str, text: str, bad_utf8: bool) -> Iterator[tuple[str, Any]]:
    """A JSON array with a syntax error: decode element by element and skip the broken ones."""
    pos = text.index("[") + 1
    index = 0
    end = len(text)
    while pos < end:
        while pos < end and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= end or text[pos] == "]":
            return
        where = f"{name}[{index}]"
        try:
            item, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            line = text.count("\n", 0, err.pos) + 1
            yield where, RecordError(f"invalid JSON: {err.msg} (line {line} of the file)")
            # Resume at the next object that starts a line: the usual layout of such files.
            nxt = text.find("\n", err.pos)
            while nxt != -1:
                j = nxt + 1
                while j < end and text[j] in " \t\r":
                    j += 1
                if j < end and text[j] == "{":
                    break
                nxt = text.find("\n", j)
            if nxt == -1:
                return
            pos = nxt + 1
            index += 1
            continue
        if bad_utf8 and _has_surrogates(item):
            yield where, RecordError("invalid UTF-8 inside the record")
        else:
            yield where, item
        index += 1


def _read_parquet(name: str, data: bytes) -> Iterator[tuple[str, Any]]:
    """Parquet as ftui's hf export writes it (and as many hubs ship chat data): one row a record;
    columns holding JSON text (messages, tools) are decoded."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ImportFormatError(f"{name} is parquet, which needs pyarrow",
                                "pip install pyarrow (or pip install 'ftui[hf]')") from err
    try:
        rows = pq.read_table(pa.BufferReader(data)).to_pylist()
    except (pa.ArrowException, OSError) as err:
        raise ImportFormatError(f"{name}: unreadable parquet ({err})", "check the file") from err
    for i, row in enumerate(rows):
        for key in ("messages", "conversations", "tools"):
            if isinstance(row.get(key), str):
                try:
                    row[key] = json.loads(row[key])
                except json.JSONDecodeError:
                    yield f"{name}[{i}]", RecordError(f"column {key} is not JSON")
                    break
        else:
            yield f"{name}[{i}]", {k: v for k, v in row.items() if v is not None}
