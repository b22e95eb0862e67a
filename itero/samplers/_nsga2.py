"""NSGA-II: a genetic algorithm for one or several objectives (Deb, Pratap, Agarwal and Meyarivan, "A fast and
elitist multiobjective genetic algorithm: NSGA-II", IEEE TEVC 6(2), 2002).

Trials form generations of ``population_size`` by trial number (trial ``n`` belongs to generation
``n // population_size``). Generation 0 is sampled uniformly. The parents of generation ``g + 1`` are the best
``population_size`` trials of the parents of generation ``g`` and the trials of generation ``g`` that completed,
by non-dominated rank then crowding distance — under *constrained domination* when trials set constraints
(``trial.set_constraints``): feasible trials first, then infeasible ones by total violation. Each child comes
from two binary tournaments, a crossover (uniform or SBX) and a mutation (polynomial or Gaussian) in the unit cube
of each parameter; categories are crossed uniformly and reset at random.

The parents are a function of the history alone, so every peer worker (and a fresh sampler object) proposes the
same child for the same trial number and history. Each generation's survivors are cached per history with the
number of completed trials they were computed from, and recomputed from the first generation whose count changed.

    >>> import itero
    >>> study = itero.create_study("zdt", storage="sqlite://", objectives={"f1": "minimize", "f2": "minimize"},
    ...                            sampler=NSGA2(seed=0, population_size=20))
    >>> def objective(t):
    ...     x, y = t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)
    ...     return {"f1": x, "f2": (1 + y) * (1 - x ** 0.5)}
    >>> study.optimize(objective, n_trials=60, show_progress=False)
    >>> len(study.pareto_front()) > 5
    True
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from itero._ranking import constrained_rank_order, constrained_select
from itero._spec import options_repr
from itero._validation import check_choice, check_float, check_int, check_probability
from itero.samplers._base import BaseSampler, PerHistoryCache, intersection_space
from itero.space import CategoricalDistribution, Distribution
from itero.trial import FrozenTrial, History

_CROSSOVERS = ("uniform", "sbx")
_MUTATIONS = ("polynomial", "gaussian")
_SALT = "__nsga2__"


class NSGA2(PerHistoryCache, BaseSampler):
    """NSGA-II (``"nsga2"``), for one or several objectives, with constrained domination.

    Options:

    - ``population_size`` (>= 2, default 50): trials per generation.
    - ``crossover``: ``"uniform"`` (default; each parameter from either parent) or ``"sbx"`` (simulated binary
      crossover, distribution index ``eta_crossover``, default 20).
    - ``crossover_prob`` (default 0.9): chance that a child is a crossover rather than a copy of one parent.
    - ``mutation``: ``"polynomial"`` (default, index ``eta_mutation``, default 20) or ``"gaussian"``
      (standard deviation ``sigma``, default 0.1, in the unit cube).
    - ``mutation_prob``: chance that each parameter mutates; ``None`` for 1 / (number of parameters).

    Parameters that not every completed trial has (conditional ones) are sampled uniformly.
    """

    name = "nsga2"
    supports_multi_objective: ClassVar[bool] = True

    def __init__(
        self,
        seed: int | None = None,
        population_size: int = 50,
        crossover: str = "uniform",
        crossover_prob: float = 0.9,
        mutation: str = "polynomial",
        mutation_prob: float | None = None,
        eta_crossover: float = 20.0,
        eta_mutation: float = 20.0,
        sigma: float = 0.1,
    ) -> None:
        super().__init__(seed)
        check_int("nsga2", "population_size", population_size, 2)
        check_choice("nsga2", "crossover", crossover, _CROSSOVERS)
        check_choice("nsga2", "mutation", mutation, _MUTATIONS)
        check_probability("nsga2", "crossover_prob", crossover_prob)
        check_probability("nsga2", "mutation_prob", mutation_prob, allow_none=True)
        for key, value in (("eta_crossover", eta_crossover), ("eta_mutation", eta_mutation), ("sigma", sigma)):
            check_float("nsga2", key, value, 0, low_open=True)
        self.population_size = population_size
        self.crossover = crossover
        self.crossover_prob = crossover_prob
        self.mutation = mutation
        self.mutation_prob = mutation_prob
        self.eta_crossover = eta_crossover
        self.eta_mutation = eta_mutation
        self.sigma = sigma
        self._init_caches()

    def __repr__(self) -> str:
        return options_repr(self)

    # --- the population
    def parents(self, history: History, generation: int) -> list[FrozenTrial]:
        """The parents of ``generation``, best first (crowded comparison; empty for generation 0)."""
        if generation <= 0:
            return []
        with self._lock:
            cache = self._states.get(history)
            if cache is None or cache.epoch != history.completed_epoch:
                cache = self._states[history] = _Generations(history.completed_epoch)
            return cache.parents(history, generation, self.population_size)

    def sample_joint(self, history: History, trial: FrozenTrial) -> dict[str, Any]:
        generation = trial.number // self.population_size
        if generation == 0:
            return {}
        parents = self.parents(history, generation)
        space = intersection_space(history)
        if not parents or not space:
            return {}
        rng = self.rng(trial, _SALT)
        names = sorted(space)
        n = len(parents)
        # Binary tournaments on the crowded-comparison order: the lower position wins.
        a = parents[int(rng.integers(n, size=2).min())]
        b = parents[int(rng.integers(n, size=2).min())]
        cross = rng.random() < self.crossover_prob
        p_mut = self.mutation_prob if self.mutation_prob is not None else 1.0 / len(names)
        out: dict[str, Any] = {}
        for name in names:
            dist = space[name]
            # One draw of each kind per parameter, so that a parameter's value does not shift the others'.
            r_swap, r_beta, r_mut, r_step = rng.random(4)
            va, vb = a.params.get(name), b.params.get(name)
            if name not in a.params or name not in b.params or not (dist.contains(va) and dist.contains(vb)):
                out[name] = dist.from_unit(float(rng.random()))
                continue
            if isinstance(dist, CategoricalDistribution):
                value = vb if cross and r_swap < 0.5 else va
                if r_mut < p_mut:
                    value = dist.choices[int(r_step * len(dist.choices)) % len(dist.choices)]
                out[name] = value
                continue
            ua, ub = dist.to_unit(va), dist.to_unit(vb)
            if not cross:
                u = ua
            elif self.crossover == "sbx":
                u = _sbx(ua, ub, r_beta, r_swap, self.eta_crossover)
            else:
                u = ub if r_swap < 0.5 else ua
            if r_mut < p_mut:
                u = self._mutate(u, r_step)
            out[name] = _from_unit(dist, u)
        return out

    def _mutate(self, u: float, r: float) -> float:
        if self.mutation == "gaussian":
            z = float(math.sqrt(2.0) * _erfinv(2.0 * r - 1.0))  # a standard normal from one uniform draw
            return min(max(u + self.sigma * z, 0.0), 1.0)
        # Polynomial mutation (Deb and Goyal 1996) with the bounds [0, 1].
        eta = self.eta_mutation
        if r < 0.5:
            d = (2.0 * r + (1.0 - 2.0 * r) * (1.0 - u) ** (eta + 1.0)) ** (1.0 / (eta + 1.0)) - 1.0
        else:
            d = 1.0 - (2.0 * (1.0 - r) + 2.0 * (r - 0.5) * u ** (eta + 1.0)) ** (1.0 / (eta + 1.0))
        return min(max(u + d, 0.0), 1.0)

    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        return dist.from_unit(float(self.rng(trial, name).random()))


class _Generations:
    """Survivors of each generation of one history: ``pops[g]`` are the parents of generation ``g + 1``,
    computed when ``counts[g]`` trials numbered below ``(g + 1) * size`` had completed."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.counts: list[int] = []
        self.pops: list[list[FrozenTrial]] = []
        self.ranked: dict[int, list[FrozenTrial]] = {}  # generation -> its parents, best first

    def parents(self, history: History, generation: int, size: int) -> list[FrozenTrial]:
        done = history.completed()
        valid = 0  # generations 0 .. valid - 1 are cached and current
        while valid < min(generation, len(self.counts)):
            if self.counts[valid] != history.count_completed_below((valid + 1) * size):
                # a trial of generation <= valid completed since: this and later survivors are stale
                del self.counts[valid:], self.pops[valid:]
                self.ranked = {g: r for g, r in self.ranked.items() if g <= valid}
                break
            valid += 1
        for g in range(len(self.pops), generation):
            lo = history.count_completed_below(g * size)
            hi = history.count_completed_below((g + 1) * size)
            pool = (self.pops[g - 1] if g else []) + done[lo:hi]
            if len(pool) > size:
                points, violation = _points(history, pool)
                pool = [pool[i] for i in constrained_select(points, violation, size)]
            self.counts.append(hi)
            self.pops.append(pool)
        ranked = self.ranked.get(generation)
        if ranked is None:
            pop = self.pops[generation - 1]
            if pop:
                points, violation = _points(history, pop)
                ranked = [pop[i] for i in constrained_rank_order(points, violation)]
            else:
                ranked = []
            self.ranked[generation] = ranked
        return ranked


def _points(history: History, trials: list[FrozenTrial]) -> tuple[np.ndarray, np.ndarray]:
    points = np.array([history.losses(t) for t in trials], dtype=float).reshape(len(trials), -1)
    return points, np.array([t.violation for t in trials], dtype=float)


def _sbx(ua: float, ub: float, r_beta: float, r_pick: float, eta: float) -> float:
    """One child of simulated binary crossover (Deb and Agrawal 1995), clipped to the unit interval."""
    if r_beta <= 0.5:
        beta = (2.0 * r_beta) ** (1.0 / (eta + 1.0))
    else:
        beta = (1.0 / (2.0 * (1.0 - r_beta))) ** (1.0 / (eta + 1.0))
    mid, half = 0.5 * (ua + ub), 0.5 * abs(ub - ua)
    u = mid - beta * half if r_pick < 0.5 else mid + beta * half
    return min(max(u, 0.0), 1.0)


def _erfinv(y: float) -> float:
    from scipy.special import erfinv

    return float(erfinv(min(max(y, -1 + 1e-12), 1 - 1e-12)))


def _from_unit(dist: Distribution, u: float) -> Any:
    return dist.from_unit(min(max(u, 0.0), 1.0))
