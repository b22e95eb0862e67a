"""Persistence: SQLite and PostgreSQL through SQLAlchemy 2, Alembic migrations, content-addressed artifacts."""

from itero.store._artifacts import ArtifactStore, dump_state, load_state
from itero.store._store import LostRace, RunCost, RunFull, Store, StudyRecord

__all__ = ["ArtifactStore", "LostRace", "RunCost", "RunFull", "Store", "StudyRecord", "dump_state", "load_state"]
