"""Writing interactions out in ftui's own JSONL format (re-importable, every field kept)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select

from ftui.errors import FtuiError
from ftui.ingest.formats import to_export_record
from ftui.store import Interaction, Store


def export_interactions(store: Store, out: str | Path, batch: int = 5000) -> int:
    path = Path(out)
    tmp = path.with_name(path.name + ".part")
    n = 0
    try:
        with tmp.open("w", encoding="utf-8") as fh, store.session() as session:
            stmt = select(Interaction).order_by(Interaction.id).execution_options(yield_per=batch)
            for row in session.exec(stmt):
                fh.write(json.dumps(to_export_record(row), ensure_ascii=False) + "\n")
                n += 1
        tmp.replace(path)  # never leave a half-written file under the real name
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise FtuiError(f"cannot write {path}: {err.strerror}", "choose a writable path") from err
    return n
