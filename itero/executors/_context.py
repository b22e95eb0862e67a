"""What a worker knows while it runs trials: the study's parts and the current optimize run's budget."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from itero.samplers import BaseSampler
from itero.schedulers import BaseScheduler
from itero.space import Distribution
from itero.store import Store
from itero.store._cache import StudyCache
from itero.tracking import EnergyMeter


@dataclass
class Budget:
    """The limits of one ``optimize`` call (``None`` = no limit). Trials are limited by the store's run row."""

    run_id: int | None = None
    max_steps: int | None = None
    deadline: float | None = None
    max_energy_j: float | None = None
    energy_at_start: float = 0.0


@dataclass
class RunContext:
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
    meter: EnergyMeter = field(default_factory=lambda: EnergyMeter.detect(False))
    grams_per_kwh: float = 0.0
    recorded_datasets: set[tuple[str, str]] = field(default_factory=set)

    def energy_spent(self, unflushed_j: float = 0.0) -> bool:
        """True once the run's energy budget is spent: what the study's trials have written since the run
        started (as of the last refresh) plus ``unflushed_j`` not yet written by the running trial."""
        b = self.budget
        if b.max_energy_j is None:
            return False
        return self.cache.energy_j - b.energy_at_start + unflushed_j >= b.max_energy_j

    def budget_exhausted(self) -> bool:
        """True once the run's deadline has passed or its step budget is spent (by any peer)."""
        b = self.budget
        if b.deadline is not None and time.time() >= b.deadline:
            return True
        if self.energy_spent():
            return True
        if b.max_steps is None or b.run_id is None:
            return False
        return self.store.steps_left(b.run_id) == 0

    def take_step(self, unflushed_j: float = 0.0) -> bool:
        """Grant the running trial its next step; False when the deadline, the energy or the step budget says
        stop (``unflushed_j``: energy the running trial used since its last write)."""
        b = self.budget
        if b.deadline is not None and time.time() >= b.deadline:
            return False
        if self.energy_spent(unflushed_j):
            return False
        if b.max_steps is None or b.run_id is None:
            return True
        return self.store.take_step(b.run_id)
