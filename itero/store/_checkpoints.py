"""The checkpoint rows of the store: load them (verified by hash), measure them, collect those no trial can
resume. The bytes live in the artifact store, named by their hash. Part of ``Store``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from sqlalchemy import Engine, func, select

from itero.store._artifacts import ArtifactStore
from itero.store._records import CheckpointRecord
from itero.store._schema import checkpoints, trials


class CheckpointRows:
    """The checkpoint half of ``Store``."""

    engine: Engine
    artifacts: ArtifactStore  # the store's default location
    artifacts_for: Callable[[int], ArtifactStore]  # where a study's checkpoints live
    _read: Engine

    # ------------------------------------------------------------------ checkpoints
    def load_checkpoint(self, checkpoint_id: int) -> tuple[int, int, bytes]:
        """``(trial_id, step, bytes)`` of a checkpoint, verified against its hash; ``LookupError`` if it was
        garbage-collected."""
        with self._read.connect() as conn:
            row = conn.execute(select(checkpoints).where(checkpoints.c.id == checkpoint_id)).first()
        if row is None:
            raise LookupError(f"checkpoint {checkpoint_id} no longer exists")
        return row.trial_id, row.step, self.artifacts_for(row.study_id).get(row.digest)

    def checkpoint_step(self, checkpoint_id: int) -> int:
        """The step a checkpoint was taken at; ``LookupError`` if it was garbage-collected."""
        with self._read.connect() as conn:
            step = conn.execute(select(checkpoints.c.step).where(checkpoints.c.id == checkpoint_id)).scalar()
        if step is None:
            raise LookupError(f"checkpoint {checkpoint_id} no longer exists")
        return int(step)

    def checkpoint_digests(self, study_id: int) -> list[str]:
        with self._read.connect() as conn:
            return list(conn.execute(select(checkpoints.c.digest).where(checkpoints.c.study_id == study_id)).scalars())

    def trial_checkpoints(self, trial_id: int) -> list[CheckpointRecord]:
        """The checkpoints a trial has kept (those garbage collection has not freed), oldest step first."""
        c = checkpoints.c
        query = select(c.id, c.trial_id, c.step, c.digest, c.size, c.created_at).where(c.trial_id == trial_id)
        with self._read.connect() as conn:
            return [CheckpointRecord(*row) for row in conn.execute(query.order_by(c.step, c.id))]

    def checkpoint_bytes(self, study_id: int) -> int:
        with self._read.connect() as conn:
            return int(
                conn.execute(
                    select(func.coalesce(func.sum(checkpoints.c.size), 0)).where(checkpoints.c.study_id == study_id)
                ).scalar_one()
            )

    def collect_orphan_files(
        self, min_age_seconds: float = 3600.0, artifacts: ArtifactStore | None = None
    ) -> tuple[int, int]:
        """Delete the objects of ``artifacts`` (default: the store's default location) that no checkpoint row
        names (left by a crash, or by a database replaced or deleted), older than ``min_age_seconds`` (a worker
        writes an object just before the row that names it); ``(objects, bytes)`` freed. Only for a location
        this database alone uses."""
        arts = self.artifacts if artifacts is None else artifacts
        cutoff = time.time() - min_age_seconds
        entries = [e for e in arts.entries() if e.mtime < cutoff]
        if not entries:
            return 0, 0
        with self._read.connect() as conn:
            named = set(conn.execute(select(checkpoints.c.digest).distinct()).scalars())
        count = size = 0
        for entry in entries:
            if entry.name not in named:
                size += entry.size
                arts.remove(entry.name)
                count += 1
        return count, size

    def collect_checkpoints(self, study_id: int, keep: Iterable[int] = ()) -> int:
        """Delete the study's checkpoints that can no longer be resumed or cloned; return the bytes freed.

        Kept: the latest checkpoint of every trial that is not finished (read in the same transaction, so it is
        never stale: a checkpoint row and the trial that names it are written together), the ids in ``keep``
        (extra donors a scheduler wants). A clone is created only if its donor's checkpoint still exists
        (``create_trial``), and a file is removed only when no checkpoint row of any study still names its
        digest.
        """
        keep_ids = {int(k) for k in keep}
        live = select(trials.c.checkpoint_id).where(
            trials.c.study_id == study_id,
            trials.c.state.in_(["RUNNING", "PAUSED", "WAITING"]),
            trials.c.checkpoint_id.is_not(None),
        )
        candidates = select(checkpoints.c.id, checkpoints.c.digest, checkpoints.c.size).where(
            checkpoints.c.study_id == study_id,
            checkpoints.c.id.not_in(live),
        )
        with self._read.connect() as conn:  # most calls find nothing: look without taking the write lock
            if all(r.id in keep_ids for r in conn.execute(candidates)):
                return 0
        with self.engine.begin() as conn:
            doomed = [r for r in conn.execute(candidates).all() if r.id not in keep_ids]
            if not doomed:
                return 0
            conn.execute(checkpoints.delete().where(checkpoints.c.id.in_([r.id for r in doomed])))
            digests = {r.digest for r in doomed}
            still = set(conn.execute(select(checkpoints.c.digest).where(checkpoints.c.digest.in_(digests))).scalars())
        artifacts = self.artifacts_for(study_id)
        for digest in digests - still:
            artifacts.delete(digest)
        return sum(r.size for r in doomed)
