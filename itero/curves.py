"""Where a partial learning curve is going: a trial's value at the last step, predicted with an interval.

The model learns from the study's own curves. For a step ``s``, every trial that reported both ``s`` and the
final step gives a pair (value at ``s``, final value), as losses (maximised metrics negated). A least-squares
line through those pairs predicts a trial's final value from its value at ``s``; the interval is Student's t
with the residual spread, widened for a value far from the others (the textbook prediction interval of simple
linear regression). Where early values say little about final ones — learning curves that cross — the residual
spread is wide and so is every interval: nothing is stopped on weak evidence.

    >>> early = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    >>> final = [0.5, 1.1, 1.4, 2.1, 2.4, 3.1]
    >>> p = fit(early, final).predict(2.5)
    >>> round(p.mean, 2), [round(x, 2) for x in p.interval(0.9)]
    (1.26, [1.0, 1.52])
    >>> round(p.prob_below(1.0), 3)
    0.048

``fit`` needs ``MIN_PAIRS`` finite pairs and some spread in the early values, else it returns None. Pairs far
outside the others (beyond ``OUTLIER`` median absolute deviations, such as a run that blew up to 1e6) are left
out of the fit, and a trial worse than every fitted one is predicted as the worst of them (no extrapolation
towards a verdict). ``log_scale(values)`` gives the monotone transform under which losses are fitted: the log of
positive losses (perplexity, RMSE, cross-entropy), of minus negative ones (negated accuracy), else none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

MIN_PAIRS = 5
OUTLIER = 10.0


@dataclass(frozen=True)
class Prediction:
    """A predictive distribution of a final value: Student's t with ``dof`` degrees of freedom."""

    mean: float
    scale: float
    dof: int

    def prob_below(self, x: float) -> float:
        """P(final value < x)."""
        from scipy.special import stdtr

        if self.scale <= 0.0:
            return 1.0 if self.mean < x else 0.0
        return float(stdtr(self.dof, (x - self.mean) / self.scale))

    def interval(self, level: float) -> tuple[float, float]:
        """The central interval holding the final value with probability ``level``."""
        from scipy.special import stdtrit

        half = float(stdtrit(self.dof, 0.5 + level / 2.0)) * self.scale
        return self.mean - half, self.mean + half


@dataclass(frozen=True)
class Fit:
    """A fitted line from early to final values, with what its prediction intervals need."""

    intercept: float
    slope: float
    residual_sd: float
    n: int
    x_mean: float
    x_ss: float
    x_max: float

    def predict(self, early: float) -> Prediction:
        """The final value of a trial whose value at the fitted step is ``early``."""
        early = min(early, self.x_max)
        spread = self.residual_sd * math.sqrt(1.0 + 1.0 / self.n + (early - self.x_mean) ** 2 / self.x_ss)
        return Prediction(self.intercept + self.slope * early, spread, self.n - 2)


def fit(early: Sequence[float] | np.ndarray, final: Sequence[float] | np.ndarray) -> Fit | None:
    """The least-squares line through the finite pairs; None with fewer than ``MIN_PAIRS`` of them or no spread
    in the early values."""
    x, y = np.asarray(early, dtype=float), np.asarray(final, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    keep = _inliers(x) & _inliers(y)
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
    residual = y - (intercept + slope * x)
    sd = math.sqrt(float((residual**2).sum()) / (n - 2))
    return Fit(intercept, slope, sd, n, x_mean, x_ss, float(x.max()))


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


__all__ = ["MIN_PAIRS", "OUTLIER", "Fit", "Prediction", "fit", "log_scale"]
