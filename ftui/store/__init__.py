"""The store: SQLModel tables over SQLite (or any SQLAlchemy URL)."""

from ftui.store.db import SCHEMA_VERSION, Store, db_now, open_store
from ftui.store.models import (
    ArenaVote,
    Assignment,
    AutopilotCycle,
    AutopilotLock,
    AutopilotStep,
    Dataset,
    DatasetExample,
    DatasetPreference,
    Experiment,
    Interaction,
    ModelEvent,
    Outcome,
    RegisteredModel,
    RunEvent,
    RunMetric,
    StoreMeta,
    TrainingRun,
    Worker,
    utcnow,
)

__all__ = ["SCHEMA_VERSION", "ArenaVote", "Assignment", "AutopilotCycle", "AutopilotLock",
           "AutopilotStep", "Dataset", "DatasetExample",
           "DatasetPreference", "Experiment",
           "Interaction", "ModelEvent", "Outcome", "RegisteredModel", "RunEvent", "RunMetric",
           "Store", "StoreMeta", "TrainingRun", "Worker", "db_now", "open_store", "utcnow"]
