"""The demo data set: a few hundred sample interactions written by this project (assets/)."""

from __future__ import annotations

from ftui.ingest import ImportReport, import_files
from ftui.resources import asset_path
from ftui.store import Store

DEMO_FILE = "demo_interactions.jsonl"


def load_demo(store: Store) -> ImportReport:
    """Import the sample set; loading it twice adds nothing."""
    return import_files(store, [asset_path(DEMO_FILE)], fmt="ftui")
