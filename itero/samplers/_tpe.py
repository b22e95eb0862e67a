"""Tree-structured Parzen Estimator (TPE): Bayesian optimisation by density ratio, as in Optuna.

The finished trials are split into a *below* group (the best ``gamma(n)`` of them) and an *above* group
(the rest, plus pruned trials and, with the constant liar, trials still running). Each group is modelled by a
Parzen estimator in the unit cube — truncated Gaussians for numbers, Aitchison-Aitken-like kernels for
categories, each group mixed with a wide prior — and the sampler proposes the candidate, drawn from the below
model, that maximises ``l(x) / g(x)``. The first ``n_startup_trials`` finished trials are sampled uniformly.

    >>> import itero
    >>> sampler = itero.samplers.TPE(seed=0)                      # joint for one objective, as in Optuna 5
    >>> sampler = itero.samplers.TPE(seed=0, multivariate=False)  # one parameter at a time
    >>> itero.samplers.make_sampler({"name": "tpe", "seed": 0, "n_startup_trials": 5})
    TPE(seed=0, n_startup_trials=5)

Details:

- Integers, stepped floats and log ranges are modelled in the unit cube of their distribution (log space for
  log ranges), so every proposal goes through ``dist.from_unit`` and is inside the range.
- Conditional parameters (present in some trials only) are fitted on the trials that have them.
- Pruned (and paused) trials rank after every complete trial — by the step they reached, descending, then by
  their last reported value — so they mostly land in the above group. Failed trials are ignored.
- Multi-objective studies are split by non-dominated rank (MOTPE-like); the last front needed is cut by
  crowding distance for 2 objectives, by greedy hypervolume subset selection (as Optuna 5) for 3 or more. As
  in Optuna 5, the below group is then ``ceil(0.1 n)`` trials (not capped at 25) and its kernels weigh the same.
- Bandwidths follow Optuna 5: for each parameter, the larger gap to a neighbouring observation (the prior's
  centre is not one), clipped to ``[1 / min(100, n + 2), 1]`` of the range; the joint model uses the same
  per-parameter bandwidths.
- Constraints (``trial.set_constraints``), as in Optuna: infeasible complete trials rank after every feasible
  and pruned trial, by total violation, so they mostly land in the above group.
- The model state is cached per :class:`~itero.trial.History` and updated incrementally as trials change, and
  large groups are merged into at most ``_MAX_KERNELS`` weighted kernels, so a suggestion costs about the same
  at 100 and at 10,000 finished trials.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.special import ndtr, ndtri

from itero._ranking import mo_select, smallest
from itero._spec import options_repr
from itero.exceptions import ConfigError
from itero.samplers._base import BaseSampler, PerHistoryCache
from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History, TrialState

# A group (below or above) with more trials than this is merged into this many kernels: consecutive trials (by
# number) are represented by their middle one carrying their summed weight.
_MAX_KERNELS = 256
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_JOINT_SALT = "__tpe_joint__"

# Trial status codes in the cache.
_IGNORED = -1  # failed, or never seen
_COMPLETE = 0  # complete with a finite value for every objective
_PRUNED = 1  # pruned, paused, or complete without valid values: ranked after every complete trial
_RUNNING = 2  # running or waiting: counted in the above group when the constant liar is on

_PRUNED_STATES = (TrialState.PRUNED, TrialState.PAUSED)
_RUNNING_STATES = (TrialState.RUNNING, TrialState.WAITING)

_Rng = np.random.Generator
GammaSpec = float | Callable[[int], int] | None


def default_gamma(n: int) -> int:
    """Optuna's default size of the below group: ``min(ceil(0.1 * n), 25)``."""
    return min(math.ceil(0.1 * n), 25)


def default_gamma_multiobjective(n: int) -> int:
    """Optuna's default size of the below group for several objectives: ``ceil(0.1 * n)``, not capped."""
    return math.ceil(0.1 * n)


def default_weights(n: int) -> np.ndarray:
    """Optuna's weights of ``n`` trials in order of number: flat for the 25 newest, a ramp for older ones."""
    if n == 0:
        return np.empty(0)
    if n < 25:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, num=n - 25), np.ones(25)])


