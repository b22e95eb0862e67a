"""A read-only snapshot of one trial, as stored."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from itero.space import Distribution
from itero.trial._state import TrialState

CONSTRAINTS_KEY = "constraints"  # where trial.set_constraints stores its values in system_attrs
PROPOSAL_KEY = "proposal"  # the sampler's joint proposal for a trial, stored at its first suggest: a retry reuses it
TRACEBACK_KEY = "traceback"  # where a failed trial keeps the traceback of its objective's exception
ENQUEUED_KEY = "enqueued"  # the parameters a person enqueued the trial with (study.enqueue)
NOTE_KEY = "note"  # a person's note on the trial (study.set_trial_note)
TAGS_KEY = "tags"  # a person's tags on the trial (study.add_trial_tag)


@dataclass
class TrialCost:
    """What running a trial cost, summed over all its runs (a resumed trial has several)."""

    steps: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    runs: int = 0
    energy_j: float = 0.0
    co2_g: float = 0.0

    @property
    def energy_kwh(self) -> float:
        return self.energy_j / 3.6e6


@dataclass
class FrozenTrial:
    """One trial as the store knows it.

    ``metrics`` holds the final metrics of a finished trial, or the latest reported ones of an unfinished trial;
    ``reports`` maps each reported step to its metrics. ``parent_id`` is the trial whose checkpoint this one
    started from (a PBT clone or a shared-weights start), ``None`` for a fresh start. ``datasets`` maps each
    dataset the trial tracked (``itero.track_dataset``) to its content digest. ``constraints`` are the values
    the objective gave ``trial.set_constraints`` (kept in ``system_attrs``): feasible when all are <= 0.
    ``note``, ``tags`` and ``enqueued`` are what people gave it by hand (``study.set_trial_note``,
    ``study.add_trial_tag``, ``study.enqueue``); ``requested`` is a hand action asked of it and not carried out
    yet: ``"stop"`` or ``"pause"`` (RUNNING), ``"resume"`` (PAUSED).
    """

    id: int
    number: int
    state: TrialState
    params: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, Distribution] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    reports: dict[int, dict[str, float]] = field(default_factory=dict)
    step: int = 0
    parent_id: int | None = None
    checkpoint_id: int | None = None
    error: str | None = None
    cost: TrialCost = field(default_factory=TrialCost)
    datetime_start: dt.datetime | None = None
    datetime_complete: dt.datetime | None = None
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    datasets: dict[str, str] = field(default_factory=dict)
    requested: str | None = None

    @property
    def duration(self) -> dt.timedelta | None:
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return self.datetime_complete - self.datetime_start

    @property
    def traceback(self) -> str | None:
        """The traceback of the exception that failed this trial (kept in ``system_attrs``); else None."""
        text = self.system_attrs.get(TRACEBACK_KEY)
        return str(text) if text else None

    @property
    def note(self) -> str:
        """A person's note on the trial (``study.set_trial_note``); "" when there is none."""
        return str(self.system_attrs.get(NOTE_KEY) or "")

    @property
    def tags(self) -> list[str]:
        """A person's tags on the trial (``study.add_trial_tag``), in the order they were added."""
        return [str(t) for t in self.system_attrs.get(TAGS_KEY, ())]

    @property
    def enqueued(self) -> dict[str, Any] | None:
        """The parameters the trial was enqueued with (``study.enqueue``); None when the sampler proposed it."""
        found = self.system_attrs.get(ENQUEUED_KEY)
        return None if found is None else dict(found)

    @property
    def constraints(self) -> list[float]:
        """The trial's constraint values (``trial.set_constraints``); empty when it set none."""
        return [float(c) for c in self.system_attrs.get(CONSTRAINTS_KEY, ())]

    @property
    def violation(self) -> float:
        """Total constraint violation: the sum of the positive constraint values (0 when feasible)."""
        return float(sum(c if c > 0 else (0.0 if c <= 0 else math.inf) for c in self.constraints))  # NaN: inf

    @property
    def is_feasible(self) -> bool:
        """True when every constraint value is <= 0 (and when the trial has none)."""
        return all(c <= 0 for c in self.constraints)

    def value(self, metric: str) -> float | None:
        """The trial's value of ``metric``: final if finished, else the latest reported."""
        return self.metrics.get(metric)
