"""The store: SQLModel tables over SQLite (or any SQLAlchemy URL)."""

from ftui.store.db import SCHEMA_VERSION, Store, open_store
from ftui.store.models import (
    Dataset,
    DatasetExample,
    Interaction,
    ModelEvent,
    RegisteredModel,
    RunEvent,
    RunMetric,
    StoreMeta,
    TrainingRun,
    utcnow,
)

__all__ = ["SCHEMA_VERSION", "Dataset", "DatasetExample", "Interaction", "ModelEvent",
           "RegisteredModel", "RunEvent", "RunMetric",
           "TrainingRun", "Store", "StoreMeta", "open_store", "utcnow"]