# --------------------------------------------------------------------------------------------- the cache
class _Values:
    """The raw values of one parameter name, indexed by trial number (NaN where absent or not a number)."""

    __slots__ = ("isint", "logx", "present", "x")

    def __init__(self, capacity: int) -> None:
        self.x = np.full(capacity, np.nan)
        self.logx = np.full(capacity, np.nan)
        self.isint = np.zeros(capacity, dtype=bool)
        self.present = np.zeros(capacity, dtype=bool)

    def grow(self, extra: int) -> None:
        self.x = np.concatenate([self.x, np.full(extra, np.nan)])
        self.logx = np.concatenate([self.logx, np.full(extra, np.nan)])
        self.isint = np.concatenate([self.isint, np.zeros(extra, dtype=bool)])
        self.present = np.concatenate([self.present, np.zeros(extra, dtype=bool)])

    def set(self, slot: int, value: Any) -> None:
        self.present[slot] = True
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.x[slot] = self.logx[slot] = np.nan
            self.isint[slot] = False
            return
        x = float(value)
        self.x[slot] = x
        self.logx[slot] = math.log(x) if x > 0 else np.nan
        self.isint[slot] = isinstance(value, int)

    def clear(self, slot: int) -> None:
        self.x[slot] = self.logx[slot] = np.nan
        self.isint[slot] = self.present[slot] = False


def _numeric_unit(
    dist: FloatDistribution | IntDistribution, x: np.ndarray, logx: np.ndarray, isint: np.ndarray
) -> np.ndarray:
    """Vectorised ``dist.to_unit`` where ``dist.contains`` the value, NaN elsewhere. Only comparisons, +, -
    and * act on the arrays, so one element or many give bit-identical results."""
    ok = (x >= dist.low) & (x <= dist.high)
    if isinstance(dist, IntDistribution):
        ok &= isint
        if dist.step != 1:
            ok &= np.fmod(x - dist.low, dist.step) == 0
    elif dist.step is not None:
        k = (x - dist.low) / dist.step
        ok &= np.abs(k - np.rint(k)) < 1e-6
    if dist.log:
        g, g_lo, g_hi = logx, math.log(dist.low), math.log(dist.high)
    else:
        g, g_lo, g_hi = x, float(dist.low), float(dist.high)
    u_lo = dist.to_unit(dist.low)
    if g_hi == g_lo:
        u = np.full(len(x), u_lo)
    else:
        u = np.clip((g - g_lo) * ((dist.to_unit(dist.high) - u_lo) / (g_hi - g_lo)) + u_lo, 0.0, 1.0)
    return np.where(ok, u, np.nan)


class _Column:
    """One parameter for one distribution, in the unit cube and indexed by trial number; NaN where a trial
    lacks the parameter or its value is not in the distribution. Categories are stored as their index."""

    __slots__ = ("categorical", "dist", "n_choices", "name", "u")

    def __init__(self, name: str, dist: Distribution, u: np.ndarray) -> None:
        self.name = name
        self.dist = dist
        self.categorical = isinstance(dist, CategoricalDistribution)
        self.n_choices = len(dist.choices) if isinstance(dist, CategoricalDistribution) else 0
        self.u = u

    def set(self, slot: int, value: Any, values: _Values) -> None:
        d = self.dist
        if isinstance(d, CategoricalDistribution):
            self.u[slot] = float(d.index(value)) if d.contains(value) else np.nan
        else:
            s = slice(slot, slot + 1)
            self.u[s] = _numeric_unit(d, values.x[s], values.logx[s], values.isint[s])


_MAX_COLUMNS = 64  # (name, distribution) columns kept per history, least recently used dropped first


