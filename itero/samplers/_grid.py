"""Grid search: every combination of a finite set of values per parameter, in order."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from itero._validation import check_int, check_list, invalid
from itero.exceptions import ConfigError
from itero.samplers._base import BaseSampler
from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History


class Grid(BaseSampler):
    """Walk the grid in mixed-radix order: trial ``n`` takes grid point ``n``.

    Values come from ``space`` (a mapping of parameter name to a list of values) when given, otherwise from the
    range the objective suggests: every choice of a categorical, every integer of a small int range, and
    ``n_points`` evenly spaced values (in log space for log ranges, both ends included) otherwise.
    The study stops once every point has been tried.

        >>> import itero
        >>> sampler = itero.samplers.Grid({"lr": [0.01, 0.1], "optimizer": ["sgd", "adam"]})
    """

    name = "grid"
    supports_multi_objective: ClassVar[bool] = True

    def __init__(
        self,
        space: Mapping[str, Sequence[Any]] | None = None,
        n_points: int = 5,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        check_int("grid", "n_points", n_points, 1)
        if space is not None:
            if not isinstance(space, Mapping):
                raise invalid("grid", "space", space, "a mapping of parameter names to lists")
            for key, values in space.items():
                check_list("grid", f"space.{key}", values)
        self.space = {k: list(v) for k, v in (space or {}).items()}
        self.n_points = n_points

    def levels(self, name: str, dist: Distribution) -> list[Any]:
        if name in self.space:
            return self.space[name]
        if isinstance(dist, CategoricalDistribution):
            return list(dist.choices)
        if isinstance(dist, IntDistribution) and (dist.high - dist.low) // dist.step + 1 <= self.n_points:
            return list(range(dist.low, dist.high + 1, dist.step))
        if dist.is_single():
            return [dist.low]
        assert isinstance(dist, (FloatDistribution, IntDistribution))
        # Evenly spaced on the distribution's own scale with both ends included.
        if dist.log:
            xs = np.exp(np.linspace(math.log(dist.low), math.log(dist.high), self.n_points))
        else:
            xs = np.linspace(dist.low, dist.high, self.n_points)
        out: list[Any] = []
        for x in xs:
            v = dist.from_unit(dist.to_unit(float(x)))
            if isinstance(dist, IntDistribution):
                v = round(float(x))
            if v not in out:
                out.append(v)
        return out

    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        radix = 1
        for prev_name, prev_dist in trial.distributions.items():
            if prev_name != name:
                radix *= len(self.levels(prev_name, prev_dist))
        values = self.levels(name, dist)
        value = values[(trial.number // radix) % len(values)]
        if not dist.contains(value):
            raise ConfigError(f"grid value {value!r} for {name!r} is outside the suggested range {dist}")
        return value

    def grid_size(self, history: History) -> int | None:
        for t in history.trials:
            if t.distributions:
                return math.prod(len(self.levels(k, d)) for k, d in t.distributions.items())
        return None

    def is_exhausted(self, history: History) -> bool:
        size = self.grid_size(history)
        if size is None:
            return False
        return max((t.number for t in history.trials), default=-1) + 1 >= size
