"""What a worker knows while it runs trials: the study's parts, the clock, and the current optimize run's budget."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from itero._clock import SYSTEM_CLOCK, Clock
from itero.executors._cost import Meter
from itero.samplers import BaseSampler
from itero.schedulers import BaseScheduler
from itero.space import Distribution
from itero.store import Store
from itero.store._cache import StudyCache
from itero.tracking import EnergyMeter

FLUSH_SECONDS = float(os.environ.get("ITERO_FLUSH_SECONDS", "1.0"))


@dataclass
class Budget:
    """The limits of one ``optimize`` call (``None`` = no limit). Trials and steps are counted by the store's run
    row, so that every peer of the run shares them. The study's own budget (``Study.set_budget``) is read from
    the store as the run goes (``StudyCache.budget``)."""

    run_id: int | None = None
    max_steps: int | None = None
    deadline: float | None = None
    max_energy_j: float | None = None
    energy_at_start: float = 0.0
    n_trials: int | None = None
    # The study's time budget as a deadline, worked out from the study's wall clock for ``study_seconds``.
    study_deadline: float | None = None
    study_seconds: float | None = None
    budget_read_at: float = float("-inf")  # when a running trial last re-read the study's budget (monotonic)


@dataclass
class RunContext:
    """A worker's parts. ``clock`` gives timestamps, deadlines and durations (a ``FakeClock`` to simulate);
    ``flush_seconds`` is the longest a report waits before it is written (0: every report at once)."""

    store: Store
    study_id: int
    study_name: str
    directions: dict[str, str]
    sampler: BaseSampler
    scheduler: BaseScheduler
    cache: StudyCache
    fixed: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Distribution] = field(default_factory=dict)
    share_weights: tuple[str, ...] = ()
    budget: Budget = field(default_factory=Budget)
    worker_id: int | None = None
    tracking: bool = True
    meter: Meter = field(default_factory=lambda: EnergyMeter.detect(False))
    grams_per_kwh: float = 0.0
    recorded_datasets: set[tuple[str, str]] = field(default_factory=set)
    clock: Clock = SYSTEM_CLOCK
    flush_seconds: float = FLUSH_SECONDS
    # Set when the run was ended by whoever started it (Ctrl-C in the parent of Ray or Dask peers): the worker
    # gives its running trial back at its next step, as on Ctrl-C, and starts no other.
    stopped: threading.Event = field(default_factory=threading.Event)
