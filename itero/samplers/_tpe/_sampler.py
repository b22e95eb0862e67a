"""The TPE sampler: splits the history into below and above groups and proposes the best ``l(x) / g(x)``."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from itero._ranking import mo_select, smallest
from itero._spec import options_repr
from itero._validation import check_bool, check_float, check_int
from itero.samplers._base import BaseSampler, PerHistoryCache
from itero.samplers._tpe._parzen import Joint, Numeric1D, categorical_probs, default_weights, pick, reduce_kernels, snap
from itero.samplers._tpe._state import COMPLETE, PRUNED, RUNNING, Column, State
from itero.space import CategoricalDistribution, Distribution
from itero.trial import FrozenTrial, History

_JOINT_SALT = "__tpe_joint__"
_Rng = np.random.Generator
GammaSpec = float | Callable[[int], int] | None


def default_gamma(n: int) -> int:
    """Optuna's default size of the below group: ``min(ceil(0.1 * n), 25)``."""
    return min(math.ceil(0.1 * n), 25)


def default_gamma_multiobjective(n: int) -> int:
    """Optuna's default size of the below group for several objectives: ``ceil(0.1 * n)``, not capped."""
    return math.ceil(0.1 * n)


class TPE(PerHistoryCache, BaseSampler):
    """Tree-structured Parzen Estimator (Optuna's default sampler), univariate or multivariate.

    Options:

    - ``seed``: makes every trial's proposal a function of (seed, trial number, history).
    - ``n_startup_trials`` (>= 0): finished trials (complete or pruned) sampled uniformly before TPE starts.
    - ``n_ei_candidates`` (>= 1): candidates drawn from the below model; the best ``l/g`` ratio wins.
    - ``multivariate``: model the parameters every finished trial has as one joint density (in
      ``sample_joint``); other parameters are sampled one by one. Null (the default) means as in Optuna 5:
      joint for a single objective, one by one for several.
    - ``gamma``: size of the below group from the number ``n`` of finished trials: ``None`` for Optuna's
      ``min(ceil(0.1 n), 25)`` (``ceil(0.1 n)`` with several objectives), a fraction in ``(0, 1]`` for ``ceil(gamma n)``, or a callable ``n -> int``.
    - ``constant_liar``: trials still running count in the above group, so parallel workers spread out.
    - ``prior_weight`` (> 0): weight of the prior component (a wide Gaussian, or uniform categories).
    - ``consider_endpoints``: let the range's ends widen the kernels next to them (Optuna's option).
    - ``random_fraction`` (in [0, 1)): the share of trials proposed uniformly at random after the start-up
      trials too (drawn per trial from the seed and its number), as BOHB does, so that a model that settled on
      one region still sees the rest of the space.

    Hook: a subclass that overrides ``model_losses(losses, trial)`` models, for each trial it proposes, the
    single objective that method returns for the complete trials (ParEGO's scalarisations) instead of the
    study's objectives; everything else (parameter columns, the split, the estimators) is unchanged.

        >>> import itero
        >>> study = itero.create_study("demo", storage="sqlite://", sampler=TPE(seed=0, n_startup_trials=5))
        >>> study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2, n_trials=30, show_progress=False)
        >>> abs(study.best_trial.params["x"] - 1) < 1
        True
    """

    name = "tpe"
    supports_multi_objective: ClassVar[bool] = True
    _CACHE_ATTRS: ClassVar[tuple[str, ...]] = ("_states", "_lock", "_view", "_models")

    def __init__(
        self,
        seed: int | None = None,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        multivariate: bool | None = None,
        gamma: GammaSpec = None,
        constant_liar: bool = True,
        prior_weight: float = 1.0,
        consider_endpoints: bool = False,
        random_fraction: float = 0.0,
    ) -> None:
        super().__init__(seed)
        check_int("tpe", "n_startup_trials", n_startup_trials, 0)
        check_int("tpe", "n_ei_candidates", n_ei_candidates, 1)
        check_bool("tpe", "multivariate", multivariate, allow_none=True)
        check_bool("tpe", "constant_liar", constant_liar)
        check_bool("tpe", "consider_endpoints", consider_endpoints)
        if not callable(gamma):
            check_float(
                "tpe",
                "gamma",
                gamma,
                0,
                1,
                low_open=True,
                allow_none=True,
                expected="null (Optuna's min(ceil(0.1 n), 25)), a fraction in (0, 1] or a callable n -> int",
            )
        check_float("tpe", "prior_weight", prior_weight, 0, low_open=True)
        check_float("tpe", "random_fraction", random_fraction, 0.0, 1.0, high_open=True)
        self.n_startup_trials = n_startup_trials
        self.n_ei_candidates = n_ei_candidates
        self.multivariate = multivariate
        self.gamma = gamma
        self.constant_liar = constant_liar
        self.prior_weight = float(prior_weight)
        self.consider_endpoints = consider_endpoints
        self.random_fraction = float(random_fraction)
        self._salt = int(np.random.default_rng().integers(2**32))  # without a seed: still one draw per trial
        self._init_caches()

    def _init_caches(self) -> None:
        super()._init_caches()
        self._view: tuple[weakref.ref[History], int, int, State] | None = None  # see ``_state``
        self._models: dict[tuple[Any, ...], Joint | Numeric1D] = {}  # see ``_model``

    def __repr__(self) -> str:
        return options_repr(self)

    # --- the model
    def _n_below(self, n: int, n_obj: int = 1) -> int:
        g = self.gamma
        if g is None:
            k = default_gamma(n) if n_obj == 1 else default_gamma_multiobjective(n)
        elif callable(g):
            k = int(g(n))
        else:
            k = math.ceil(float(g) * n)
        return min(max(k, 0), n)

    def model_losses(self, losses: np.ndarray, trial: FrozenTrial) -> np.ndarray:
        """Hook for samplers built on TPE: the single objective to model when proposing ``trial``.

        ``losses`` holds one row per complete trial (in order of number) of its objectives to minimise; the
        result holds one value per row. TPE never calls its own version (it models the study's objectives); a
        subclass that overrides it gets, for each trial, a single-objective model of these values, in which
        pruned trials rank by the step they reached only (called only when some trial is complete). ParEGO's
        random scalarisations use it.
        """
        raise NotImplementedError

    def _state(self, history: History, trial: FrozenTrial | None = None) -> State:
        """The model state of ``history``, or for ``trial`` its single-objective copy when ``model_losses`` is
        overridden (the latest copy is kept until the history or the trial changes)."""
        state = self._states.get(history)
        if state is None:
            state = State(history)
            self._states[history] = state
        state.refresh(history)
        if trial is None or type(self).model_losses is TPE.model_losses:
            return state
        last = self._view
        if last is not None and last[0]() is history and last[1:3] == (history.version, trial.number):
            return last[3]
        complete = np.flatnonzero(state.status[: state.size] == COMPLETE)
        losses = self.model_losses(state.mo[complete], trial) if len(complete) else np.empty(0)
        view = state.with_losses(complete, losses)
        self._view = (weakref.ref(history), history.version, trial.number, view)
        return view

    def _split(self, state: State, cols: Sequence[Column], number: int) -> tuple[np.ndarray, np.ndarray]:
        """Slots (trial numbers, ascending) of the below and above groups among trials having every column."""
        n = state.size
        status = state.status[:n]
        elig = status >= 0 if self.constant_liar else (status >= 0) & (status != RUNNING)
        for col in cols:
            u = col.u[:n]
            elig &= u == u  # not NaN
        if 0 <= number < n:
            elig[number] = False
        key = (n, np.packbits(elig).tobytes())
        hit = state.splits.get(key)
        if hit is not None:
            return hit
        comp = np.flatnonzero(elig & (status == COMPLETE))
        pruned = np.flatnonzero(elig & (status == PRUNED))
        k = self._n_below(len(comp) + len(pruned), state.n_obj)
        bad = state.viol[comp] > 0
        infeasible = comp[bad]
        if len(infeasible):
            comp = comp[~bad]
        if k <= len(comp):
            if state.n_obj == 1:
                pick = smallest(state.loss[comp], k)
            else:  # crowding distance does well for 2 objectives (better than HSSP on ZDT2), poorly for more
                pick = mo_select(state.mo[comp], k, "hssp" if state.n_obj > 2 else "crowding")
            below = comp[pick]
        else:
            order = np.lexsort((pruned, state.loss[pruned], -state.step[pruned]))
            parts = [comp, pruned[order[: k - len(comp)]]]
            if k > len(comp) + len(pruned):  # then the infeasible trials of least violation
                least = np.lexsort((infeasible, state.viol[infeasible]))
                parts.append(infeasible[least[: k - len(comp) - len(pruned)]])
            below = np.sort(np.concatenate(parts))
        elig[below] = False
        result = (below, np.flatnonzero(elig))
        if len(state.splits) > 64:
            state.splits.clear()
        state.splits[key] = result
        return result

    def _explores(self, trial: FrozenTrial) -> bool:
        """Whether ``trial`` is one of the ``random_fraction`` proposed uniformly (the same answer for every
        parameter of the trial)."""
        if self.random_fraction <= 0.0:
            return False
        key = self.seed if self.seed is not None else self._salt
        return float(np.random.default_rng([key, trial.number, 0x5EED]).random()) < self.random_fraction

    def _uniform(self, rng: np.random.Generator, dist: Distribution) -> Any:
        return dist.from_unit(float(rng.random()))

    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        rng = self.rng(trial, name)
        if dist.is_single():
            return dist.from_unit(0.5)
        with self._lock:
            state = self._state(history, trial)
            if state.n_finished < self.n_startup_trials or self._explores(trial):
                return self._uniform(rng, dist)
            col = state.column(name, dist)
            below, above = self._split(state, [col], trial.number)
            value = self._sample_one(rng, state, col, below, above)
        if not dist.contains(value):  # cannot happen with from_unit; be safe rather than fail a trial
            return self._uniform(rng, dist)
        return value

    @staticmethod
    def _weights(state: State, below: np.ndarray, above: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kernel weights of the two groups: Optuna's ramp by age, but flat for the below group of several
        objectives (whose order by number says nothing about quality), as in Optuna 5."""
        wb = np.ones(len(below)) if state.n_obj > 1 else default_weights(len(below))
        return wb, default_weights(len(above))

    def _sample_one(self, rng: _Rng, state: State, col: Column, below: np.ndarray, above: np.ndarray) -> Any:
        dist = col.dist
        size = self.n_ei_candidates
        wb, wa = self._weights(state, below, above)
        if isinstance(dist, CategoricalDistribution):
            nc = len(dist.choices)
            pb = categorical_probs(col.u[below].astype(np.intp), wb, self.prior_weight, nc)
            pa = categorical_probs(col.u[above].astype(np.intp), wa, self.prior_weight, nc)
            cand = pick(pb, rng.random(size))
            score = np.log(pb[cand]) - np.log(pa[cand])
            return dist.choices[int(cand[int(np.argmax(score))])]
        below, wb = reduce_kernels(below, wb)
        above, wa = reduce_kernels(above, wa)
        lb = self._below_1d(col.u[below], wb)
        la = Numeric1D(col.u[above], wa, self.prior_weight, self.consider_endpoints)
        u, values = snap(dist, lb.sample(rng, size))
        best = int(np.argmax(lb.log_pdf(u) - la.log_pdf(u)))
        return values[best] if values is not None else dist.from_unit(float(u[best]))

    def _below_joint(self, cols: Sequence[Column], slots: np.ndarray, weights: np.ndarray) -> Joint:
        """The joint estimator of the below group (``slots``), kept while the group does not change."""
        obs = [c.u[slots] for c in cols]
        kinds = tuple((c.categorical, c.n_choices) for c in cols)
        model = self._cached(
            ("joint", kinds, weights, *obs),
            lambda: Joint(cols, obs, weights, self.prior_weight, self.consider_endpoints),
        )
        assert isinstance(model, Joint)
        return model

    def _below_1d(self, mus: np.ndarray, weights: np.ndarray) -> Numeric1D:
        """The univariate estimator of the below group's values ``mus``, kept while they do not change."""
        model = self._cached(
            ("1d", weights, mus), lambda: Numeric1D(mus, weights, self.prior_weight, self.consider_endpoints)
        )
        assert isinstance(model, Numeric1D)
        return model

    def _cached(self, parts: tuple[Any, ...], build: Callable[[], Joint | Numeric1D]) -> Joint | Numeric1D:
        """The latest estimators, keyed by everything they are built from (arrays by their bytes, and the
        options), so a group that did not change since the last trial (usually the below group) is not built
        again; estimators are not modified once built."""
        key = (
            self.prior_weight,
            self.consider_endpoints,
            *(p.tobytes() if isinstance(p, np.ndarray) else p for p in parts),
        )
        model = self._models.pop(key, None)
        if model is None:
            model = build()
            if len(self._models) >= 16:
                del self._models[next(iter(self._models))]
        self._models[key] = model  # most recently used last
        return model

    def is_multivariate(self, history: History) -> bool:
        """``multivariate``, or when it is null (the default), whether the study has a single objective."""
        if self.multivariate is not None:
            return self.multivariate
        return len(history.objective_names) == 1

    def sample_joint(self, history: History, trial: FrozenTrial) -> dict[str, Any]:
        if not self.is_multivariate(history):
            return {}
        with self._lock:
            state = self._state(history, trial)
            if state.n_finished < self.n_startup_trials or self._explores(trial):
                return {}
            space = state.intersection()
            if not space:
                return {}
            names = sorted(space)
            cols = [state.column(n, space[n]) for n in names]
            below, above = self._split(state, cols, trial.number)
            wb, wa = self._weights(state, below, above)
            below, wb = reduce_kernels(below, wb)
            above, wa = reduce_kernels(above, wa)
            lb = self._below_joint(cols, below, wb)
            la = Joint(cols, [c.u[above] for c in cols], wa, self.prior_weight, self.consider_endpoints)
        rng = self.rng(trial, _JOINT_SALT)
        xs = lb.sample(rng, self.n_ei_candidates)
        snapped: list[list[Any] | None] = []
        for j, col in enumerate(cols):
            if col.categorical:
                snapped.append(None)
            else:
                xs[j], values = snap(col.dist, xs[j])
                snapped.append(values)
        best = int(np.argmax(lb.log_pdf(xs) - la.log_pdf(xs)))
        out: dict[str, Any] = {}
        for j, col in enumerate(cols):
            dist = col.dist
            values = snapped[j]
            if isinstance(dist, CategoricalDistribution):
                value: Any = dist.choices[int(xs[j][best])]
            elif values is not None:
                value = values[best]
            else:
                value = dist.from_unit(float(xs[j][best]))
            out[col.name] = value if dist.contains(value) else self._uniform(rng, dist)
        return out
