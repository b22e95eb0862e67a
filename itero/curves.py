"""Where a partial learning curve is going: a trial's value at the last step, predicted with an interval.

The model learns from the study's own curves. For a step ``s``, every trial that reported both ``s`` and the
final step gives a pair (value at ``s``, final value), as losses (maximised metrics negated). A least-squares
line through those pairs predicts a trial's final value from its value at ``s``. The interval comes from the
line's leave-one-out errors (each pair's final value minus the line's prediction when fitted without it; the
jackknife form of conformal prediction): the central ``level`` interval runs between their quantiles at
(1 - level) / 2 and (1 + level) / 2, and P(final < x) is the share of errors that would carry the prediction
below ``x``, with one added to the count and to the total, so that a handful of curves never gives certainty
(below 5% takes 19 curves). Errors are kept signed: runs that blow up widen the upper side only. Learning
curves have heavier tails than a normal law: on the recorded tables, Student-t intervals around the same line
held 71-92% of final values at the 90% level; these hold 84-94% (``benchmarks/results/curves.md``). Where
early values say little about final ones — learning curves that cross — the errors are large and so is every
interval: nothing is stopped on weak evidence.

    >>> early = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    >>> final = [0.5, 1.1, 1.4, 2.1, 2.4, 3.1, 3.4, 4.2, 4.4, 5.1]
    >>> p = fit(early, final).predict(2.5)
    >>> round(p.mean, 2), [round(x, 2) for x in p.interval(0.5)]
    (1.26, [1.12, 1.36])
    >>> round(p.prob_below(1.0), 3), round(p.prob_below(0.0), 3)  # no error that large: 1 / (n + 1)
    (0.091, 0.091)

``fit`` needs ``MIN_PAIRS`` finite pairs and some spread in the early values, else it returns None. Pairs far
outside the others (beyond ``OUTLIER`` median absolute deviations, such as a run that blew up to 1e6) are left
out of the line but not of the errors, and a trial worse than every fitted one is predicted as the worst of
them (no extrapolation towards a verdict). ``log_scale(values)`` gives the monotone transform under which losses are fitted: the log of
positive losses (perplexity, RMSE, cross-entropy), of minus negative ones (negated accuracy), else none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from itero.trial import FrozenTrial, TrialState

MIN_PAIRS = 5
OUTLIER = 10.0


@dataclass(frozen=True)
class Prediction:
    """A predictive distribution of a final value: ``mean`` plus one of the fit's leave-one-out errors
    ``errors`` (signed, sorted)."""

    mean: float
    errors: tuple[float, ...]

    def prob_below(self, x: float) -> float:
        """P(final value < x): the share of errors that would carry the prediction below ``x``, with one added
        to the count and to the total (a conformal p-value: never 0, and at least 1 / (n + 1))."""
        below = int(np.searchsorted(self.errors, x - self.mean, side="left"))
        return min(1.0, (below + 1) / (len(self.errors) + 1))

    def expected_improvement(self, x: float) -> float:
        """E[max(0, x - final value)]: how far below ``x`` the final value is expected to end, over the errors."""
        return float(expected_improvements(np.array([x - self.mean]), np.asarray(self.errors))[0])

    def interval(self, level: float) -> tuple[float, float]:
        """The central interval holding the final value with probability ``level`` (error quantiles at
        (1 -+ level) / 2, widened by (n + 1) / n for the finite sample)."""
        e, half = np.asarray(self.errors), level / 2.0 * (1.0 + 1.0 / len(self.errors))
        return self.mean + float(np.quantile(e, max(0.0, 0.5 - half))), self.mean + float(
            np.quantile(e, min(1.0, 0.5 + half))
        )


@dataclass(frozen=True)
class Fit:
    """A fitted line from early to final values, with what its prediction intervals need."""

    intercept: float
    slope: float
    errors: tuple[float, ...]  # leave-one-out errors (final minus predicted), sorted
    n: int
    x_max: float

    def predict(self, early: float) -> Prediction:
        """The final value of a trial whose value at the fitted step is ``early``."""
        return Prediction(self.intercept + self.slope * min(early, self.x_max), self.errors)


def fit(early: Sequence[float] | np.ndarray, final: Sequence[float] | np.ndarray) -> Fit | None:
    """The least-squares line through the finite pairs; None with fewer than ``MIN_PAIRS`` of them or no spread
    in the early values."""
    x, y = np.asarray(early, dtype=float), np.asarray(final, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    keep = _inliers(x) & _inliers(y)
    x_out, y_out = x[~keep], y[~keep]
    x, y = x[keep], y[keep]
    n = len(x)
    if n < MIN_PAIRS:
        return None
    x_mean, y_mean = float(x.mean()), float(y.mean())
    x_ss = float(((x - x_mean) ** 2).sum())
    if x_ss <= 1e-12 * max(1.0, x_mean**2) * n:
        return None
    slope = float(((x - x_mean) * (y - y_mean)).sum()) / x_ss
    intercept = y_mean - slope * x_mean
    leverage = 1.0 / n + (x - x_mean) ** 2 / x_ss
    loo = (y - (intercept + slope * x)) / np.maximum(1.0 - leverage, 1e-9)
    x_max = float(x.max())
    outside = y_out - (intercept + slope * np.minimum(x_out, x_max))  # left out of the line, not of the errors
    errors = np.sort(np.concatenate([loo, outside]))
    return Fit(intercept, slope, tuple(errors.tolist()), n, x_max)


def expected_improvements(gaps: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """For each ``gap`` (incumbent minus predicted mean), the mean of max(0, gap - e) over the sorted ``errors``
    (O(log n) each, by prefix sums)."""
    prefix = np.concatenate([[0.0], np.cumsum(errors)])
    below = np.searchsorted(errors, gaps, side="left")
    return (below * gaps - prefix[below]) / max(len(errors), 1)


def _inliers(v: np.ndarray) -> np.ndarray:
    """Values within ``OUTLIER`` median absolute deviations of the median (all of them when the MAD is 0)."""
    if len(v) == 0:
        return np.ones(0, dtype=bool)
    med = float(np.median(v))
    mad = float(np.median(np.abs(v - med)))
    if mad == 0.0:
        return np.ones(len(v), dtype=bool)
    return np.abs(v - med) <= OUTLIER * mad


def log_scale(values: Sequence[float] | np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The transform for losses like ``values``: log for positive ones, -log(-v) for negative ones (both
    order-preserving), the identity for mixed signs."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) and (v > 0).all():
        return np.log
    if len(v) and (v < 0).all():
        return lambda a: -np.log(-a)
    return lambda a: a


def _scales(values: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """``log_scale``'s transform for ``values`` and its inverse."""
    v = values[np.isfinite(values)]
    if len(v) and (v > 0).all():
        return np.log, np.exp
    if len(v) and (v < 0).all():
        return (lambda a: -np.log(-a)), (lambda a: -np.exp(-a))
    return (lambda a: a), (lambda a: a)


