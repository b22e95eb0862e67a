"""Regularised (aging) evolution: tournament selection over the newest trials, as in Real et al. (2019).

The population is the ``population_size`` most recent completed trials (by trial number), so old trials age out
whatever their value. Until the population is full, trials are sampled at random. Then each new trial picks
``sample_size`` members at random, takes the best of them as its parent and copies it, changing
``n_mutations`` of the parameters every finished trial has: a categorical or an integer to another value, a
float by a Gaussian step in the unit cube (``mutation="gaussian"``) or by a fresh uniform draw
(``mutation="resample"``). Parameters only the parent has (conditional ones) are inherited; any other is drawn at
random.

    >>> import itero
    >>> itero.samplers.make_sampler({"name": "evolution", "seed": 0, "population_size": 16, "sample_size": 4})
    RegularizedEvolution(seed=0, population_size=16, sample_size=4)

Reference: E. Real, A. Aggarwal, Y. Huang and Q. V. Le, *Regularized Evolution for Image Classifier Architecture
Search*, AAAI 2019.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from itero._spec import options_repr
from itero._validation import check_choice, check_float, check_int
from itero.samplers._base import BaseSampler, intersection_space
from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History

_PARENT_SALT = "__evolution_parent__"
_MUTATE_SALT = "__evolution_mutate__"


def _neighbour(dist: FloatDistribution | IntDistribution, value: Any, up: bool) -> Any:
    """The next grid value above (or below, or on the other side at a bound) a stepped ``value``."""
    step = dist.step if dist.step is not None else 0.0
    hi = value + step if value + step <= dist.high else value - step
    lo = value - step if value - step >= dist.low else value + step
    out = hi if up else lo
    return dist.from_unit(dist.to_unit(out))  # snap to the grid (and the type) of the distribution


class RegularizedEvolution(BaseSampler):
    """Aging evolution with tournament selection. Single objective.

    Options:

    - ``seed``: every proposal is a function of (seed, trial number, history).
    - ``population_size`` (>= 1): the newest completed trials that may be parents (32); also the number of
      random trials before evolution starts.
    - ``sample_size`` (1 to ``population_size``): tournament size; the best of these is the parent (8).
    - ``n_mutations`` (>= 1): parameters changed per child (1).
    - ``mutation``: ``"gaussian"`` (a step of ``sigma`` in the unit cube) or ``"resample"`` for numbers.
    - ``sigma`` (> 0): the Gaussian step in the unit cube (0.1).

        >>> import itero
        >>> study = itero.create_study("demo", storage="sqlite://", sampler={"name": "evolution", "seed": 0})
        >>> study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2, n_trials=60, show_progress=False)
        >>> abs(study.best_trial.params["x"] - 1) < 0.5
        True
    """

    name = "evolution"
    supports_multi_objective: ClassVar[bool] = False

    def __init__(
        self,
        seed: int | None = None,
        population_size: int = 32,
        sample_size: int = 8,
        n_mutations: int = 1,
        mutation: str = "gaussian",
        sigma: float = 0.1,
    ) -> None:
        super().__init__(seed)
        check_int("evolution", "population_size", population_size, 1)
        check_int(
            "evolution",
            "sample_size",
            sample_size,
            1,
            population_size,
            expected=f"an integer >= 1 and <= population_size ({population_size})",
        )
        check_int("evolution", "n_mutations", n_mutations, 1)
        check_choice("evolution", "mutation", mutation, ("gaussian", "resample"))
        check_float("evolution", "sigma", sigma, 0, low_open=True)
        self.population_size = population_size
        self.sample_size = sample_size
        self.n_mutations = n_mutations
        self.mutation = mutation
        self.sigma = float(sigma)

    def __repr__(self) -> str:
        return options_repr(self)

    def parent(self, history: History, trial: FrozenTrial) -> FrozenTrial | None:
        """The parent of ``trial``: the best of ``sample_size`` random members of the population; None while
        the population is not full."""
        population = history.completed()[-self.population_size :]
        if len(population) < self.population_size:
            return None
        rng = self.rng(trial, _PARENT_SALT)
        picks = np.sort(rng.choice(len(population), size=self.sample_size, replace=False))
        losses = [history.loss(population[int(i)]) for i in picks]
        return population[int(picks[int(np.argmin(losses))])]

    def mutate(self, rng: np.random.Generator, dist: Distribution, value: Any) -> Any:
        """A value of ``dist`` different from ``value`` (when ``dist`` has more than one)."""
        if dist.is_single():
            return dist.from_unit(0.5)
        if not dist.contains(value):
            return dist.from_unit(float(rng.random()))
        if isinstance(dist, CategoricalDistribution):
            i = dist.index(value)
            j = int(rng.integers(len(dist.choices) - 1))
            return dist.choices[j + 1 if j >= i else j]
        u = dist.to_unit(value)
        for _ in range(8):
            if self.mutation == "gaussian":
                v = u + self.sigma * float(rng.standard_normal())
                v = abs(v) if v < 0 else (2.0 - v if v > 1 else v)  # reflect at the bounds
            else:
                v = float(rng.random())
            new = dist.from_unit(min(1.0, max(0.0, v)))
            if new != value:
                return new
            if isinstance(dist, FloatDistribution) and dist.step is None:
                continue
            return _neighbour(dist, value, v > u)  # a grid value: move to the next one
        return dist.from_unit(float(rng.random()))

    def sample_joint(self, history: History, trial: FrozenTrial) -> dict[str, Any]:
        parent = self.parent(history, trial)
        if parent is None:
            return {}
        space = dict(sorted(intersection_space(history).items()))
        child = {n: parent.params[n] for n in space if n in parent.params and space[n].contains(parent.params[n])}
        if not space:
            return child
        rng = self.rng(trial, _MUTATE_SALT)
        names = list(space)
        k = min(self.n_mutations, len(names))
        for i in sorted(rng.choice(len(names), size=k, replace=False)):
            name = names[int(i)]
            child[name] = self.mutate(rng, space[name], parent.params.get(name))
        return child

    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        parent = self.parent(history, trial)
        if parent is not None and parent.distributions.get(name) == dist and dist.contains(parent.params.get(name)):
            return parent.params[name]  # a conditional parameter of the parent: inherited
        return dist.from_unit(float(self.rng(trial, name).random()))
