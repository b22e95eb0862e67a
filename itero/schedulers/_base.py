"""The scheduler interface: which trial runs next, how far, and from which checkpoint.

The vocabulary is Syne Tune's. After each report a scheduler answers ``decide(...)`` with a ``Decision``:
CONTINUE, PAUSE (stop now, keep the checkpoint, maybe resume later) or STOP (this trial is done). When a worker is
free it asks ``next(...)`` for a ``Suggestion``: start a new trial, resume a paused one from its own checkpoint, or
clone a donor's checkpoint into a new trial with other hyper-parameters.

Decisions must be functions of the history (what is in the store) and the scheduler's settings, so that every
peer worker, including one that joins late or restarts, decides the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Literal

from itero.exceptions import ConfigError
from itero.trial import FrozenTrial, History


class Decision(str, Enum):
    CONTINUE = "CONTINUE"
    PAUSE = "PAUSE"
    STOP = "STOP"


@dataclass(frozen=True)
class Suggestion:
    """What a free worker should run: ``Suggestion.start()``, ``.resume(trial_id)`` or ``.clone(donor_id)``."""

    action: Literal["start", "resume", "clone"]
    trial_id: int | None = None
    donor_id: int | None = None
    params: dict[str, Any] | None = None

    @classmethod
    def start(cls) -> Suggestion:
        return cls("start")

    @classmethod
    def resume(cls, trial_id: int) -> Suggestion:
        return cls("resume", trial_id=trial_id)

    @classmethod
    def clone(cls, donor_id: int, params: dict[str, Any] | None = None) -> Suggestion:
        return cls("clone", donor_id=donor_id, params=params)


class BaseScheduler:
    """Base class: every trial starts fresh and runs to the end (which is what FIFO does)."""

    name: ClassVar[str] = "base"
    supports_multi_objective: ClassVar[bool] = True

    def __init__(self, max_steps: int | None = None) -> None:
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
            raise ConfigError(f"scheduler option 'max_steps' must be an integer >= 1 or null, got {max_steps!r}")
        self.max_steps = max_steps

    def check_objectives(self, directions: dict[str, str]) -> None:
        if len(directions) > 1 and not self.supports_multi_objective:
            raise ConfigError(f"scheduler {self.name!r} handles one objective, the study has {len(directions)}")

    def next(self, history: History) -> Suggestion:
        """What a free worker runs next."""
        return Suggestion.start()

    def decide(self, history: History, trial: FrozenTrial, step: int) -> Decision:
        """After ``trial`` reported ``step``: go on, pause, or stop."""
        return Decision.CONTINUE

    def wants_checkpoint(self, history: History, trial: FrozenTrial, step: int) -> bool:
        """Whether the state reported at ``step`` must be serialised (a decision point)."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_steps={self.max_steps!r})"
