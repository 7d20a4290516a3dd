"""The demo data set: a few hundred sample interactions written by this project (assets/), and
with `preferences`, the signals preference training learns from (issue 12): rated alternatives,
corrections and arena votes (written by assets/generate_preferences.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlmodel import select

from ftui.ingest import ImportReport, import_files
from ftui.resources import asset_path
from ftui.store import ArenaVote, Store

DEMO_FILE = "demo_interactions.jsonl"
PREFERENCE_FILE = "demo_preferences.jsonl"
ARENA_FILE = "demo_arena.jsonl"


@dataclass(frozen=True)
class DemoLoaded:
    interactions: ImportReport  # the sample set and the preference signals (one import)
    votes: int  # arena votes added

    def summary(self) -> str:
        return (f"demo data: imported {self.interactions.imported} interactions (already "
                f"present {self.interactions.duplicates}) with their preference signals, "
                f"{self.votes} arena votes added")


def load_demo_set(store: Store) -> DemoLoaded:
    """The demo, the same from every entry point (`ftui demo`, the TUI's D key and its offer on
    an empty store): the sample interactions, the rated alternatives and corrections, and the
    arena votes. Loading it twice adds nothing."""
    report = import_files(store, [asset_path(DEMO_FILE), asset_path(PREFERENCE_FILE)],
                          fmt="ftui")
    return DemoLoaded(report, load_demo_votes(store))


def load_demo(store: Store, *, preferences: bool = False) -> ImportReport:
    """Import the sample set (and the preference signals); loading it twice adds nothing.
    Tests build on the plain sample set; people get `load_demo_set`."""
    if preferences:
        return load_demo_set(store).interactions
    return import_files(store, [asset_path(DEMO_FILE)], fmt="ftui")


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
