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

from itero._validation import check_int
from itero.exceptions import ConfigError
from itero.trial import FrozenTrial, History, TrialState


class Decision(str, Enum):
    CONTINUE = "CONTINUE"
    PAUSE = "PAUSE"
    STOP = "STOP"


@dataclass(frozen=True)
class Suggestion:
    """What a free worker should do next.

    ``Suggestion.start()`` a new trial; ``.resume(trial_id)`` a paused trial from its own checkpoint;
    ``.clone(donor_id, params, replaces=trial_id)`` a new trial from the donor's checkpoint with ``params``
    (retiring the paused trial ``replaces``, which exactly one peer can do); ``.stop(trial_id, reason)`` end a
    paused trial that can no longer be promoted (PRUNED); ``.wait()`` nothing to run right
    now, ask again shortly; ``.done()`` the scheduler has nothing more to run in this study.
    """

    action: Literal["start", "resume", "clone", "stop", "wait", "done"]
    trial_id: int | None = None
    donor_id: int | None = None
    params: dict[str, Any] | None = None
    replaces: int | None = None
    reason: str | None = None

    @classmethod
    def start(cls) -> Suggestion:
        return cls("start")

    @classmethod
    def resume(cls, trial_id: int) -> Suggestion:
        return cls("resume", trial_id=trial_id)

    @classmethod
    def clone(cls, donor_id: int, params: dict[str, Any] | None = None, replaces: int | None = None) -> Suggestion:
        return cls("clone", donor_id=donor_id, params=params, replaces=replaces)

    @classmethod
    def stop(cls, trial_id: int, reason: str) -> Suggestion:
        return cls("stop", trial_id=trial_id, reason=reason)

    @classmethod
    def wait(cls) -> Suggestion:
        return cls("wait")

    @classmethod
    def done(cls, reason: str) -> Suggestion:
        return cls("done", reason=reason)


class BaseScheduler:
    """Base class: every trial starts fresh and runs to the end (which is what FIFO does)."""

    name: ClassVar[str] = "base"
    supports_multi_objective: ClassVar[bool] = True

    def __init__(self, max_steps: int | None = None) -> None:
        check_int(self.name, "max_steps", max_steps, 1, allow_none=True)
        self.max_steps = max_steps

    def check_objectives(self, directions: dict[str, str]) -> None:
        if len(directions) > 1 and not self.supports_multi_objective:
            raise ConfigError(f"scheduler {self.name!r} handles one objective, the study has {len(directions)}")

    def next(self, history: History) -> Suggestion:
        """What a free worker runs next."""
        return Suggestion.start()

    def finish(self, history: History) -> Suggestion:
        """What a free worker runs when ``next`` says start but no new trial may start (the trial budget is
        used up): a paused trial worth finishing, or ``done`` (the default)."""
        return Suggestion.done("no new trial may start and nothing paused is worth finishing")

    def decide(self, history: History, trial: FrozenTrial, step: int, *, can_pause: bool = True) -> Decision:
        """After ``trial`` reported ``step``: go on, pause, or stop. ``can_pause`` is False when the objective
        gave no state to resume from: the scheduler then decides stop-or-continue in place."""
        return Decision.CONTINUE

    def keep_checkpoints(self, history: History) -> set[int]:
        """Checkpoints that may still be resumed or cloned; the others are garbage-collected.

        By default: the latest checkpoint of every trial that is not finished (running, paused, waiting)."""
        return {
            t.checkpoint_id
            for t in history.with_state(TrialState.RUNNING, TrialState.PAUSED, TrialState.WAITING)
            if t.checkpoint_id is not None
        }

    def sampler_view(self, history: History) -> History:
        """The history the sampler learns from (a model-based multi-fidelity scheduler substitutes rung
        values for final ones)."""
        return history

    def wants_checkpoint(self, history: History, trial: FrozenTrial, step: int) -> bool:
        """Whether the state reported at ``step`` must be serialised (a decision point)."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_steps={self.max_steps!r})"
