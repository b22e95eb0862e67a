"""Delete a study, and free the disk of checkpoints nothing can resume (``itero rm`` and ``itero gc``).

delete_study("old-study", storage="sqlite:///itero.db")       # bytes of checkpoints freed
collect_checkpoints("sqlite:///itero.db")                     # {study: bytes freed, "": unnamed files}
"""

from __future__ import annotations

from itero._defaults import DEFAULT_STORAGE
from itero.store import Store, sqlite_file
from itero.store._artifacts import FolderArtifacts
from itero.store._remote import DatabaseArtifacts
from itero.study._create import load_study
from itero.trial import best_checkpoints

ORPHAN_AGE_SECONDS = 3600.0  # a file no checkpoint names is removed only when older (a write may be under way)


def delete_study(name: str, storage: str | Store = DEFAULT_STORAGE) -> int:
    """Delete study ``name`` (trials, reports, runs) and the checkpoint files no other study shares; the
    bytes freed. Raises ``StudyNotFoundError`` when there is no such study."""
    load_study(name, storage=storage, sampler="random", scheduler="fifo")  # a missing file is not created
    store = storage if isinstance(storage, Store) else Store(storage)
    return store.delete_study(name)


def collect_checkpoints(
    storage: str | Store = DEFAULT_STORAGE, min_age_seconds: float = ORPHAN_AGE_SECONDS
) -> dict[str, int]:
    """Delete every study's checkpoints no trial can resume (its scheduler says which donors it still wants;
    the best trials' are kept), and the objects no checkpoint names that are older than ``min_age_seconds`` —
    in the database itself and, for a SQLite database with its own artifacts folder beside it (the default,
    which no other database can name files in), in that folder; the bytes freed per study, and under ``""``
    those of the unnamed objects."""
    store = storage if isinstance(storage, Store) else Store(storage)
    freed = {}
    for rec in store.list_studies():
        study = load_study(rec.name, storage=store)
        keep = set(study.scheduler.keep_checkpoints(study.history)) | best_checkpoints(study.history)
        freed[rec.name] = store.collect_checkpoints(rec.id, keep)
    database = sqlite_file(store.url)
    own = (
        database is not None
        and isinstance(store.artifacts, FolderArtifacts)
        and store.artifacts.root.resolve() == database.with_name(database.stem + "-artifacts").resolve()
    )
    freed[""] = store.collect_orphan_files(min_age_seconds)[1] if own else 0
    # Checkpoints kept in the database (PostgreSQL's default) belong to it alone: its orphans go too.
    freed[""] += store.collect_orphan_files(min_age_seconds, DatabaseArtifacts(store.engine))[1]
    return freed


__all__ = ["ORPHAN_AGE_SECONDS", "collect_checkpoints", "delete_study"]
