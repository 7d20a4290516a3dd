"""Reading records out of JSONL files and JSON arrays, one bad record never sinking the rest.

Yields `(where, obj)` for every record and `(where, RecordError)` for every record that could not
be read, where `where` is `file:line` (JSONL) or `file[index]` (JSON array).
"""

from __future__ import annotations

import json
import stat
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
    check_regular_file(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise ImportFormatError(f"{path}: no such file", "check the path") from err
    except IsADirectoryError as err:
        raise ImportFormatError(f"{path} is a folder", "name the files inside it") from err
    except OSError as err:
        raise ImportFormatError(f"{path}: cannot read ({err.strerror})", "check permissions") from err
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def check_regular_file(path: Path) -> None:
    """Refuse, from its stat alone, what is not a regular file: opening a FIFO that has no
    writer would block for ever, and a device never ends."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as err:
        raise ImportFormatError(f"{path}: no such file", "check the path") from err
    except OSError as err:
        raise ImportFormatError(f"{path}: cannot read ({err.strerror})", "check permissions") from err
    if stat.S_ISDIR(mode):
        raise ImportFormatError(f"{path} is a folder", "name the files inside it")
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "a device" if
                stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise ImportFormatError(f"{path} is {kind}, not a regular file",
                                "write the data to a regular file first, then import that file")


# Python's json module recurses once per level of nesting; deeper records are refused with a
# reason instead of a RecursionError (orjson, used for JSONL, stops at 1,024 levels itself).
MAX_DEPTH_REASON = ("nested too deeply for a conversation record (over about 1,000 levels of "
                    "arrays or objects)")


def _limit_reason(err: BaseException) -> str:
    """The reason for a record refused by a parser's limits (depth, number size)."""
    text = str(err)
    if isinstance(err, RecursionError) or "depth limit" in text or "recursion" in text.lower():
        return MAX_DEPTH_REASON
    if "digits" in text or "infinity" in text:
        return "a number too large to read (integers are limited to 4,300 digits)"
    return f"invalid JSON: {text}"


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
    except json.JSONDecodeError:
        return False
    except UnicodeDecodeError:
        return False
    except (RecursionError, ValueError):  # a whole value on one line, beyond a parser limit
        return True
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
    if "depth limit" in err.msg or "infinity" in err.msg:
        return RecordError(_limit_reason(err))
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
    except (ValueError, RecursionError):  # syntax, or a record beyond a parser limit:
        items = None  # read element by element below, so the others still come in
    if isinstance(items, list):
        for i, item in enumerate(items):
            where = name if single else f"{name}[{i}]"
            yield where, _checked(item, bad_utf8)
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
            failed_at = err.pos
        except (ValueError, RecursionError) as err:  # beyond a limit: depth, integer digits
            yield where, RecordError(_limit_reason(err))
            failed_at = pos
        else:
            yield where, _checked(item, bad_utf8)
            index += 1
            continue
        # Resume at the next object that starts a line: the usual layout of such files.
        nxt = text.find("\n", failed_at)
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


def _checked(item: Any, bad_utf8: bool) -> Any:
    """The record, or why it is refused: bytes that were not UTF-8, nesting beyond the limit."""
    if not bad_utf8:
        return item
    try:
        return RecordError("invalid UTF-8 inside the record") if _has_surrogates(item) else item
    except RecursionError:
        return RecordError(MAX_DEPTH_REASON)


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
