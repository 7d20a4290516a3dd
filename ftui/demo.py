"""The demo data set: a few hundred sample interactions written by this project (assets/), and
with `preferences`, the signals preference training learns from (issue 12): rated alternatives,
corrections and arena votes (written by assets/generate_preferences.py)."""

from __future__ import annotations

import json

from sqlmodel import select

from ftui.ingest import ImportReport, import_files
from ftui.resources import asset_path
from ftui.store import ArenaVote, Store

DEMO_FILE = "demo_interactions.jsonl"
PREFERENCE_FILE = "demo_preferences.jsonl"
ARENA_FILE = "demo_arena.jsonl"


def load_demo(store: Store, *, preferences: bool = False) -> ImportReport:
    """Import the sample set (and the preference signals); loading it twice adds nothing."""
    files = [asset_path(DEMO_FILE)] + ([asset_path(PREFERENCE_FILE)] if preferences else [])
    report = import_files(store, files, fmt="ftui")
    if preferences:
        load_demo_votes(store)
    return report


def load_demo_votes(store: Store) -> int:
    """The demo's arena votes, each once however often it is loaded. Returns how many were added."""
    with asset_path(ARENA_FILE).open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    with store.session() as session:
        seen = {(v.prompt_json, v.answer_a, v.answer_b, v.winner)
                for v in session.exec(select(ArenaVote))}
        added = 0
        for row in rows:
            vote = ArenaVote(model_a=row["model_a"], model_b=row["model_b"], left=row["left"],
                             winner=row["winner"], prompt_json=json.dumps(row["prompt"]),
                             answer_a=row["answer_a"], answer_b=row["answer_b"])
            if (vote.prompt_json, vote.answer_a, vote.answer_b, vote.winner) in seen:
                continue
            seen.add((vote.prompt_json, vote.answer_a, vote.answer_b, vote.winner))
            session.add(vote)
            added += 1
        session.commit()
    return added