class _State:
    """What TPE keeps of one history: per-trial status and losses, and parameter values, indexed by number.

    ``refresh`` finds the trials that changed since the last version by identity (unchanged trials are the
    same objects) and updates only their entries.
    """

    def __init__(self, history: History) -> None:
        self.n_obj = len(history.objective_names)
        self.first_sign = -1.0 if history.directions[history.objective_names[0]] == "maximize" else 1.0
        self.first_metric = history.objective_names[0]
        self.version = -1
        self.seen: list[FrozenTrial] = []
        self.capacity = 0
        self.size = 0
        self.objs: list[FrozenTrial | None] = []
        self.status = np.empty(0, dtype=np.int8)
        self.loss = np.empty(0)  # first objective of complete trials (or last reported value of pruned ones)
        self.step = np.empty(0)  # highest step of pruned trials
        self.mo = np.empty((0, self.n_obj))
        self.viol = np.empty(0)  # total constraint violation of complete trials (0 when feasible)
        self.n_finished = 0
        self.values: dict[str, _Values] = {}
        self.columns: dict[tuple[str, Distribution], _Column] = {}
        self.by_name: dict[str, list[_Column]] = {}
        self.isect: dict[str, Distribution] | None = None
        self.isect_dirty = False
        self.splits: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}

    # --- updates
    def _grow(self, slot: int) -> None:
        new = max(2 * self.capacity, slot + 1, 64)
        extra = new - self.capacity
        self.status = np.concatenate([self.status, np.full(extra, _IGNORED, dtype=np.int8)])
        self.loss = np.concatenate([self.loss, np.full(extra, np.inf)])
        self.step = np.concatenate([self.step, np.zeros(extra)])
        self.mo = np.concatenate([self.mo, np.full((extra, self.n_obj), np.inf)])
        self.viol = np.concatenate([self.viol, np.zeros(extra)])
        self.objs.extend([None] * extra)
        for values in self.values.values():
            values.grow(extra)
        for col in self.columns.values():
            col.u = np.concatenate([col.u, np.full(extra, np.nan)])
        self.capacity = new

    def refresh(self, history: History) -> None:
        if history.version == self.version:
            return
        cur = history.trials
        prev = self.seen
        if len(cur) < len(prev):  # histories only grow; if not, look at every trial again
            prev = []
        changed = list(itertools.compress(cur, map(operator.is_not, cur, prev)))
        changed.extend(cur[len(prev) :])
        limit = max(1 << 20, 16 * len(cur))
        objs = self.objs
        for t in changed:
            number = t.number
            if not 0 <= number < limit:  # numbers are dense per study; ignore anything else
                continue
            if number < self.capacity and objs[number] is t:
                continue
            self._update(history, t)
        self.seen = list(cur)  # a copy: the history updates its list in place
        self.version = history.version
        self.splits.clear()

    def _update(self, history: History, t: FrozenTrial) -> None:
        slot = t.number
        if slot >= self.capacity:
            self._grow(slot)
        self.size = max(self.size, slot + 1)
        old = int(self.status[slot])
        state = t.state
        if state == TrialState.COMPLETE and history.is_valid(t):
            new = _COMPLETE
            self.loss[slot] = history.loss(t)
            self.mo[slot] = history.losses(t)
            self.viol[slot] = t.violation if t.system_attrs else 0.0
        elif state == TrialState.COMPLETE or state in _PRUNED_STATES:
            new = _PRUNED
            if state == TrialState.COMPLETE:  # complete without valid values: after every pruned trial
                step, value = -1.0, None
            else:
                step, value = self._last_report(t)
            self.step[slot] = step
            finite = value is not None and math.isfinite(value)
            self.loss[slot] = self.first_sign * value if value is not None and finite else math.inf
            self.mo[slot] = np.inf
            self.viol[slot] = 0.0
        else:
            new = _RUNNING if state in _RUNNING_STATES else _IGNORED
            self.loss[slot] = np.inf
            self.step[slot] = 0.0
            self.mo[slot] = np.inf
            self.viol[slot] = 0.0
        self.status[slot] = new
        self.n_finished += (new in (_COMPLETE, _PRUNED)) - (old in (_COMPLETE, _PRUNED))
        prev = self.objs[slot]
        if old == _COMPLETE and (new != _COMPLETE or prev is None or prev.distributions != t.distributions):
            self.isect_dirty = True
        if new == _COMPLETE and not self.isect_dirty:
            self._intersect(t)
        if prev is not None:
            for name in prev.params.keys() - t.params.keys():  # (parameters are not normally taken back)
                self.values[name].clear(slot)
                for col in self.by_name.get(name, ()):
                    col.u[slot] = np.nan
        self.objs[slot] = t
        for name, value in t.params.items():
            values = self.values.get(name)
            if values is None:
                values = self.values[name] = _Values(self.capacity)
            values.set(slot, value)
            for col in self.by_name.get(name, ()):
                col.set(slot, value, values)

    def _last_report(self, t: FrozenTrial) -> tuple[float, float | None]:
        step = float(t.step)
        value = t.metrics.get(self.first_metric)
        if t.reports:
            last = max(t.reports)
            step = max(step, float(last))
            if value is None:
                value = t.reports[last].get(self.first_metric)
        try:
            return step, None if value is None else float(value)
        except (TypeError, ValueError):
            return step, None

    def _intersect(self, t: FrozenTrial) -> None:
        if self.isect is None:
            self.isect = dict(t.distributions)
        elif self.isect:
            dists = t.distributions
            self.isect = {k: d for k, d in self.isect.items() if dists.get(k) == d}

    # --- reads
    def intersection(self) -> dict[str, Distribution]:
        """Same as ``intersection_space(history)``, kept incrementally."""
        if self.isect_dirty:
            self.isect = None
            self.isect_dirty = False
            for slot in np.flatnonzero(self.status[: self.size] == _COMPLETE):
                t = self.objs[int(slot)]
                if t is not None:
                    self._intersect(t)
        return {k: d for k, d in (self.isect or {}).items() if not d.is_single()}

    def column(self, name: str, dist: Distribution) -> _Column:
        """The column of ``name`` for ``dist``: built once (vectorised for numbers), then kept up to date."""
        key = (name, dist)
        col = self.columns.pop(key, None)
        if col is None:
            col = self._build(name, dist)
            self.by_name.setdefault(name, []).append(col)
            if len(self.columns) >= _MAX_COLUMNS:
                old = self.columns.pop(next(iter(self.columns)))
                self.by_name[old.name].remove(old)
        self.columns[key] = col  # most recently used last
        return col

    def _build(self, name: str, dist: Distribution) -> _Column:
        values = self.values.get(name)
        u = np.full(self.capacity, np.nan)
        if values is not None:
            if isinstance(dist, CategoricalDistribution):
                memo: dict[tuple[type, Any], float] = {}
                objs = self.objs
                for slot in np.flatnonzero(values.present).tolist():
                    t = objs[slot]
                    if t is None or name not in t.params:
                        continue
                    v = t.params[name]
                    try:
                        index = memo[type(v), v]
                    except (KeyError, TypeError):
                        index = float(dist.index(v)) if dist.contains(v) else np.nan
                        with contextlib.suppress(TypeError):
                            memo[type(v), v] = index
                    u[slot] = index
                return _Column(name, dist, u)
            u[:] = _numeric_unit(dist, values.x, values.logx, values.isint)
        return _Column(name, dist, u)


