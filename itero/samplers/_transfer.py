"""Warm start: earlier studies (sources) shape the proposals of any sampler, as far as they predict this study.

``create_study(..., warm_start_from=["last-week"])`` wraps the study's sampler in ``Transfer``:

1. the first trials try each source's best configuration (one per source);
2. then each new trial is, with probability ``w`` (the weight of a source drawn in proportion to the weights,
   at most ``MAX_SHARE``), drawn near one of that source's best configurations (its best ``GAMMA`` fraction):
   numbers moved by a Gaussian step of ``BANDWIDTH`` of their range (in the unit cube, so log ranges move by
   ratios), categories kept with probability ``1 - BANDWIDTH``; parameters the source lacks, and every other
   trial, come from the study's own sampler.

A source's weight is how well it ranks this study's trials (in the spirit of RGPE's ranking weights): Kendall's
tau between the final values of this study's trials (or their values at the furthest step enough of them reached)
and the values the source predicts
for their configurations (the mean of its ``NEIGHBOURS`` nearest trials), floored at 0. Until ``MIN_RANKED``
trials can be ranked every source weighs ``PRIOR_WEIGHT``; a source that ranks this study's trials at random or
backwards then weighs nothing, so a misleading source costs its first trial and a few draws.

    >>> src = Source("old", [{"x": 0.1}, {"x": 0.9}], [1.0, 0.0])
    >>> src.best_params()
    {'x': 0.9}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from itero.samplers._base import BaseSampler, PerHistoryCache
from itero.space import CategoricalDistribution, Distribution
from itero.trial import FrozenTrial, History, TrialState

GAMMA = 0.1  # a source's best fraction, the configurations new trials are drawn near
BANDWIDTH = 0.1  # the step of a draw, as a share of a parameter's unit range
MAX_SHARE = 0.5  # at most this share of new trials is drawn near a source
PRIOR_WEIGHT = 0.5  # a source's weight before MIN_RANKED trials can be ranked
MIN_RANKED = 5
NEIGHBOURS = 3
_SALT = "__transfer__"


@dataclass(frozen=True)
class Source:
    """An earlier study as the warm start sees it: its complete trials' parameters and losses (its first
    objective, negated when maximised, so lower is better)."""

    name: str
    params: Sequence[Mapping[str, Any]]
    losses: Sequence[float]
    _order: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.params) != len(self.losses) or not self.params:
            raise ValueError(f"source {self.name!r}: needs as many losses as parameter sets, and at least one")
        object.__setattr__(self, "_order", np.argsort(np.asarray(self.losses, dtype=float), kind="stable"))

    def best_params(self, rank: int = 0) -> dict[str, Any]:
        """The parameters of its ``rank``-th best trial (0: the best)."""
        return dict(self.params[int(self._order[rank])])

    def n_best(self) -> int:
        """How many of its best trials new trials are drawn near."""
        return max(1, math.ceil(GAMMA * len(self.params)))

    def predict(self, rows: Sequence[Mapping[str, Any]], dists: Mapping[str, Distribution]) -> np.ndarray:
        """The mean loss of the ``NEIGHBOURS`` source trials nearest each row of parameters: Euclidean in the
        unit cube of ``dists`` over the names the source has, a different category or a missing value counting
        as the whole range."""
        names = [n for n in dists if any(n in p for p in self.params)]
        src, dst = _unit(self.params, names, dists), _unit(rows, names, dists)
        gap = np.abs(dst[:, None, :] - src[None, :, :])
        categorical = np.array([isinstance(dists[n], CategoricalDistribution) for n in names], dtype=bool)
        gap[:, :, categorical] = np.minimum(gap[:, :, categorical], 1.0)  # indices: equal or not
        dist2 = (np.where(np.isnan(gap), 1.0, gap) ** 2).sum(axis=2)
        k = min(NEIGHBOURS, len(self.params))
        nearest = np.argpartition(dist2, k - 1, axis=1)[:, :k]
        return np.asarray(self.losses, dtype=float)[nearest].mean(axis=1)


def _unit(rows: Sequence[Mapping[str, Any]], names: Sequence[str], dists: Mapping[str, Distribution]) -> np.ndarray:
    """Rows of parameters as ``_to_unit`` values (NaN where a row lacks a name)."""
    out = np.full((len(rows), len(names)), np.nan)
    for j, name in enumerate(names):
        for i, row in enumerate(rows):
            if name in row:
                out[i, j] = _to_unit(dists[name], row[name])
    return out


def _to_unit(dist: Distribution, value: Any) -> float:
    """A number's place in ``dist``'s unit range (clipped to it), a category's index; NaN for a value of
    another kind."""
    if isinstance(dist, CategoricalDistribution):
        return float(dist.index(value)) if dist.contains(value) else math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return math.nan
    if dist.log and value <= 0:
        return math.nan
    return float(dist.to_unit(value))


class Transfer(PerHistoryCache, BaseSampler):
    """The study's own ``sampler``, warm-started from ``sources`` (see the module docstring)."""

    supports_multi_objective = True

    def __init__(self, sampler: BaseSampler, sources: Sequence[Source]) -> None:
        super().__init__(sampler.seed)
        if not sources:
            raise ValueError("Transfer needs at least one source")
        self.base = sampler
        self.sources = tuple(sources)
        self.name = sampler.name  # type: ignore[misc]  # the study's sampler, as it is stored
        self._plans: dict[int, tuple[int, dict[str, Any], bool] | None] = {}
        self._weights: tuple[int, int, np.ndarray] = (-1, -1, np.full(len(self.sources), PRIOR_WEIGHT))
        self._init_caches()  # the lock (not pickled to worker processes)

    def __repr__(self) -> str:
        return f"Transfer({self.base!r}, sources={[s.name for s in self.sources]})"

    def check_objectives(self, directions: dict[str, str]) -> None:
        self.base.check_objectives(directions)

    def is_exhausted(self, history: History) -> bool:
        return self.base.is_exhausted(history)

    # ------------------------------------------------------------------ weights
    def weights(self, history: History) -> np.ndarray:
        """Each source's weight for this study as it stands (see the module docstring)."""
        with self._lock:
            key = (id(history), history.version)
            if self._weights[:2] == key:
                return self._weights[2]
            ranked = _comparable(history)
            if ranked is None:
                w = np.full(len(self.sources), PRIOR_WEIGHT)
            else:
                rows, values, dists = ranked
                w = np.array([_tau(src.predict(rows, dists), values) for src in self.sources])
            self._weights = (*key, w)
            return w

    # ------------------------------------------------------------------ proposals
    def _plan(self, history: History, trial: FrozenTrial) -> tuple[int, dict[str, Any], bool] | None:
        """For ``trial``: (source, its configuration to start from, whether to move it), or None to leave the
        trial to the study's sampler; decided once per trial."""
        with self._lock:
            if trial.number in self._plans:
                return self._plans[trial.number]
        if trial.number < len(self.sources):  # one best configuration per source first
            plan: tuple[int, dict[str, Any], bool] | None = (
                trial.number,
                self.sources[trial.number].best_params(),
                False,
            )
        else:
            w = self.weights(history)
            rng = self.rng(trial, _SALT)
            share = min(MAX_SHARE, float(w.max(initial=0.0)))
            if w.sum() <= 0 or rng.random() >= share:
                plan = None
            else:
                k = int(rng.choice(len(w), p=w / w.sum()))
                src = self.sources[k]
                plan = (k, src.best_params(int(rng.integers(src.n_best()))), True)
        with self._lock:
            if len(self._plans) > 4096:
                self._plans.clear()
            self._plans[trial.number] = plan
        return plan

    def sample_joint(self, history: History, trial: FrozenTrial) -> dict[str, Any]:
        if self._plan(history, trial) is not None:
            return {}  # each parameter in ``sample``, from the source's configuration
        return self.base.sample_joint(history, trial)

    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        plan = self._plan(history, trial)
        if plan is None or name not in plan[1]:
            return self.base.sample(history, trial, name, dist)
        value, move = plan[1][name], plan[2]
        u = _to_unit(dist, value)
        if math.isnan(u):
            return self.base.sample(history, trial, name, dist)
        rng = self.rng(trial, _SALT + name)
        if isinstance(dist, CategoricalDistribution):
            if move and rng.random() < BANDWIDTH:
                return dist.choices[int(rng.integers(len(dist.choices)))]
            return value
        if move:
            u = min(1.0, max(0.0, u + BANDWIDTH * float(rng.standard_normal())))
        out = dist.from_unit(u)
        return out if dist.contains(out) else self.base.sample(history, trial, name, dist)


