"""Frozen dataset versions in the store: build, list, show, diff, preview."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from ftui.curate.build import BuildResult, Progress, count_matching, run_pipeline, select_candidates
from ftui.curate.spec import DatasetSpec
from ftui.errors import FtuiError
from ftui.ingest.formats import canonical_json
from ftui.prompts import system_prompts
from ftui.store import Dataset, DatasetExample, Store

PREVIEW_SAMPLE = 3000
# as experiment and model names (ftui.ab.experiments): a model trained on a dataset is
# registered as "<dataset>-run<N>", which must stay a name F5 and the gateway accept
_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def check_dataset_name(name: str) -> str:
    """The name, stripped; a clear error if it is empty or not a simple name."""
    name = (name or "").strip()
    if not name:
        raise FtuiError("a dataset needs a name", "give one, e.g. ftui dataset build support-v1")
    if not _DATASET_NAME.match(name):
        raise FtuiError(f"dataset name {name!r} is not a simple name",
                        "use letters, digits and . _ : - only (up to 64, starting with a letter "
                        "or digit), e.g. support-v1")
    return name


def build_dataset(store: Store, name: str, spec: DatasetSpec, *, home: Path | None = None,
                  progress: Progress | None = None) -> tuple[Dataset, BuildResult, bool]:
    """Build and freeze a version. Returns (version, result, created); the same rules over the
    same data give the same hash, and then the existing version is returned unchanged."""
    name = check_dataset_name(name)
    spec.validate()
    total = count_matching(store, spec)
    if progress:
        progress("selecting", 0.0)
    if spec.kind != "sft":
        from ftui.curate.preference import run_preference_pipeline

        result = run_preference_pipeline(store, spec)
    else:
        result = run_pipeline(select_candidates(store, spec), spec, system_prompts(home),
                              progress=progress, total=total)
    if not result.examples and spec.kind != "sft":
        raise FtuiError(
            f"no {'pair' if spec.kind == 'preference' else 'labelled reply'} is left: "
            f"{result.matched} came from the signals and the cleaning removed "
            f"{sum(result.removed.values())} ({_removed_text(result.removed)})",
            "rate two answers to one prompt, correct a reply, or vote in the arena; or lower "
            "--min-rating-gap, or add --pair-source")
    if not result.examples:
        raise FtuiError(
            f"no example is left: {result.matched} interactions matched the rules and the "
            f"cleaning removed {sum(result.removed.values())} ({_removed_text(result.removed)})",
            "loosen the rules: lower --min-rating, add --include-unrated, or widen the modes")
    with store.session() as session:
        existing = session.exec(select(Dataset).where(
            Dataset.name == name, Dataset.content_hash == result.content_hash)).first()
        if existing is not None:
            return existing, result, False
        version = Dataset(name=name, content_hash=result.content_hash, spec_json=spec.canonical(),
                          report_json=json.dumps(result.report()), tokenizer=result.tokenizer,
                          examples=len(result.examples))
        session.add(version)
        session.flush()
        position: dict[str, int] = {}
        rows = []
        for ex in result.examples:
            position[ex.split] = at = position.get(ex.split, -1) + 1
            rows.append((version.id, ex.split, at, ex.interaction_id, ex.mode, ex.rating,
                         ex.tokens, ex.key, _messages_json(ex), ex.tools_json, ex.redactions))
        _insert_many(session, DatasetExample.__table__, _EXAMPLE_COLUMNS, rows)
        if spec.kind != "sft":  # the rejected reply or the label, beside each example
            from ftui.curate.preference import preference_rows
            from ftui.store import DatasetPreference

            sides = [preference_rows(ex, version.id, row[2])
                     for ex, row in zip(result.examples, rows, strict=True)]
            for i in range(0, len(sides), 5000):
                session.execute(insert(DatasetPreference.__table__), sides[i:i + 5000])
        session.commit()
        session.refresh(version)
        return version, result, True


_EXAMPLE_COLUMNS = ("dataset_id", "split", "position", "interaction_id", "reasoning_mode",
                    "rating", "tokens", "example_key", "messages_json", "tools_json",
                    "redactions")


def _insert_many(session, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Rows (tuples in `columns` order) into table, 5,000 at a time. On SQLite straight to the
    driver's executemany: SQLAlchemy's handling of each row's parameters took longer than
    SQLite's writing them (100k examples); the values are plain str, int and None."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
               f"VALUES ({', '.join('?' * len(columns))})")
        for i in range(0, len(rows), 5000):
            conn.exec_driver_sql(sql, rows[i:i + 5000])
        return
    for i in range(0, len(rows), 5000):
        session.execute(insert(table), [dict(zip(columns, row, strict=True))
                                        for row in rows[i:i + 5000]])


def _messages_json(ex) -> str:
    """An SFT example has its canonical JSON already (made once for its key); others make it."""
    made = getattr(ex, "messages_json", None)
    return made if made is not None else canonical_json(ex.messages)


def _removed_text(removed: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in removed.items()) or "nothing"


def preview(store: Store, spec: DatasetSpec, *, home: Path | None = None,
            sample: int = PREVIEW_SAMPLE) -> BuildResult:
    """The build's steps over the best `sample` matches: what the rules would do, quickly."""
    spec.validate()
    if spec.kind != "sft":  # the counts by source need every candidate: no sample
        from ftui.curate.preference import run_preference_pipeline

        return run_preference_pipeline(store, spec)
    total = count_matching(store, spec)
    result = run_pipeline(select_candidates(store, spec, limit=sample), spec, system_prompts(home))
    result.sampled = total > sample
    result.matched = total
    return result