# --------------------------------------------------------------------------------------------- splitting
# --------------------------------------------------------------------------------------------- estimators
def _reduce(slots: np.ndarray, weights: np.ndarray, cap: int = _MAX_KERNELS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``cap`` kernels: runs of consecutive trials become their middle one, with their summed
    weight."""
    n = len(slots)
    if n <= cap:
        return slots, weights
    edges = (np.arange(cap + 1) * n) // cap
    mid = (edges[:-1] + edges[1:]) // 2
    return slots[mid], np.add.reduceat(weights, edges[:-1])


def _mixture_weights(weights: np.ndarray, prior_weight: float) -> np.ndarray:
    w = np.append(weights, prior_weight)
    return w / w.sum()


def _tn_logpdf(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``(len(x), len(mu))`` log densities of Gaussians truncated to [0, 1]."""
    log_z = np.log(np.maximum(ndtr((1.0 - mu) / sigma) - ndtr(-mu / sigma), 1e-300))
    z = (x[:, None] - mu[None, :]) / sigma[None, :]
    return -0.5 * z * z - (np.log(sigma) + _LOG_SQRT_2PI + log_z)[None, :]


def _tn_sample(mu: np.ndarray, sigma: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Inverse-CDF samples of Gaussians truncated to [0, 1] from uniforms ``r``."""
    a = ndtr(-mu / sigma)
    b = ndtr((1.0 - mu) / sigma)
    x = mu + sigma * ndtri(a + r * (b - a))
    return np.clip(np.where(np.isfinite(x), x, mu), 0.0, 1.0)


def _logsumexp(a: np.ndarray) -> np.ndarray:
    m = a.max(axis=1)
    m = np.where(np.isfinite(m), m, 0.0)
    return m + np.log(np.exp(a - m[:, None]).sum(axis=1))


def _pick(weights: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Indices drawn from normalised ``weights`` by uniforms ``r``."""
    cum = np.cumsum(weights)
    return np.minimum(np.searchsorted(cum, r * cum[-1], side="right"), len(weights) - 1)


def _bandwidths(mus: np.ndarray, consider_endpoints: bool) -> np.ndarray:
    """Optuna's bandwidths of kernels at ``mus`` (unit cube): the larger gap to a neighbour (the range's ends
    count as neighbours), clipped below by the magic clip ``1 / min(100, n + 2)`` and above by 1. As in Optuna
    5, the prior's centre is not one of the neighbours."""
    n = len(mus)
    if n == 0:
        return np.empty(0)
    order = np.argsort(mus, kind="stable")
    ext = np.concatenate([[0.0], mus[order], [1.0]])
    sig_sorted = np.maximum(ext[1:-1] - ext[:-2], ext[2:] - ext[1:-1])
    if not consider_endpoints and len(ext) >= 4:
        sig_sorted[0] = ext[2] - ext[1]
        sig_sorted[-1] = ext[-2] - ext[-3]
    sig = np.empty_like(sig_sorted)
    sig[order] = sig_sorted
    return np.clip(sig, 1.0 / min(100.0, 2.0 + n), 1.0)


class _Numeric1D:
    """Univariate Parzen estimator: Optuna's neighbour-distance bandwidths, magic clip, and a prior."""

    def __init__(self, mus: np.ndarray, weights: np.ndarray, prior_weight: float, consider_endpoints: bool):
        self.mu = np.append(mus, 0.5)
        self.sigma = np.append(_bandwidths(mus, consider_endpoints), 1.0)
        self.w = _mixture_weights(weights, prior_weight)
        self.log_w = np.log(self.w)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        k = _pick(self.w, rng.random(size))
        return _tn_sample(self.mu[k], self.sigma[k], rng.random(size))

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        return _logsumexp(_tn_logpdf(x, self.mu, self.sigma) + self.log_w[None, :])


def _categorical_probs(idx: np.ndarray, weights: np.ndarray, prior_weight: float, nc: int) -> np.ndarray:
    """The mixture of Optuna's categorical kernels (one-hot plus ``prior_weight / n_kernels``) and a uniform
    prior, collapsed into one probability vector."""
    n = len(idx)
    w = _mixture_weights(weights, prior_weight)
    a = prior_weight / (n + 1)
    norm = 1.0 + nc * a
    p = np.bincount(idx, weights=w[:n], minlength=nc) / norm
    p += w[:n].sum() * a / norm + w[n] / nc
    return p / p.sum()


class _Joint:
    """Multivariate Parzen estimator: product kernels, plus a prior. As in Optuna 5, each dimension's
    bandwidths follow the univariate neighbour rule (with the magic clip)."""

    def __init__(
        self,
        cols: Sequence[_Column],
        slots: np.ndarray,
        weights: np.ndarray,
        prior_weight: float,
        consider_endpoints: bool,
    ) -> None:
        n = len(slots)
        self.cols = cols
        self.w = _mixture_weights(weights, prior_weight)
        self.log_w = np.log(self.w)
        obs = [c.u[slots] for c in cols]
        self.sigmas = [
            np.empty(0) if c.categorical else np.append(_bandwidths(o, consider_endpoints), 1.0)
            for c, o in zip(cols, obs, strict=True)
        ]
        self.values = [np.append(o, 0.5) for o in obs]  # the prior kernel sits last
        self.a = prior_weight / (n + 1)
        self.n = n

    def sample(self, rng: np.random.Generator, size: int) -> list[np.ndarray]:
        k = _pick(self.w, rng.random(size))
        out = []
        for col, v, sigma in zip(self.cols, self.values, self.sigmas, strict=True):
            if col.categorical:
                nc = col.n_choices
                keep = (rng.random(size) < 1.0 / (1.0 + nc * self.a)) & (k < self.n)
                uniform = rng.integers(0, nc, size)
                out.append(np.where(keep, v[k], uniform).astype(float))
            else:
                out.append(_tn_sample(v[k], sigma[k], rng.random(size)))
        return out

    def log_pdf(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        total = np.broadcast_to(self.log_w, (len(xs[0]), len(self.log_w))).copy()
        for col, v, sigma, x in zip(self.cols, self.values, self.sigmas, xs, strict=True):
            if col.categorical:
                nc = col.n_choices
                norm = 1.0 + nc * self.a
                hit = x[:, None] == v[None, :]
                lp = np.where(hit, math.log((1.0 + self.a) / norm), math.log(self.a / norm))
                lp[:, -1] = -math.log(nc)
                total += lp
            else:
                total += _tn_logpdf(x, v, sigma)
        return _logsumexp(total)


def _is_discrete(dist: Distribution) -> bool:
    if isinstance(dist, FloatDistribution):
        return dist.step is not None
    return isinstance(dist, IntDistribution)


def _snap(dist: Distribution, u: np.ndarray) -> tuple[np.ndarray, list[Any] | None]:
    """For grid distributions, candidates moved to their grid point (so that equal values score equally)."""
    if not _is_discrete(dist):
        return u, None
    values = [dist.from_unit(float(x)) for x in u]
    return np.array([dist.to_unit(v) for v in values]), values


# --------------------------------------------------------------------------------------------- the sampler
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

        >>> import itero
        >>> study = itero.create_study("demo", storage="sqlite://", sampler=TPE(seed=0, n_startup_trials=5))
        >>> study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2, n_trials=30, show_progress=False)
        >>> abs(study.best_trial.params["x"] - 1) < 1
        True
    """

    name = "tpe"
    supports_multi_objective: ClassVar[bool] = True

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
    ) -> None:
        super().__init__(seed)
        _check_int("n_startup_trials", n_startup_trials, 0)
        _check_int("n_ei_candidates", n_ei_candidates, 1)
        if multivariate is not None and not isinstance(multivariate, bool):
            raise ConfigError(f"tpe option 'multivariate' must be true, false or null, got {multivariate!r}")
        for key, flag in (("constant_liar", constant_liar), ("consider_endpoints", consider_endpoints)):
            if not isinstance(flag, bool):
                raise ConfigError(f"tpe option {key!r} must be true or false, got {flag!r}")
        if not (gamma is None or callable(gamma)) and (
            isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 < gamma <= 1
        ):
            raise ConfigError(
                f"tpe option 'gamma' must be null (Optuna's min(ceil(0.1 n), 25)), a fraction in (0, 1] "
                f"or a callable n -> int, got {gamma!r}"
            )
        if (
            isinstance(prior_weight, bool)
            or not isinstance(prior_weight, (int, float))
            or not math.isfinite(prior_weight)
            or prior_weight <= 0
        ):
            raise ConfigError(f"tpe option 'prior_weight' must be a finite number > 0, got {prior_weight!r}")
        self.n_startup_trials = n_startup_trials
        self.n_ei_candidates = n_ei_candidates
        self.multivariate = multivariate
        self.gamma = gamma
        self.constant_liar = constant_liar
        self.prior_weight = float(prior_weight)
        self.consider_endpoints = consider_endpoints
        self._init_caches()

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

    def _state(self, history: History, trial: FrozenTrial | None = None) -> _State:
        """The model state of ``history`` (``trial``, the one being proposed, lets subclasses vary it)."""
        state = self._states.get(history)
        if state is None:
            state = _State(history)
            self._states[history] = state
        state.refresh(history)
        return state

    def _split(self, state: _State, cols: Sequence[_Column], number: int) -> tuple[np.ndarray, np.ndarray]:
        """Slots (trial numbers, ascending) of the below and above groups among trials having every column."""
        n = state.size
        status = state.status[:n]
        elig = status >= 0 if self.constant_liar else (status >= 0) & (status != _RUNNING)
        for col in cols:
            elig &= ~np.isnan(col.u[:n])
        if 0 <= number < n:
            elig[number] = False
        key = (n, np.packbits(elig).tobytes())
        hit = state.splits.get(key)
        if hit is not None:
            return hit
        comp = np.flatnonzero(elig & (status == _COMPLETE))
        pruned = np.flatnonzero(elig & (status == _PRUNED))
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

    def _uniform(self, rng: np.random.Generator, dist: Distribution) -> Any:
        return dist.from_unit(float(rng.random()))

    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        rng = self.rng(trial, name)
        if dist.is_single():
            return dist.from_unit(0.5)
        with self._lock:
            state = self._state(history, trial)
            if state.n_finished < self.n_startup_trials:
                return self._uniform(rng, dist)
            col = state.column(name, dist)
            below, above = self._split(state, [col], trial.number)
            value = self._sample_one(rng, state, col, below, above)
        if not dist.contains(value):  # cannot happen with from_unit; be safe rather than fail a trial
            return self._uniform(rng, dist)
        return value

    @staticmethod
    def _weights(state: _State, below: np.ndarray, above: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kernel weights of the two groups: Optuna's ramp by age, but flat for the below group of several
        objectives (whose order by number says nothing about quality), as in Optuna 5."""
        wb = np.ones(len(below)) if state.n_obj > 1 else default_weights(len(below))
        return wb, default_weights(len(above))

    def _sample_one(self, rng: _Rng, state: _State, col: _Column, below: np.ndarray, above: np.ndarray) -> Any:
        dist = col.dist
        size = self.n_ei_candidates
        wb, wa = self._weights(state, below, above)
        if isinstance(dist, CategoricalDistribution):
            nc = len(dist.choices)
            pb = _categorical_probs(col.u[below].astype(np.intp), wb, self.prior_weight, nc)
            pa = _categorical_probs(col.u[above].astype(np.intp), wa, self.prior_weight, nc)
            cand = _pick(pb, rng.random(size))
            score = np.log(pb[cand]) - np.log(pa[cand])
            return dist.choices[int(cand[int(np.argmax(score))])]
        below, wb = _reduce(below, wb)
        above, wa = _reduce(above, wa)
        lb = _Numeric1D(col.u[below], wb, self.prior_weight, self.consider_endpoints)
        la = _Numeric1D(col.u[above], wa, self.prior_weight, self.consider_endpoints)
        u, values = _snap(dist, lb.sample(rng, size))
        best = int(np.argmax(lb.log_pdf(u) - la.log_pdf(u)))
        return values[best] if values is not None else dist.from_unit(float(u[best]))

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
            if state.n_finished < self.n_startup_trials:
                return {}
            space = state.intersection()
            if not space:
                return {}
            names = sorted(space)
            cols = [state.column(n, space[n]) for n in names]
            below, above = self._split(state, cols, trial.number)
            wb, wa = self._weights(state, below, above)
            below, wb = _reduce(below, wb)
            above, wa = _reduce(above, wa)
            lb = _Joint(cols, below, wb, self.prior_weight, self.consider_endpoints)
            la = _Joint(cols, above, wa, self.prior_weight, self.consider_endpoints)
        rng = self.rng(trial, _JOINT_SALT)
        xs = lb.sample(rng, self.n_ei_candidates)
        snapped: list[list[Any] | None] = []
        for j, col in enumerate(cols):
            if col.categorical:
                snapped.append(None)
            else:
                xs[j], values = _snap(col.dist, xs[j])
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


def _check_int(key: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"tpe option {key!r} must be an integer >= {low}, got {value!r}")
