"""CMA-ES (covariance matrix adaptation evolution strategy) through the ``cmaes`` package, with IPOP restarts.

The optimiser works in the unit cube of the parameters every finished trial has (the intersection space),
restricted to floats and integers. Its state is never stored: it is rebuilt from the history by replaying the
completed trials — their unit-cube vectors and losses, in order of trial number, told in generations of the
population size — so that every worker, or a sampler created afresh in another process, reaches the same
state from the same store. The replay is cached per history and resumed from the last generation that is still
valid, so a suggestion costs one generation's update, not the whole study's.

    >>> import itero
    >>> sampler = itero.samplers.CMAES(seed=0)
    >>> itero.samplers.make_sampler({"name": "cmaes", "seed": 0, "sigma0": 0.3})
    CMAES(seed=0, sigma0=0.3)

References: N. Hansen, *The CMA Evolution Strategy: A Tutorial* (2016); A. Auger and N. Hansen, *A Restart CMA
Evolution Strategy With Increasing Population Size* (CEC 2005) for IPOP.
"""

from __future__ import annotations

import copy
import math
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from itero._spec import options_repr
from itero._validation import check_choice, check_float, check_int
from itero.samplers._base import BaseSampler, PerHistoryCache, intersection_space
from itero.space import CategoricalDistribution, Distribution
from itero.trial import FrozenTrial, History

if TYPE_CHECKING:
    from cmaes import CMA

_JOINT_SALT = "__cmaes_joint__"


def first_mismatch(numbers: list[int], trials: list[FrozenTrial]) -> int:
    """Length of the common prefix of ``numbers`` and the numbers of ``trials``."""
    n = min(len(numbers), len(trials))
    for i in range(n):
        if numbers[i] != trials[i].number:
            return i
    return n


@dataclass
class _Snapshot:
    """The optimiser after ``told`` trials (a generation boundary); never modified once stored."""

    told: int
    cma: CMA
    restarts: int


class _Replay:
    """The replayed optimiser of one history for one space: snapshots at generation boundaries."""

    def __init__(self, first: _Snapshot) -> None:
        self.snapshots = [first]
        self.numbers: list[int] = []  # numbers of the usable completed trials, in order


