"""The sampler interface: propose α for a new trial from the study's history.

A sampler is asked twice per trial. ``sample_joint`` runs once when the trial starts and may propose values for
the parameters it expects (those every finished trial had, with the same range); then every ``suggest_*`` the
objective makes that the joint proposal did not cover goes to ``sample``. Define-by-run spaces therefore work with
every sampler: conditional parameters are sampled one by one.

    class Midpoint(BaseSampler):
        name = "midpoint"
        def sample(self, history, trial, name, dist):
            return dist.from_unit(0.5)

Randomness comes from ``self.rng(trial, name)``: a generator seeded from ``(seed, trial number, name)``, so that a
seeded study proposes the same values whichever worker process runs which trial.
"""

from __future__ import annotations

import abc
import threading
import weakref
import zlib
from typing import Any, ClassVar

import numpy as np

from itero._validation import check_int
from itero.exceptions import ConfigError
from itero.space import Distribution
from itero.trial import FrozenTrial, History


class BaseSampler(abc.ABC):
    """Base class of samplers; subclasses implement ``sample`` and may implement ``sample_joint``."""

    name: ClassVar[str] = "base"
    supports_multi_objective: ClassVar[bool] = False

    def __init__(self, seed: int | None = None) -> None:
        check_int(self.name, "seed", seed, allow_none=True)
        self.seed = seed

    def check_objectives(self, directions: dict[str, str]) -> None:
        """Fail early when this sampler cannot serve the study's objectives."""
        if len(directions) > 1 and not self.supports_multi_objective:
            raise ConfigError(
                f"sampler {self.name!r} handles one objective, the study has {len(directions)} "
                f"({', '.join(directions)}); use 'tpe' (multi-objective TPE), 'nsga2', 'parego', 'random', 'sobol' or "
                "'grid'"
            )

    def sample_joint(self, history: History, trial: FrozenTrial) -> dict[str, Any]:
        """Values for parameters proposed together, at the start of ``trial``; ``{}`` by default."""
        return {}

    @abc.abstractmethod
    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        """One value of ``dist`` for parameter ``name`` of ``trial`` (whose ``params`` hold those chosen so far)."""

    def is_exhausted(self, history: History) -> bool:
        """True when the sampler has nothing new to propose (a finished grid); the study then stops."""
        return False

    def rng(self, trial: FrozenTrial, salt: str = "") -> np.random.Generator:
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng([self.seed, trial.number, zlib.crc32(salt.encode())])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed!r})"


class PerHistoryCache:
    """Mixin for samplers that keep a model per ``History`` (weakly keyed) behind a lock. The cache and the lock
    stay behind when the sampler is pickled to a worker process, which rebuilds its own from the store.

        class MySampler(PerHistoryCache, BaseSampler):
            def __init__(self, seed=None):
                super().__init__(seed)
                self._init_caches()
    """

    _CACHE_ATTRS: ClassVar[tuple[str, ...]] = ("_states", "_lock")  # what ``_init_caches`` builds
    _states: weakref.WeakKeyDictionary[History, Any]
    _lock: threading.RLock

    def _init_caches(self) -> None:
        self._states = weakref.WeakKeyDictionary()
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in self._CACHE_ATTRS:
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_caches()


class _Intersection:
    """The intersection over one history's completed trials, kept up to date from the trials that arrive."""

    __slots__ = ("epoch", "seen", "space")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.seen = 0  # arrivals folded in
        self.space: dict[str, Distribution] | None = None  # None before the first trial


_INTERSECTIONS: weakref.WeakKeyDictionary[History, _Intersection] = weakref.WeakKeyDictionary()
_INTERSECTIONS_LOCK = threading.Lock()


def intersection_space(history: History) -> dict[str, Distribution]:
    """Parameters that every finished trial has, with the same range (the space a joint proposal can cover).

    Kept per history and brought up to date from the trials completed since the last call, so it costs what
    they number rather than the study's size."""
    with _INTERSECTIONS_LOCK:
        cache = _INTERSECTIONS.get(history)
        epoch = history.completed_epoch
        if cache is None or cache.epoch != epoch:
            cache = _INTERSECTIONS[history] = _Intersection(epoch)
            arrivals: list[FrozenTrial] = history.completed()
            cache.seen = len(history.completed_arrivals())
        else:
            all_arrivals = history.completed_arrivals()
            arrivals = all_arrivals[cache.seen :]
            cache.seen = len(all_arrivals)
        space = cache.space
        for t in arrivals:
            if space is None:
                space = dict(t.distributions)
            elif space:
                dists = t.distributions
                space = {k: d for k, d in space.items() if dists.get(k) == d}
        cache.space = space
    return {k: d for k, d in (space or {}).items() if not d.is_single()}
