"""Shared weights: a fresh trial starts from the checkpoint of the best trial whose model-shaping parameters equal
its own (``create_study(share_weights=["width", "depth"])``).

    donors(history, trial, ["width"])    # the matching trials with a checkpoint, best first
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from itero.trial import FrozenTrial, History


def donors(history: History, trial: FrozenTrial, keys: Sequence[str], limit: int = 3) -> list[FrozenTrial]:
    """Up to ``limit`` other trials with a checkpoint whose parameters ``keys`` equal ``trial``'s: the best first,
    then the furthest trained."""
    key = [trial.params[k] for k in keys]
    matches = [
        t
        for t in history.trials
        if t.checkpoint_id is not None and t.id != trial.id and [t.params.get(k) for k in keys] == key
    ]
    matches.sort(key=lambda t: (_loss_or_inf(history, t), -t.step))
    return matches[:limit]


def _loss_or_inf(history: Any, trial: FrozenTrial) -> float:
    try:
        value = history.loss(trial)
    except (KeyError, TypeError, ValueError):
        return math.inf
    return value if math.isfinite(value) else math.inf