class CMAES(PerHistoryCache, BaseSampler):
    """CMA-ES over the float and int parameters that every finished trial has.

    Integers are searched through the unit cube and rounded (``dist.from_unit``). Categorical parameters are
    not in the CMA space: they, conditional parameters and the first ``n_startup_trials`` trials are sampled
    uniformly at random, independently. Single objective only.

    Options:

    - ``seed``: every proposal is a function of (seed, trial number, history).
    - ``sigma0`` (> 0): initial step size in the unit cube (1/6 by default, Optuna's ``min range / 6``).
    - ``population_size`` (>= 2 or null): the first run's population; null for CMA's ``4 + floor(3 ln d)``.
    - ``restarts``: ``"ipop"`` (default) restarts from a random mean with a doubled population each time the
      strategy converges (``CMA.should_stop()``); null keeps one run.
    - ``n_startup_trials`` (>= 0): completed trials sampled at random before CMA-ES proposes. As in Optuna,
      they are not told to CMA-ES (they are not samples of its distribution): the replay starts after them.

        >>> import itero
        >>> study = itero.create_study("demo", storage="sqlite://", sampler={"name": "cmaes", "seed": 0})
        >>> study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2 + t.suggest_int("k", 0, 9) ** 2,
        ...                n_trials=60, show_progress=False)
        >>> study.best_trial.params["k"], abs(study.best_trial.params["x"] - 1) < 0.5
        (0, True)
    """

    name = "cmaes"
    supports_multi_objective: ClassVar[bool] = False

    def __init__(
        self,
        seed: int | None = None,
        sigma0: float = 1.0 / 6.0,
        population_size: int | None = None,
        restarts: str | None = "ipop",
        n_startup_trials: int = 1,
    ) -> None:
        super().__init__(seed)
        check_float("cmaes", "sigma0", sigma0, 0, low_open=True, expected="a finite number > 0 (in the unit cube)")
        check_int("cmaes", "population_size", population_size, 2, allow_none=True)
        check_choice("cmaes", "restarts", restarts, ("ipop", None))
        check_int("cmaes", "n_startup_trials", n_startup_trials, 0)
        self.sigma0 = float(sigma0)
        self.population_size = population_size
        self.restarts = restarts
        self.n_startup_trials = n_startup_trials
        self._init_caches()  # per history: {space key: replay}

    def __repr__(self) -> str:
        return options_repr(self)

    # --- the optimiser
    def _base_seed(self, history: History) -> int:
        """The seed of the replayed state: the sampler's, or (unseeded) one shared by every worker of the study."""
        return self.seed if self.seed is not None else zlib.crc32(history.study_name.encode())

    def _new_cma(self, history: History, dim: int, restarts: int) -> CMA:
        from cmaes import CMA

        base = self._base_seed(history)
        mean = np.full(dim, 0.5)
        if restarts:  # IPOP: a fresh start somewhere else in the cube
            mean = np.random.default_rng([base, restarts, 1]).uniform(0.1, 0.9, dim)
        popsize = self.population_size or (4 + math.floor(3 * math.log(dim)))
        return CMA(
            mean=mean,
            sigma=self.sigma0,
            bounds=np.tile([0.0, 1.0], (dim, 1)),
            seed=int(np.random.default_rng([base, restarts, 2]).integers(2**31)),
            population_size=popsize * 2**restarts,
        )

    def optimizer(self, history: History) -> tuple[CMA, int, dict[str, Distribution]] | None:
        """The replayed CMA, its number of restarts and its space; None before the first CMA proposal.

        Exposed for inspection (tests, diagnostics): ``cma.population_size`` doubles at each IPOP restart.
        """
        space: dict[str, Distribution] = {
            k: d for k, d in sorted(intersection_space(history).items()) if not isinstance(d, CategoricalDistribution)
        }
        if not space:
            return None
        completed = history.completed()
        if len(completed) < max(self.n_startup_trials, 1):
            return None
        with self._lock:
            replays = self._states.get(history)
            if replays is None:
                replays = self._states[history] = {}
            key = (self._base_seed(history), *space.items())
            replay = replays.get(key)
            if replay is None:
                if len(replays) > 8:
                    replays.clear()
                replay = replays[key] = _Replay(_Snapshot(0, self._new_cma(history, len(space), 0), 0))
            self._advance(history, replay, space, completed[self.n_startup_trials :])
            last = replay.snapshots[-1]
            return last.cma, last.restarts, space

    def _advance(
        self, history: History, replay: _Replay, space: dict[str, Distribution], completed: list[FrozenTrial]
    ) -> None:
        keep = first_mismatch(replay.numbers, completed)  # a trial completed out of order invalidates the rest
        if keep < len(replay.numbers):
            del replay.numbers[keep:]
            while replay.snapshots[-1].told > keep:
                replay.snapshots.pop()
        dists = list(space.values())
        names = list(space)
        last = replay.snapshots[-1]
        told = last.told
        for t in completed[len(replay.numbers) :]:
            replay.numbers.append(t.number)
        pending = completed[told:]
        while len(pending) >= last.cma.population_size:
            generation = pending[: last.cma.population_size]
            pending = pending[last.cma.population_size :]
            cma = copy.deepcopy(last.cma)
            solutions = [
                (np.array([d.to_unit(t.params[n]) for n, d in zip(names, dists, strict=True)]), history.loss(t))
                for t in generation
            ]
            cma.tell(solutions)
            told += len(generation)
            restarts = last.restarts
            if self.restarts == "ipop" and cma.should_stop():
                restarts += 1
                cma = self._new_cma(history, len(names), restarts)
            last = _Snapshot(told, cma, restarts)
            replay.snapshots.append(last)

    # --- the sampler contract
    def sample_joint(self, history: History, trial: FrozenTrial) -> dict[str, Any]:
        state = self.optimizer(history)
        if state is None:
            return {}
        cma, _, space = state
        rng = self.rng(trial, _JOINT_SALT)
        with self._lock:
            cma.reseed_rng(int(rng.integers(2**31)))  # the proposal depends on the trial, not on earlier asks
            x = cma.ask()
        out: dict[str, Any] = {}
        for (name, dist), u in zip(space.items(), x, strict=True):
            value = dist.from_unit(float(u))
            out[name] = value if dist.contains(value) else dist.from_unit(float(rng.random()))
        return out

    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        return dist.from_unit(float(self.rng(trial, name).random()))
