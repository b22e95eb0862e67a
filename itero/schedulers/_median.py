"""The median stopping rule (Golovin et al., 2017, as in Vizier and Optuna's MedianPruner).

After ``warmup_steps``, every ``interval`` steps, a trial stops if its best value so far is worse than the
median of the best values other finished trials had at the same step — once at least ``min_trials`` of them
reached that step. It never pauses, so it needs no checkpoints.

    >>> MedianStopping(warmup_steps=2, min_trials=5)
    MedianStopping(max_steps=None, warmup_steps=2, min_trials=5, interval=1)
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from itero._validation import check_int
from itero.schedulers._base import BaseScheduler, Decision
from itero.trial import FrozenTrial, History, TrialState


class MedianStopping(BaseScheduler):
    name = "median"
    supports_multi_objective: ClassVar[bool] = False

    def __init__(
        self, max_steps: int | None = None, warmup_steps: int = 1, min_trials: int = 5, interval: int = 1
    ) -> None:
        super().__init__(max_steps)
        check_int("median", "warmup_steps", warmup_steps, 0)
        check_int("median", "min_trials", min_trials, 1)
        check_int("median", "interval", interval, 1)
        self.warmup_steps = warmup_steps
        self.min_trials = min_trials
        self.interval = interval

    def decide(self, history: History, trial: FrozenTrial, step: int, *, can_pause: bool = True) -> Decision:
        if step < self.warmup_steps or step % self.interval:
            return Decision.CONTINUE
        metric = history.objective_names[0]
        sign = history.directions_signs[0]
        others = []
        for t in history.with_state(TrialState.COMPLETE, TrialState.PRUNED):
            if t.id != trial.id and step in t.reports:
                others.append(_best_until(t, step, metric, sign))
        if len(others) < self.min_trials:
            return Decision.CONTINUE
        mine = _best_until(trial, step, metric, sign)
        return Decision.STOP if mine > float(np.median(others)) else Decision.CONTINUE

    def __repr__(self) -> str:
        return (
            f"MedianStopping(max_steps={self.max_steps!r}, warmup_steps={self.warmup_steps}, "
            f"min_trials={self.min_trials}, interval={self.interval})"
        )


def _best_until(trial: FrozenTrial, step: int, metric: str, sign: float) -> float:
    """The best (smallest) loss the trial reported up to ``step``; inf if none is finite."""
    best = math.inf
    for s, metrics in trial.reports.items():
        v = metrics.get(metric)
        if s <= step and v is not None and math.isfinite(v):
            best = min(best, sign * v)
    return best
