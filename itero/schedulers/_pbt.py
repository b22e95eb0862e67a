"""Population-based training (Jaderberg et al., 2017), asynchronous, with the store as the population.

The first ``population`` trials start fresh. Every ``interval`` steps a member pauses with a checkpoint. When a
worker is free it takes the paused member that is furthest behind and ranks it among the members that reached
the same step (by the objective, or non-dominated rank for several):

- in the bottom ``quantile``: **exploit** — a new trial clones the checkpoint of a member from the top
  ``quantile`` and **explores** — each of ``hyperparams`` (default: every float parameter) is multiplied by
  one of ``perturb`` (or, with probability ``resample_probability``, drawn afresh from its range); integers
  and categoricals listed in ``hyperparams`` move to a neighbouring value. The paused member is retired
  (PRUNED, "replaced by a clone"), so the population keeps its size; the clone records its donor as parent.
- otherwise it is resumed from its own checkpoint.

Donors are unfinished members (a finished member's checkpoint is at its end). Checkpoints: each member keeps
its latest; retired and finished members lose theirs.

Parameters not in ``hyperparams`` are copied from the donor, because its weights only fit the same shapes.
When every member of a population has reached ``max_steps``, a new generation of ``population`` fresh members
starts (proposed by the study's sampler, which has learned from the earlier ones, and ranked against every
earlier member at the same step), so the study runs until its budget is spent; ``generations=k`` ends it after
``k`` populations instead. PBT needs the objective to give ``state`` to ``trial.report``.

    >>> PBT(max_steps=40, interval=5, population=8)
    PBT(max_steps=40, interval=5, population=8, quantile=0.25)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from itero._ranking import rank_order
from itero._validation import check_float, check_int, check_names, check_numbers, check_probability
from itero.exceptions import ConfigError
from itero.schedulers._base import BaseScheduler, Decision, Suggestion
from itero.schedulers._rungs import rung_table
from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History, TrialState

_MEMBERS = (TrialState.RUNNING, TrialState.PAUSED, TrialState.WAITING, TrialState.COMPLETE)


class PBT(BaseScheduler):
    name = "pbt"

    def __init__(
        self,
        max_steps: int | None = None,
        interval: int = 4,
        population: int = 8,
        quantile: float = 0.25,
        perturb: Sequence[float] = (0.8, 1.2),
        resample_probability: float = 0.25,
        hyperparams: Sequence[str] | None = None,
        seed: int = 0,
        generations: int | None = None,
    ) -> None:
        super().__init__(max_steps)
        check_int("pbt", "interval", interval, 1)
        check_int("pbt", "population", population, 2)
        check_float("pbt", "quantile", quantile, 0.0, 0.5, low_open=True)
        check_probability("pbt", "resample_probability", resample_probability)
        check_numbers("pbt", "perturb", perturb, 0, low_open=True, expected="a list of positive factors")
        check_names("pbt", "hyperparams", hyperparams, allow_none=True)
        check_int("pbt", "seed", seed, 0)
        check_int("pbt", "generations", generations, 1, allow_none=True)
        self.generations = generations
        factors = list(perturb)
        self.interval = interval
        self.population = population
        self.quantile = float(quantile)
        self.perturb = [float(f) for f in factors]
        self.resample_probability = float(resample_probability)
        self.hyperparams = list(hyperparams) if hyperparams is not None else None
        self.seed = seed

    def decide(self, history: History, trial: FrozenTrial, step: int, *, can_pause: bool = True) -> Decision:
        if step % self.interval:
            return Decision.CONTINUE
        if not can_pause:
            raise ConfigError(
                "scheduler 'pbt' clones and resumes checkpoints: pass state=... to trial.report(...) "
                "(for example state=lambda: {'model': model.state_dict(), 'opt': opt.state_dict()})"
            )
        return Decision.PAUSE

    def next(self, history: History) -> Suggestion:
        fresh = sum(1 for t in history.trials if t.parent_id is None and t.state != TrialState.FAILED)
        if fresh % self.population or fresh == 0:  # the current generation is still being filled
            return Suggestion.start()
        paused = sorted(history.with_state(TrialState.PAUSED), key=lambda t: (t.step, t.number))
        if not paused:
            if history.with_state(TrialState.RUNNING, TrialState.WAITING):
                return Suggestion.wait()
            generation = fresh // self.population
            if self.generations is not None and generation >= self.generations:
                return Suggestion.done(f"all {generation} generations of {self.population} members have finished")
            return Suggestion.start()  # a new generation
        members = history.with_state(*_MEMBERS)
        for t in paused:
            action = self._exploit(history, members, t)
            if action is not None:
                return action
        return Suggestion.resume(paused[0].id)

    def _exploit(self, history: History, members: list[FrozenTrial], trial: FrozenTrial) -> Suggestion | None:
        """A clone replacing ``trial`` if it is in the bottom quantile at its step; else resume it."""
        step = trial.step
        reached, points = rung_table(history, members, step)
        n = len(reached)
        cut = math.floor(self.quantile * n)
        if cut < 1:
            return Suggestion.resume(trial.id)
        order = rank_order(points)
        bottom = {reached[i].id for i in order[n - cut :]}
        if trial.id not in bottom:
            return Suggestion.resume(trial.id)
        donors = [  # finished members are at their end: cloning them would leave nothing to train
            reached[i]
            for i in order[:cut]
            if reached[i].checkpoint_id is not None and reached[i].state != TrialState.COMPLETE
        ]
        if not donors:
            return Suggestion.resume(trial.id)
        rng = np.random.default_rng([self.seed, trial.number, step])
        donor = donors[int(rng.integers(len(donors)))]
        return Suggestion.clone(donor.id, self.explore(donor, rng), replaces=trial.id)

    def explore(self, donor: FrozenTrial, rng: np.random.Generator) -> dict[str, Any]:
        """The donor's parameters with the ``hyperparams`` perturbed or resampled."""
        params = dict(donor.params)
        for name, dist in donor.distributions.items():
            if name not in params or not self._explores(name, dist):
                continue
            if rng.random() < self.resample_probability:
                params[name] = dist.from_unit(float(rng.random()))
            else:
                params[name] = _perturb(dist, params[name], self.perturb, rng)
        return params

    def _explores(self, name: str, dist: Distribution) -> bool:
        if self.hyperparams is None:
            return isinstance(dist, FloatDistribution)
        return name in self.hyperparams

    def __repr__(self) -> str:
        more = "" if self.generations is None else f", generations={self.generations}"
        return (
            f"PBT(max_steps={self.max_steps!r}, interval={self.interval}, population={self.population}, "
            f"quantile={self.quantile}{more})"
        )


def _perturb(dist: Distribution, value: Any, factors: list[float], rng: np.random.Generator) -> Any:
    if isinstance(dist, CategoricalDistribution):
        i = dist.index(value) + int(rng.choice([-1, 1]))
        return dist.choices[min(max(i, 0), len(dist.choices) - 1)]
    factor = factors[int(rng.integers(len(factors)))]
    assert isinstance(dist, (FloatDistribution, IntDistribution))
    new = min(max(float(value) * factor, dist.low), dist.high)
    if isinstance(dist, IntDistribution):
        if round(new) == value:  # an integer too small to move by the factor moves by one step
            new = value + (dist.step if factor > 1 else -dist.step)
        return dist.from_unit(dist.to_unit(min(max(round(new), dist.low), dist.high)))
    return dist.from_unit(dist.to_unit(new)) if dist.step is not None else new