def list_datasets(store: Store) -> list[Dataset]:
    with store.session() as session:
        return list(session.exec(select(Dataset).order_by(col(Dataset.id).desc())).all())


def get_dataset(store: Store, dataset_id: int | str) -> Dataset:
    with store.session() as session:
        found = None
        if str(dataset_id).isdigit():
            found = session.get(Dataset, int(dataset_id))
        if found is None:  # by name: the newest version
            found = session.exec(select(Dataset).where(Dataset.name == str(dataset_id)).order_by(
                col(Dataset.id).desc())).first()
    if found is None:
        raise FtuiError(f"no dataset {dataset_id!r}", "see the ids with: ftui dataset list")
    return found


def examples_of(store: Store, dataset_id: int, split: str | None = None) -> Iterator[DatasetExample]:
    with store.session() as session:
        stmt = select(DatasetExample).where(DatasetExample.dataset_id == dataset_id)
        if split:
            stmt = stmt.where(DatasetExample.split == split)
        stmt = stmt.order_by(col(DatasetExample.split), col(DatasetExample.position))
        yield from session.exec(stmt.execution_options(yield_per=2000))


@dataclass
class Diff:
    a: Dataset
    b: Dataset
    added: list[str]  # example keys in b only
    removed: list[str]  # in a only
    kept: int
    counts: dict[str, tuple[int, int]]  # split -> (a, b)
    spec_changes: dict[str, tuple[Any, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"a": self.a.id, "b": self.b.id, "added": len(self.added),
                "removed": len(self.removed), "kept": self.kept,
                "splits": {k: {"a": a, "b": b} for k, (a, b) in self.counts.items()},
                "spec_changes": {k: {"a": a, "b": b} for k, (a, b) in self.spec_changes.items()}}


def diff_datasets(store: Store, a_id: int | str, b_id: int | str) -> Diff:
    a, b = get_dataset(store, a_id), get_dataset(store, b_id)
    with store.engine.connect() as conn:
        keys = {}
        for version in (a, b):
            stmt = sa_select(DatasetExample.example_key).where(
                DatasetExample.dataset_id == version.id)
            keys[version.id] = set(conn.execute(stmt).scalars())
    ka, kb = keys[a.id], keys[b.id]
    sa, sb = a.report["splits"], b.report["splits"]
    spec_a, spec_b = a.spec, b.spec
    changes = {k: (spec_a.get(k), spec_b.get(k)) for k in sorted(set(spec_a) | set(spec_b))
               if spec_a.get(k) != spec_b.get(k)}
    return Diff(a, b, sorted(kb - ka), sorted(ka - kb), len(ka & kb),
                {s: (sa.get(s, 0), sb.get(s, 0)) for s in ("train", "validation", "test")},
                changes)
