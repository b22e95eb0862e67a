"""BOHB-style model-based Hyperband (Falkner et al., 2018): Hyperband's brackets decide how far trials run; the
study's sampler (TPE by default) learns from the *highest rung with enough observations* instead of from final
values only.

The sampler sees a view of the study in which every trial that reached that rung is COMPLETE with its value
there, trials that stopped below it are PRUNED (TPE ranks them below every complete one), and running trials
stay RUNNING (for the constant liar). The view is updated incrementally as the study changes.

    >>> BOHB(max_steps=27, eta=3, min_points=6).rungs(0)
    [1, 3, 9]
"""

from __future__ import annotations

import dataclasses

from itero._validation import check_int
from itero.schedulers._halving import Hyperband
from itero.schedulers._rungs import report_at
from itero.trial import FrozenTrial, History, TrialState

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.PAUSED)


class BOHB(Hyperband):
    """``min_points``: observations a rung needs before the sampler's model is fitted on it (default 6)."""

    name = "bohb"

    def __init__(
        self, max_steps: int = 27, min_steps: int = 1, eta: int = 3, min_points: int = 6, rank_check: bool = True
    ) -> None:
        super().__init__(max_steps, min_steps, eta, rank_check)
        check_int("bohb", "min_points", min_points, 1)
        self.min_points = min_points
        self._view: _View | None = None

    def model_step(self, history: History) -> int | None:
        """The highest rung step (or ``max_steps``) that at least ``min_points`` trials reached."""
        steps = sorted({r for b in self.brackets() for r in self.rungs(b)} | {self.max_steps or 0}, reverse=True)
        for r in steps:
            if r > 0 and sum(1 for t in history.trials if report_at(t, r) is not None) >= self.min_points:
                return r
        return None

    def sampler_view(self, history: History) -> History:
        view = self._view
        if view is None or view.base is not history:
            view = self._view = _View(history)
        return view.update(self.model_step(history) if view.version != history.version else view.step)

    def __repr__(self) -> str:
        return f"BOHB(max_steps={self.max_steps!r}, min_steps={self.min_steps}, eta={self.eta})"


class _View:
    """A history of the same trials with final values replaced by their values at one rung step."""

    def __init__(self, base: History) -> None:
        self.base = base
        self.history = History(base.directions, base.study_name)
        self.version = -1
        self.step: int | None = None
        self._seen: dict[int, FrozenTrial] = {}

    def update(self, step: int | None) -> History:
        base = self.base
        if base.version == self.version and step == self.step:
            return self.history
        rebuild = step != self.step
        changed = [t for t in base.trials if rebuild or self._seen.get(t.id) is not t]
        self.history.upsert(_at(t, step) for t in changed)
        self._seen.update((t.id, t) for t in changed)
        self.version, self.step = base.version, step
        return self.history


def _at(trial: FrozenTrial, step: int | None) -> FrozenTrial:
    if step is None or trial.state not in _FINISHED:
        return trial
    metrics = report_at(trial, step)
    if metrics is not None:
        return dataclasses.replace(trial, state=TrialState.COMPLETE, metrics=dict(metrics))
    return dataclasses.replace(trial, state=TrialState.PRUNED)
