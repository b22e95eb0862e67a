"""Persistence: SQLite and PostgreSQL through SQLAlchemy 2, Alembic migrations, content-addressed artifacts."""

from itero.store._artifacts import ArtifactStore, FolderArtifacts, dump_state, load_state
from itero.store._records import (
    ActionRecord,
    CheckpointRecord,
    DatasetVersionRecord,
    OptimizeRunRecord,
    StudyBudget,
    StudyRecord,
    TrialRunRecord,
    WorkerEnvironmentRecord,
)
from itero.store._remote import DatabaseArtifacts, FsspecArtifacts, open_artifacts, recorded_location
from itero.store._store import Store
from itero.store._trials import LostRace, RunFull
from itero.store._urls import check_url, public_url, sqlite_file, url_backend
from itero.store._writes import CheckpointData, CostDelta, HandRequest, RunCost, TrialWrite, WarmStart, Written

__all__ = [
    "ActionRecord",
    "ArtifactStore",
    "CheckpointData",
    "CheckpointRecord",
    "CostDelta",
    "DatabaseArtifacts",
    "DatasetVersionRecord",
    "FolderArtifacts",
    "FsspecArtifacts",
    "HandRequest",
    "LostRace",
    "OptimizeRunRecord",
    "RunCost",
    "RunFull",
    "Store",
    "StudyBudget",
    "StudyRecord",
    "TrialRunRecord",
    "TrialWrite",
    "WarmStart",
    "WorkerEnvironmentRecord",
    "Written",
    "check_url",
    "dump_state",
    "load_state",
    "open_artifacts",
    "public_url",
    "recorded_location",
    "sqlite_file",
    "url_backend",
]
