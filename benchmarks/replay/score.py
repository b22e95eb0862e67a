"""What a replayed run achieved: the compute it needed to reach the table's targets, its anytime curve, and the
test value of the configuration it returns.

For one objective the targets are the 90th and 99th percentiles and the best of the table's final validation
values (over every configuration and training seed); the configuration a method returns is its best complete
trial (trained to ``max_steps``), scored by its recorded *test* value: ``test_regret`` is how far that is from
the best test value in the table. For several objectives the same is done with the hypervolume of the complete
trials' front, against a fixed reference point (the table's worst final values), with targets at 90%, 99% and
100% of the table's own front. A run that never reaches a target is charged twice the budget.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from benchmarks.replay.simulate import Trace
from itero._hypervolume import hypervolume
from itero.tasks._tables import Table

TARGETS = ("p90", "p99", "best")


def _signs(table: Table) -> np.ndarray:
    return np.array([1.0 if d == "minimize" else -1.0 for d in table.objectives.values()])


def finals(table: Table, test: bool = False) -> np.ndarray:
    """(configs x seeds, objectives) final values as losses (minimised), NaN rows dropped."""
    names = [table.test_metric(m) if test else m for m in table.objectives]
    vals = np.stack([table.curves[m][:, :, -1].reshape(-1) for m in names], axis=1) * _signs(table)
    return vals[np.isfinite(vals).all(axis=1)]


def reference(table: Table) -> np.ndarray:
    """The hypervolume reference point (in losses): the worst final value of each objective, validation and
    test alike, plus 1% of its range."""
    both = np.concatenate([finals(table), finals(table, test=True)])
    lo, hi = both.min(axis=0), both.max(axis=0)
    return hi + 0.01 * np.where(hi > lo, hi - lo, 1.0)


def quality(table: Table, losses: np.ndarray, ref: np.ndarray | None = None) -> float:
    """The loss-like quality of a set of final values: the minimum (one objective) or minus the hypervolume
    (against ``ref``, default ``reference(table)``: pass it when scoring many sets of one table)."""
    losses = losses[np.isfinite(losses).all(axis=1)] if len(losses) else losses
    if len(losses) == 0:
        return math.inf
    if losses.shape[1] == 1:
        return float(losses[:, 0].min())
    return -hypervolume(losses.tolist(), (reference(table) if ref is None else ref).tolist())


def targets(table: Table) -> dict[str, float]:
    """Loss-like targets: quantiles of the table's final validation values, or of the table front's
    hypervolume for several objectives."""
    vals = finals(table)
    if vals.shape[1] == 1:
        v = vals[:, 0]
        return {"p90": float(np.quantile(v, 0.10)), "p99": float(np.quantile(v, 0.01)), "best": float(v.min())}
    hv = -quality(table, vals)
    return {"p90": -0.90 * hv, "p99": -0.99 * hv, "best": -hv}


def best_test(table: Table) -> float:
    """The best test quality in the table (loss-like)."""
    return quality(table, finals(table, test=True))


def test_regret(table: Table, final_test: float) -> float:
    """How far the returned test quality is from the table's best: the difference for one objective; for several,
    the hypervolume missed as a fraction of the table's test front hypervolume (0 = the whole front, 1 = none)."""
    best = best_test(table)
    if len(table.objectives) == 1:
        return final_test - best
    return (final_test - best) / abs(best)


def full_training_seconds(table: Table) -> float:
    """The median CPU seconds of one full training in the table."""
    total = np.nansum(table.step_seconds, axis=2).reshape(-1)
    return float(np.median(total))


def score(trace: Trace, table: Table, budget: float) -> dict[str, Any]:
    """A run's summary (JSON-able): compute to each target, the improvements of its incumbent, the final
    validation and test quality of what it returns and the test regret. Qualities are loss-like (lower is
    better; for several objectives, minus the hypervolume)."""
    signs = _signs(table)
    ref = reference(table) if len(table.objectives) > 1 else None
    budget_steps = budget * table.max_steps
    budget_seconds = budget * full_training_seconds(table)
    goal = targets(table)
    reached: dict[str, dict[str, float] | None] = dict.fromkeys(TARGETS)
    improvements: list[list[float]] = []
    vals: list[np.ndarray] = []
    tests: list[np.ndarray] = []
    best = math.inf
    for c in trace.completions:
        vals.append(np.array(c.values) * signs)
        tests.append(np.array(c.tests) * signs)
        q = quality(table, np.array(vals), ref)
        if q < best:
            best = q
            test_q = _returned_test(table, np.array(vals), np.array(tests), ref)
            improvements.append([c.steps, round(c.seconds, 3), round(c.time, 3), q, test_q])
            for name in TARGETS:
                if reached[name] is None and q <= goal[name] + 1e-12:
                    reached[name] = {"steps": c.steps, "seconds": c.seconds, "time": c.time}
    to_target = {
        name: reached[name] or {"steps": 2 * budget_steps, "seconds": 2 * budget_seconds, "time": math.inf}
        for name in TARGETS
    }
    final_val = improvements[-1][3] if improvements else math.inf
    final_test = improvements[-1][4] if improvements else math.inf
    return {
        "steps": trace.steps,
        "seconds": round(trace.seconds, 3),
        "completed": len(trace.completions),
        "targets": goal,
        "reached": {name: reached[name] is not None for name in TARGETS},
        "to_target": to_target,
        "final_val": final_val,
        "final_test": final_test,
        "test_regret": test_regret(table, final_test),
        "improvements": improvements,
    }


def _returned_test(table: Table, vals: np.ndarray, tests: np.ndarray, ref: np.ndarray | None) -> float:
    """The test quality of what the run returns now: its best complete trial (one objective), or its complete
    trials' validation front (several)."""
    if vals.shape[1] == 1:
        ok = np.isfinite(vals[:, 0])
        if not ok.any():
            return math.inf
        i = int(np.argmin(np.where(ok, vals[:, 0], np.inf)))
        return float(tests[i, 0])
    keep = np.isfinite(vals).all(axis=1)
    front = _front(vals[keep])
    return quality(table, tests[keep][front], ref)


def _front(losses: np.ndarray) -> list[int]:
    from itero.study import non_dominated

    return list(non_dominated(losses.tolist()))