def _comparable(history: History) -> tuple[list[dict[str, Any]], np.ndarray, dict[str, Distribution]] | None:
    """This study's trials with a finite first objective in the furthest group of at least ``MIN_RANKED``:
    the complete trials' final values, else the values reported at the furthest step that many reached; their
    parameters, losses and distributions. None before any group has ``MIN_RANKED``."""
    name = history.objective_names[0]
    sign = -1.0 if history.directions[name] == "maximize" else 1.0
    groups: dict[float, list[tuple[FrozenTrial, float]]] = {}
    for t in history.trials:
        if t.state in (TrialState.FAILED, TrialState.WAITING):
            continue
        seen = [(float(step), metrics.get(name)) for step, metrics in t.reports.items()]
        if t.state == TrialState.COMPLETE:
            seen.append((math.inf, t.metrics.get(name)))
        for key, v in seen:
            if v is not None and math.isfinite(v):
                groups.setdefault(key, []).append((t, sign * v))
    keys = [k for k, got in groups.items() if len(got) >= MIN_RANKED]
    if not keys:
        return None
    got = groups[max(keys)]
    dists: dict[str, Distribution] = {}
    for t, _ in got:
        dists.update(t.distributions)
    return [dict(t.params) for t, _ in got], np.array([v for _, v in got]), dists


def _tau(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Kendall's tau of the source's predictions against this study's values, floored at 0 (NaN counts 0)."""
    if np.ptp(predicted) == 0 or np.ptp(actual) == 0:
        return 0.0
    tau = kendalltau(predicted, actual).statistic
    return max(0.0, float(tau)) if np.isfinite(tau) else 0.0


__all__ = ["BANDWIDTH", "GAMMA", "MAX_SHARE", "MIN_RANKED", "PRIOR_WEIGHT", "Source", "Transfer"]
