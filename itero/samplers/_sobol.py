"""Quasi-random search: a scrambled Sobol sequence (scipy.stats.qmc) spreads trials evenly over the cube."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from itero._validation import check_bool
from itero.samplers._base import BaseSampler
from itero.space import Distribution
from itero.trial import FrozenTrial, History

if TYPE_CHECKING:
    from scipy.stats import qmc

_DIMS = 64


class Sobol(BaseSampler):
    """Trial ``n`` takes point ``n`` of a scrambled Sobol sequence; its ``j``-th suggested parameter takes
    coordinate ``j``. Without a seed the scramble is derived from the study name, so every worker of a study
    walks the same sequence. Parameters past the 64th are sampled uniformly.
    """

    name = "sobol"
    supports_multi_objective: ClassVar[bool] = True

    def __init__(self, seed: int | None = None, scramble: bool = True) -> None:
        super().__init__(seed)
        check_bool("sobol", "scramble", scramble)
        self.scramble = scramble
        self._engine: qmc.Sobol | None = None
        self._engine_seed: int | None = None
        self._points: dict[int, np.ndarray] = {}

    def _point(self, history: History, number: int) -> np.ndarray:
        seed = self.seed if self.seed is not None else zlib.crc32(history.study_name.encode())
        if self._engine is None or self._engine_seed != seed:
            from scipy.stats import qmc  # imported here: scipy.stats costs ~0.5 s at import

            self._engine = qmc.Sobol(_DIMS, scramble=self.scramble, seed=seed)
            self._engine_seed = seed
            self._points.clear()
        if number not in self._points:
            self._engine.reset()
            if number:
                self._engine.fast_forward(number)
            self._points[number] = self._engine.random(1)[0]
            if len(self._points) > 256:
                self._points.pop(next(iter(self._points)))
        return self._points[number]

    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        dim = len(trial.params)
        if dim >= _DIMS:
            return dist.from_unit(float(self.rng(trial, name).random()))
        return dist.from_unit(float(self._point(history, trial.number)[dim]))
