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


@dataclass
class Budget:
    """The limits of one ``optimize`` call (``None`` = no limit). Trials are limited by the store's run row."""

    run_id: int | None = None
    max_steps: int | None = None
    steps_at_start: int = 0
    deadline: float | None = None


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
    budget: Budget = field(default_factory=Budget)
    worker_id: int | None = None

    def budget_exhausted(self, trial_id: int | None = None, trial_steps: int = 0) -> bool:
        """True once the run's step budget or deadline is reached.

        A running trial passes its id and the steps it has done in all its runs so far, which replace the
        (possibly older) figure the cache holds for it.
        """
        b = self.budget
        if b.deadline is not None and time.time() >= b.deadline:
            return True
        if b.max_steps is None:
            return False
        if time.monotonic() - self.cache.refreshed_at > 0.5:
            self.cache.refresh()  # other workers' steps, read at most twice a second
        spent = self.cache.steps_spent
        if trial_id is not None:
            cached = self.cache.history.get(trial_id)
            spent += trial_steps - (cached.cost.steps if cached is not None else 0)
        return spent - b.steps_at_start >= b.max_steps
