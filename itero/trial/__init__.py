"""Trial records: the stored snapshot of one trial, its states, and a study's history of them (the live trial an
objective receives is `itero.Trial`, in `itero.executors`)."""

from itero.trial._best import best_checkpoints, would_be_best
from itero.trial._frozen import (
    CONSTRAINTS_KEY,
    ENQUEUED_KEY,
    NOTE_KEY,
    PROPOSAL_KEY,
    TAGS_KEY,
    TRACEBACK_KEY,
    FrozenTrial,
    TrialCost,
)
from itero.trial._history import History
from itero.trial._state import TrialState

__all__ = [
    "CONSTRAINTS_KEY",
    "ENQUEUED_KEY",
    "NOTE_KEY",
    "PROPOSAL_KEY",
    "TAGS_KEY",
    "TRACEBACK_KEY",
    "FrozenTrial",
    "History",
    "TrialCost",
    "TrialState",
    "best_checkpoints",
    "would_be_best",
]
