"""Judging many interactions: resolve the judge (and its digest), build each prompt, skip what
the cache already holds, ask the rest concurrently, parse, store.

    report = judge_interactions(store, ids, judge="llama3.2:3b", home=home, host=host,
                                parallel=4, on_progress=show, cancel=stop_event)

Ollama judges get `parallel` requests in flight (a thread pool over one `ollama` client) with the
rubric's JSON schema as `format`; local judges (registered adapters or models) go through the
batched generation of `ftui.inference.batch` with the same prompt and the same parser. Cancel
stops sending: what is in flight finishes and is stored, the rest stays unjudged.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from ftui.errors import FtuiError
from ftui.judge.parse import JudgeParseError, parse_reply
from ftui.judge.prompt import PROMPT_VERSION, content_hash, judge_messages, schema, transcript
from ftui.judge.rubrics import Rubric, rubric_for
from ftui.store.db import Store
from ftui.store.models import Interaction, Judgement, utcnow

DEFAULT_OPTIONS: dict[str, Any] = {"temperature": 0.0, "seed": 0, "num_predict": 768}
CHUNK = 500
RAW_KEPT = 4000  # characters of a reply kept for review


@dataclass(frozen=True)
class Judge:
    ref: str  # what the operator named
    target: dict[str, Any]  # router.target_of's shape
    digest: str

    @property
    def backend(self) -> str:
        return self.target["backend"]


@dataclass(frozen=True)
class JudgeProgress:
    done: int  # judged + cached + failed so far
    total: int
    cached: int
    failed: int
    elapsed_s: float


@dataclass
class JudgeReport:
    judged: int = 0
    cached: int = 0
    failed: int = 0
    cancelled: int = 0
    seconds: float = 0.0
    judge: str = ""
    digest: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"judged": self.judged, "cached": self.cached, "failed": self.failed,
                "seconds": round(self.seconds, 3), "cancelled": self.cancelled,
                "judge": self.judge, "digest": self.digest}


@dataclass
class _Task:
    interaction_id: int
    rubric: Rubric
    content_hash: str
    cache_key: str
    messages: list[dict[str, str]]


# ---------------------------------------------------------------- the judge and its digest


def ollama_digest(host: str, name: str, timeout_s: float = 10.0) -> str:
    """The digest Ollama lists for `name` (a model pulled again under the same name has a new
    one): what the cache keys on, so a replaced model judges again."""
    import httpx
    import ollama

    from ftui.inference import _ollama_error

    try:
        listing = ollama.Client(host=host, timeout=timeout_s).list()
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError, TimeoutError) as err:
        raise _ollama_error(err, name, host) from err
    wanted = {name, name if ":" in name else f"{name}:latest"}
    for m in listing.models:
        if m.model in wanted and m.digest:
            return str(m.digest)
    raise FtuiError(f"Ollama at {host} has no model {name!r} to judge with",
                    f"pull it (ollama pull {name}), or name a registered model with --judge")


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def _file_hash(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _FILE_HASHES[key] = h.hexdigest()
    return _FILE_HASHES[key]


def _folder_hash(path: Path) -> str:
    """Hash of the weights and configs that decide what the model says."""
    if path.is_file():
        return _file_hash(path)
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in
                   (".safetensors", ".bin", ".json", ".gguf", ".model", ".jinja"))
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.name}:{_file_hash(p)}\n".encode())
    return h.hexdigest()


def local_digest(target: dict[str, Any], home: Path) -> str:
    from ftui.train.base import resolve_base

    where, extra = resolve_base(target["base"], home)
    base = f"hf:{where}" if extra.get("local_files_only") else _folder_hash(Path(where))
    adapter = target.get("adapter")
    if not adapter:
        return f"local:{base[:32]}"
    if not Path(adapter).is_dir():
        raise FtuiError(f"the judge's adapter folder {adapter} is missing",
                        "register the model again, or judge with another model")
    return f"local:{base[:16]}+{_folder_hash(Path(adapter))[:16]}"


def resolve_judge(store: Store, ref: str, *, host: str, home: Path) -> Judge:
    from ftui.inference.router import target_of

    target, _base = target_of(store, ref)
    if target["backend"] == "ollama":
        return Judge(ref, target, ollama_digest(host, target["name"]))
    return Judge(ref, target, local_digest(target, home))


def cache_key(judge: Judge, options: dict[str, Any], rubric: Rubric, content: str) -> str:
    parts = {"digest": judge.digest, "options": options, "rubric": rubric.name,
             "version": rubric.version, "rubric_text": rubric.fingerprint,
             "prompt": PROMPT_VERSION, "content": content}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------- selecting and preparing


def select_ids(store: Store, f=None, *, include_rated: bool = False,
               limit: int | None = None) -> list[int]:
    """The ids to judge: those the filter keeps (unrated only, unless `include_rated`)."""
    from ftui.store.interactions import InteractionFilter, ids_matching

    f = f or InteractionFilter()
    if not include_rated:
        f = f.with_(unrated=True, rating_min=None, rating_max=None)
    ids = ids_matching(store, f)
    return ids[:limit] if limit is not None else ids


def _tasks(store: Store, ids: Sequence[int], judge: Judge, options: dict[str, Any],
           home: Path | None, rubric_name: str | None) -> list[_Task]:
    C = Interaction.__table__.c
    rubrics: dict[str, Rubric] = {}
    tasks = []
    with store.engine.connect() as conn:
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start:start + CHUNK])
            rows = {r.id: r for r in conn.execute(select(
                C.id, C.messages_json, C.tools_json, C.reasoning_mode).where(C.id.in_(chunk)))}
            for i in chunk:
                row = rows.get(i)
                if row is None:
                    continue  # deleted since it was listed
                mode = row.reasoning_mode
                if mode not in rubrics:
                    rubrics[mode] = rubric_for(mode, home, rubric_name)
                rubric = rubrics[mode]
                text = transcript(json.loads(row.messages_json),
                                  json.loads(row.tools_json) if row.tools_json else None, mode)
                digest = content_hash(text)
                tasks.append(_Task(i, rubric, digest, cache_key(judge, options, rubric, digest),
                                   judge_messages(text, rubric)))
    return tasks


# ---------------------------------------------------------------- storing


def _existing(store: Store, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
    """cache key -> (judgement id, status) for keys already stored."""
    J = Judgement.__table__.c
    out = {}
    with store.engine.connect() as conn:
        for start in range(0, len(keys), CHUNK):
            for row in conn.execute(select(J.cache_key, J.id, J.status).where(
                    J.cache_key.in_(keys[start:start + CHUNK]))):
                out[row.cache_key] = (row.id, row.status)
    return out


def _make_current(conn, pairs: Sequence[tuple[int, int]]) -> None:
    """(interaction id, judgement id): that judgement becomes the one shown for it."""
    J = Judgement.__table__.c
    for interaction_id, judgement_id in pairs:
        conn.execute(update(Judgement.__table__).where(J.interaction_id == interaction_id)
                     .values(current=J.id == judgement_id))


def _store(store: Store, judge: Judge, options: dict[str, Any], task: _Task,
           reply: str | None, error: str | None, latency_ms: float | None) -> bool:
    """Parse and store one answer; True when it gave a score."""
    values: dict[str, Any] = {"status": "failed", "score": None, "scores_json": None,
                              "rationale": None, "error": error,
                              "raw": reply[:RAW_KEPT] if reply is not None else None}
    if reply is not None:
        try:
            verdict = parse_reply(reply, task.rubric)
            values.update(status="ok", score=verdict.overall, rationale=verdict.rationale,
                          scores_json=json.dumps(verdict.scores), error=None)
        except JudgeParseError as err:
            values["error"] = f"unreadable reply: {err}"
    values.update(judge=judge.ref, judge_digest=judge.digest, rubric=task.rubric.name,
                  rubric_version=task.rubric.version, options_json=json.dumps(options),
                  content_hash=task.content_hash, latency_ms=latency_ms, created_at=utcnow())
    T, J = Judgement.__table__, Judgement.__table__.c
    with store.engine.begin() as conn:
        row = conn.execute(select(J.id).where(J.cache_key == task.cache_key)).first()
        if row is not None:  # an earlier failure of the same key: tried again
            conn.execute(update(T).where(J.id == row.id).values(**values))
            judgement_id = row.id
        else:
            alive = conn.execute(select(Interaction.__table__.c.id).where(
                Interaction.__table__.c.id == task.interaction_id)).first()
            if alive is None:
                return values["status"] == "ok"  # deleted while it was judged
            judgement_id = conn.execute(T.insert().values(
                interaction_id=task.interaction_id, cache_key=task.cache_key, current=True,
                **values)).inserted_primary_key[0]
        _make_current(conn, [(task.interaction_id, judgement_id)])
    return values["status"] == "ok"


# ---------------------------------------------------------------- asking


Ask = Callable[[_Task], str]


def _ollama_asker(judge: Judge, host: str, options: dict[str, Any], timeout_s: float) -> Ask:
    import httpx
    import ollama

    from ftui.inference import _ollama_error

    client = ollama.Client(host=host, timeout=timeout_s)  # httpx clients are thread-safe
    name = judge.target["name"]

    def ask(task: _Task) -> str:
        try:
            try:
                resp = client.chat(model=name, messages=task.messages, stream=False,
                                   format=schema(task.rubric), options=options)
            except ollama.ResponseError as err:  # an Ollama too old for schemas: plain JSON
                if err.status_code not in (400, 500) or "format" not in str(err.error).lower():
                    raise
                resp = client.chat(model=name, messages=task.messages, stream=False,
                                   format="json", options=options)
        except (ollama.ResponseError, httpx.HTTPError, ConnectionError, TimeoutError) as err:
            raise _ollama_error(err, name, host) from err
        return resp.message.content or ""

    return ask


def judge_interactions(store: Store, ids: Sequence[int], *, judge: str | Judge, home: Path,
                       host: str, rubric: str | None = None, parallel: int = 4,
                       options: dict[str, Any] | None = None, timeout_s: float = 120.0,
                       on_progress: Callable[[JudgeProgress], None] | None = None,
                       cancel: threading.Event | None = None) -> JudgeReport:
    """Judge the interactions `ids`; see the module docstring."""
    started = time.perf_counter()
    cancel = cancel or threading.Event()
    if parallel < 1:
        raise FtuiError(f"--parallel {parallel} is below 1", "ask for 1 or more requests at once")
    options = {**DEFAULT_OPTIONS, **(options or {})}
    j = judge if isinstance(judge, Judge) else resolve_judge(store, judge, host=host, home=home)
    report = JudgeReport(judge=j.ref, digest=j.digest)
    total = len(ids)
    ask = _ollama_asker(j, host, options, timeout_s) if j.backend == "ollama" else None

    def progress() -> None:
        if on_progress:
            on_progress(JudgeProgress(report.judged + report.cached + report.failed, total,
                                      report.cached, report.failed,
                                      time.perf_counter() - started))

    def record(task: _Task, reply: str | None, error: str | None, ms: float | None) -> None:
        if _store(store, j, options, task, reply, error, ms):
            report.judged += 1
        else:
            report.failed += 1
        progress()

    progress()
    # a chunk at a time: prompts of a whole day of traffic are never all in memory at once
    for start in range(0, len(ids), CHUNK):
        if cancel.is_set():
            break
        tasks = _tasks(store, ids[start:start + CHUNK], j, options, home, rubric)
        total -= min(CHUNK, len(ids) - start) - len(tasks)  # deleted since they were listed
        known = _existing(store, [t.cache_key for t in tasks])
        hits = [(t.interaction_id, known[t.cache_key][0]) for t in tasks
                if known.get(t.cache_key, (0, ""))[1] == "ok"]
        todo = [t for t in tasks if known.get(t.cache_key, (0, ""))[1] != "ok"]
        with store.engine.begin() as conn:
            _make_current(conn, hits)
        report.cached += len(hits)
        if hits:
            progress()
        if ask is not None:
            _run_ollama(ask, todo, parallel, cancel, record)
        else:
            _run_local(j, todo, home, options, parallel, cancel, record)
    report.cancelled = total - report.judged - report.cached - report.failed
    report.seconds = time.perf_counter() - started
    return report


def _run_ollama(ask: Ask, todo: list[_Task], parallel: int, cancel: threading.Event,
                record: Callable) -> None:
    def one(task: _Task):
        if cancel.is_set():
            return task, None, None, None
        t0 = time.perf_counter()
        try:
            return task, ask(task), None, (time.perf_counter() - t0) * 1000
        except FtuiError as err:
            return task, None, str(err), (time.perf_counter() - t0) * 1000

    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="ftui-judge")
    try:
        pending = {pool.submit(one, t) for t in todo}
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in finished:
                task, reply, error, ms = fut.result()
                if reply is not None or error is not None:
                    record(task, reply, error, ms)
            if cancel.is_set():
                for fut in pending:
                    fut.cancel()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_local(j: Judge, todo: list[_Task], home: Path, options: dict[str, Any],
               parallel: int, cancel: threading.Event, record: Callable) -> None:
    from ftui.inference.batch import generate_many

    step = max(1, parallel) * 2  # a few batches at a time: progress and cancel in between
    for start in range(0, len(todo), step):
        if cancel.is_set():
            return
        chunk = todo[start:start + step]
        outcomes = generate_many(j.target, [t.messages for t in chunk], home=home,
                                 max_new_tokens=int(options.get("num_predict", 512)),
                                 temperature=float(options.get("temperature", 0.0)),
                                 batch_size=max(1, parallel), cancel=cancel)
        for task, o in zip(chunk, outcomes, strict=True):
            if o.generation is not None:
                record(task, o.generation.text, None, o.generation.latency_ms)
            elif o.error is not None:
                record(task, None, str(o.error), None)


# ---------------------------------------------------------------- reading back


def current_judgement(store: Store, interaction_id: int) -> Judgement | None:
    """The judgement shown for an interaction (its latest run's), or None."""
    with store.session() as s:
        return s.scalars(select(Judgement).where(
            Judgement.interaction_id == interaction_id, Judgement.current.is_(True))
            .order_by(Judgement.id.desc())).first()
