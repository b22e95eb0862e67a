"""Uniform random search in the unit cube (log ranges are uniform in log space)."""

from __future__ import annotations

from typing import Any, ClassVar

from itero.samplers._base import BaseSampler
from itero.space import Distribution
from itero.trial import FrozenTrial, History


class Random(BaseSampler):
    """Independent uniform sampling. ``Random(seed=0)`` is reproducible trial by trial.

    >>> import itero
    >>> study = itero.create_study("demo", storage="sqlite://", sampler=itero.samplers.Random(seed=0))
    """

    name = "random"
    supports_multi_objective: ClassVar[bool] = True

    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        return dist.from_unit(float(self.rng(trial, name).random()))
