"""The best trials of a history, and whether a finishing trial joins them: their checkpoints are kept.

>>> from itero.trial import FrozenTrial, History, TrialState
>>> h = History({"loss": "minimize"})
>>> h.upsert([FrozenTrial(id=1, number=0, state=TrialState.COMPLETE, metrics={"loss": 0.5}, checkpoint_id=7)])
>>> best_checkpoints(h), would_be_best(h, {"loss": 0.4}), would_be_best(h, {"loss": 0.6})
({7}, True, False)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from itero._ranking import nondominated_mask
from itero.trial._frozen import FrozenTrial
from itero.trial._history import History


def best(history: History) -> list[FrozenTrial]:
    """The best feasible complete trial (one objective), or the non-dominated ones (several)."""
    done = [t for t in history.completed() if t.violation <= 0]
    if not done:
        return []
    losses = np.array([history.losses(t) for t in done])
    if losses.shape[1] == 1:
        return [done[int(np.argmin(losses[:, 0]))]]
    return [t for t, keep in zip(done, nondominated_mask(losses), strict=True) if keep]


def best_checkpoints(history: History) -> set[int]:
    """The checkpoints of ``best(history)`` (those that have one): kept when others are collected."""
    return {t.checkpoint_id for t in best(history) if t.checkpoint_id is not None}


def would_be_best(history: History, metrics: Mapping[str, float]) -> bool:
    """Whether a trial ending with ``metrics`` would join ``best(history)``: better than the best (one
    objective), or dominated by none of the complete trials (several)."""
    try:
        mine = [s * float(metrics[m]) for s, m in zip(history.directions_signs, history.objective_names, strict=True)]
    except KeyError:
        return False
    if not all(map(math.isfinite, mine)):
        return False
    for t in best(history):
        theirs = history.losses(t)
        if all(a <= b for a, b in zip(theirs, mine, strict=True)) and theirs != mine:
            return False
        if len(mine) == 1 and theirs[0] <= mine[0]:
            return False
    return True


__all__ = ["best", "best_checkpoints", "would_be_best"]
