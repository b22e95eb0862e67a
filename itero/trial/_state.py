"""The life of a trial."""

from __future__ import annotations

from enum import Enum


class TrialState(str, Enum):
    """WAITING (queued or to be retried) → RUNNING → PAUSED (to be resumed) or COMPLETE / PRUNED / FAILED."""

    WAITING = "WAITING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAILED = "FAILED"

    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)

    def __str__(self) -> str:
        return self.value