def predicted_finals(
    trials: Sequence[FrozenTrial], metric: str, maximize: bool, level: float = 0.8
) -> tuple[int, dict[int, tuple[float, float, float]]] | None:
    """``(final step, {trial id: (mean, low, high)})``: where each trial that ended or paused before the final step
    (the furthest step a COMPLETE trial reported ``metric`` at) would have ended, predicted from its last value by
    the line fitted on the COMPLETE trials' (value there, final value) pairs, on ``log_scale``, with the central
    ``level`` interval. None when no trial completed; trials whose step has too few pairs are left out.
    """
    sign = -1.0 if maximize else 1.0
    done = [t for t in trials if t.state == TrialState.COMPLETE and any(metric in r for r in t.reports.values())]
    if not done:
        return None
    final_step = max(s for t in done for s, r in t.reports.items() if metric in r)
    finals = {
        t.id: sign * float(t.reports[final_step][metric]) for t in done if metric in t.reports.get(final_step, {})
    }
    forward, inverse = _scales(np.array(list(finals.values()), dtype=float))
    by_step: dict[int, list[FrozenTrial]] = {}
    for t in trials:
        if t.id in finals or t.state == TrialState.FAILED:
            continue
        steps = [s for s, r in t.reports.items() if metric in r and s < final_step]
        if steps:
            by_step.setdefault(max(steps), []).append(t)
    out: dict[int, tuple[float, float, float]] = {}
    for step, group in by_step.items():
        pairs = np.array(
            [
                (sign * float(d.reports[step][metric]), finals[d.id])
                for d in done
                if d.id in finals and metric in d.reports.get(step, {})
            ],
            dtype=float,
        ).reshape(-1, 2)
        with np.errstate(all="ignore"):
            model = fit(forward(pairs[:, 0]), forward(pairs[:, 1]))
            if model is None:
                continue
            lo_off, hi_off = Prediction(0.0, model.errors).interval(level)  # the same offsets for every trial
            early = forward(np.array([sign * float(t.reports[step][metric]) for t in group]))
            mean = model.intercept + model.slope * np.minimum(early, model.x_max)
            values = sign * inverse(np.stack([mean, mean + lo_off, mean + hi_off]))
        for t, (m, a, b) in zip(group, values.T, strict=True):
            if math.isfinite(m) and math.isfinite(a) and math.isfinite(b):
                out[t.id] = (float(m), float(min(a, b)), float(max(a, b)))
    return final_step, out


__all__ = [
    "MIN_PAIRS",
    "OUTLIER",
    "Fit",
    "Prediction",
    "expected_improvements",
    "fit",
    "log_scale",
    "predicted_finals",
]
