"""Synthetic multi-fidelity functions: learning-curve-like values of test functions with known optima.

Each function maps ``x`` in the unit cube and a step ``t`` in ``1..T`` to a loss. At ``t = T`` the value is the
function's *final* value, whose minimum is known; before, a curve term decays to zero::

    value(x, t) = final(x) + amplitude(x) * (1 - t / T) ** power(x)

``power`` controls how early a configuration looks good. In ``branin-curves`` and ``hartmann6-curves`` it
varies mildly, so early rankings are mostly right; in ``crossing-curves`` it is smallest where ``final`` is
best, so the best configurations start slowest and early stopping is fooled. They cost nothing to evaluate, so
benchmarks can run many seeds; compute is counted in steps.

    >>> f = SUITE["crossing-curves"]
    >>> round(f.value([0.2, 0.4, 0.6, 0.8], 27), 6)
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

T_MAX = 27


@dataclass(frozen=True)
class CurveFunction:
    name: str
    dim: int
    final: Callable[[np.ndarray], float]  # minimum 0
    amplitude: Callable[[np.ndarray, float], float]  # (x, final value) -> curve height at t = 0
    power: Callable[[np.ndarray, float], float]  # (x, final value) -> decay exponent

    def value(self, x: Sequence[float], t: int, t_max: int = T_MAX) -> float:
        xs = np.asarray(x, dtype=float)
        f = self.final(xs)
        return f + self.amplitude(xs, f) * (1.0 - min(t, t_max) / t_max) ** self.power(xs, f)


def _branin(x: np.ndarray) -> float:
    a, b = 15.0 * x[0] - 5.0, 15.0 * x[1]
    value = (b - 5.1 / (4 * math.pi**2) * a**2 + 5 / math.pi * a - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(a)
    return (value + 10 - 0.397887) / 10.0  # minimum 0 (three global minima), typical values 0..30


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
_H_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def _hartmann6(x: np.ndarray) -> float:
    inner = np.sum(_H_A * (x[None, :] - _H_P) ** 2, axis=1)
    return float(-np.sum(_H_ALPHA * np.exp(-inner)) + 3.32237)  # minimum 0


_X_STAR = np.array([0.2, 0.4, 0.6, 0.8])


def _bowl(x: np.ndarray) -> float:
    return float(np.sum((x - _X_STAR) ** 2))  # minimum 0 at x*, at most 2.2 in the cube


SUITE: dict[str, CurveFunction] = {
    "branin-curves": CurveFunction("branin-curves", 2, _branin, lambda x, f: 2.0 + 2.0 * x[0], lambda x, f: 1.5 + x[1]),
    "hartmann6-curves": CurveFunction(
        "hartmann6-curves", 6, _hartmann6, lambda x, f: 1.0 + x[0], lambda x, f: 1.0 + 2.0 * x[5]
    ),
    # The best configurations (final near 0) decay with power 0.3: flat until the very end; the worst with 6.
    "crossing-curves": CurveFunction(
        "crossing-curves", 4, _bowl, lambda x, f: 1.0, lambda x, f: 0.3 + 5.7 * min(1.0, f / 0.3)
    ),
}


def curve_objective(fn: CurveFunction) -> Callable[[Any], None]:
    """An itero objective for ``fn``: parameters ``x0..x{d-1}`` in [0, 1], one report per step, with state."""

    def objective(trial: Any) -> None:
        x = [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(fn.dim)]
        max_steps = getattr(trial, "max_steps", None) or T_MAX
        trial.restore()  # the value is a function of (x, step): the state only marks where the trial is
        for step in trial.steps(max_steps):
            trial.report(step, {"loss": fn.value(x, step, max_steps)}, state={"step": step})

    objective.__name__ = fn.name.replace("-", "_")
    return objective


crossing_curves = curve_objective(SUITE["crossing-curves"])
