"""Persistence: SQLite and PostgreSQL through SQLAlchemy 2, Alembic migrations, content-addressed artifacts."""

from itero.store._artifacts import ArtifactStore, dump_state, load_state
from itero.store._records import (
    DatasetVersionRecord,
    OptimizeRunRecord,
    StudyRecord,
    TrialRunRecord,
    WorkerEnvironmentRecord,
)
from itero.store._store import Store
from itero.store._trials import LostRace, RunFull
from itero.store._urls import check_url, public_url, sqlite_file, url_backend
from itero.store._writes import CheckpointData, CostDelta, RunCost, TrialWrite, WarmStart

__all__ = [
    "ArtifactStore",
    "CheckpointData",
    "CostDelta",
    "DatasetVersionRecord",
    "LostRace",
    "OptimizeRunRecord",
    "RunCost",
    "RunFull",
    "Store",
    "StudyRecord",
    "TrialRunRecord",
    "TrialWrite",
    "WarmStart",
    "WorkerEnvironmentRecord",
    "check_url",
    "dump_state",
    "load_state",
    "public_url",
    "sqlite_file",
    "url_backend",
]
