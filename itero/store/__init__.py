"""Persistence: SQLite and PostgreSQL through SQLAlchemy 2, Alembic migrations, content-addressed artifacts."""

from itero.store._artifacts import ArtifactStore, dump_state, load_state
from itero.store._records import (
    DatasetVersionRecord,
    OptimizeRunRecord,
    StudyRecord,
    TrialRunRecord,
    WorkerEnvironmentRecord,
)
from itero.store._store import LostRace, RunCost, RunFull, Store
from itero.store._urls import check_url, public_url, sqlite_file, url_backend

__all__ = [
    "ArtifactStore",
    "DatasetVersionRecord",
    "LostRace",
    "OptimizeRunRecord",
    "RunCost",
    "RunFull",
    "Store",
    "StudyRecord",
    "TrialRunRecord",
    "WorkerEnvironmentRecord",
    "check_url",
    "dump_state",
    "load_state",
    "public_url",
    "sqlite_file",
    "url_backend",
]
