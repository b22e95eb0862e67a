"""Rungs: the steps at which halving schedulers compare trials, and the values trials had there.

A trial *reaches* rung step ``r`` at its first report at a step ``>= r``; the metrics of that report are its
value at the rung. Objectives that report every step therefore have exact rung values; sparser ones are
compared at their next report. Values are loss vectors (maximised metrics negated); a missing or non-finite
objective metric counts as the worst value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from itero.trial import FrozenTrial, History

_MAX_RUNGS = 64


def rung_steps(min_steps: int, eta: int, max_steps: int | None) -> list[int]:
    """``min_steps * eta**k`` below ``max_steps`` (the last step is where trials complete, not a rung)."""
    out: list[int] = []
    r = min_steps
    while (max_steps is None or r < max_steps) and len(out) < _MAX_RUNGS:
        out.append(r)
        r *= eta
    return out


def report_at(trial: FrozenTrial, step: int) -> Mapping[str, float] | None:
    """The metrics of the trial's first report at a step ``>= step`` (None if it never got there)."""
    reports = trial.reports
    exact = reports.get(step)
    if exact is not None:
        return exact
    later = [s for s in reports if s >= step]
    return reports[min(later)] if later else None


def crossed_at(trial: FrozenTrial, step: int, rungs: list[int]) -> int | None:
    """Index of the rung the report at ``step`` reaches (its first report at or after the rung), else None."""
    earlier = [s for s in trial.reports if s < step]
    last = max(earlier) if earlier else -1
    hit = None
    for k, r in enumerate(rungs):
        if last < r <= step:
            hit = k  # with sparse reports several rungs may be crossed at once: the highest counts
    return hit


def highest_rung(trial: FrozenTrial, rungs: list[int]) -> int | None:
    """Index of the highest rung the trial has reached."""
    hit = None
    for k, r in enumerate(rungs):
        if trial.step >= r:
            hit = k
    return hit


def loss_vector(history: History, metrics: Mapping[str, float] | None) -> list[float]:
    out = []
    for sign, name in zip(history.directions_signs, history.objective_names, strict=True):
        v = None if metrics is None else metrics.get(name)
        out.append(sign * float(v) if v is not None and math.isfinite(v) else math.inf)
    return out


def rung_table(history: History, members: Iterable[FrozenTrial], step: int) -> tuple[list[FrozenTrial], np.ndarray]:
    """The ``members`` that reached rung ``step``, and their loss vectors there (one row each)."""
    reached: list[FrozenTrial] = []
    rows: list[list[float]] = []
    for t in members:
        metrics = report_at(t, step)
        if metrics is None:
            continue
        reached.append(t)
        rows.append(loss_vector(history, metrics))
    points = np.asarray(rows, dtype=float).reshape(len(rows), len(history.objective_names))
    return reached, points
