"""The store: SQLModel tables over SQLite (or any SQLAlchemy URL)."""

from ftui.store.db import SCHEMA_VERSION, Store, open_store
from ftui.store.models import Interaction, StoreMeta, utcnow

__all__ = ["SCHEMA_VERSION", "Interaction", "Store", "StoreMeta", "open_store", "utcnow"]
