"""Persistence: SQLite and PostgreSQL through SQLAlchemy 2, Alembic migrations, content-addressed artifacts."""

from itero.store._artifacts import ArtifactStore, dump_state, load_state
from itero.store._store import LostRace, RunFull, Store, StudyRecord
from itero.store._writes import CheckpointData, CostDelta, RunCost, TrialWrite, WarmStart

__all__ = [
    "ArtifactStore",
    "CheckpointData",
    "CostDelta",
    "LostRace",
    "RunCost",
    "RunFull",
    "Store",
    "StudyRecord",
    "TrialWrite",
    "WarmStart",
    "dump_state",
    "load_state",
]
