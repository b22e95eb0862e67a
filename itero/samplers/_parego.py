"""ParEGO: multi-objective search by random scalarisations (Knowles, "ParEGO: a hybrid algorithm with on-line
landscape approximation for expensive multiobjective optimization problems", IEEE TEVC 10(1), 2006).

For each trial a weight vector ``λ`` is drawn on the simplex (from the trial's own generator, so every peer draws
the same one); each completed trial's losses are normalised to ``[0, 1]`` over the history and scalarised with the
augmented Tchebycheff function

    f_λ(x) = max_j λ_j f_j(x) + ρ Σ_j λ_j f_j(x),   ρ = 0.05,

and a single-objective model proposes the next point on those values. Knowles used a Gaussian process; itero uses
its TPE on a view of the history whose one objective is ``f_λ`` (multivariate by default). Constraints carry over:
infeasible trials keep their constraint values in the view, so TPE counts them among the bad trials.

    >>> import itero
    >>> sampler = itero.samplers.make_sampler({"name": "parego", "seed": 0})
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from typing import Any, ClassVar

import numpy as np

from itero._spec import options_repr
from itero.exceptions import ConfigError
from itero.samplers._base import BaseSampler, PerHistoryCache
from itero.samplers._tpe import TPE
from itero.space import Distribution
from itero.trial import FrozenTrial, History, TrialState

_SALT = "__parego_weights__"
_METRIC = "parego"


class ParEGO(PerHistoryCache, BaseSampler):
    """ParEGO (``"parego"``): random augmented-Tchebycheff scalarisations modelled by TPE.

    Options: ``rho`` (>= 0, default 0.05), the weight of the augmentation term; ``n_startup_trials``,
    ``n_ei_candidates`` and ``multivariate`` are passed to the TPE that models each scalarisation.
    """

    name = "parego"
    supports_multi_objective: ClassVar[bool] = True

    def __init__(
        self,
        seed: int | None = None,
        rho: float = 0.05,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        multivariate: bool = True,
    ) -> None:
        super().__init__(seed)
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not 0 <= rho < float("inf"):
            raise ConfigError(f"parego option 'rho' must be a finite number >= 0, got {rho!r}")
        self.rho = rho
        self.n_startup_trials = n_startup_trials
        self.n_ei_candidates = n_ei_candidates
        self.multivariate = multivariate
        try:
            self._tpe = TPE(seed, n_startup_trials, n_ei_candidates, multivariate)
        except ConfigError as exc:
            raise ConfigError(f"parego: {exc}") from None
        self._init_caches()

    _CACHE_ATTRS = ("_lock", "_last")

    def _init_caches(self) -> None:
        self._lock = threading.RLock()
        self._last: tuple[weakref.ref[History], int, int, History] | None = None  # the latest view, reused

    def __repr__(self) -> str:
        return options_repr(self)

    def weights(self, trial: FrozenTrial, n_objectives: int) -> np.ndarray:
        """The trial's weight vector: uniform on the simplex, drawn from the trial's generator."""
        return self.rng(trial, _SALT).dirichlet(np.ones(n_objectives))

    def view(self, history: History, trial: FrozenTrial) -> History:
        """A single-objective history (metric ``"parego"``, minimised) of ``trial``'s scalarisation."""
        with self._lock:
            last = self._last
            if last is not None and last[0]() is history and last[1:3] == (history.version, trial.number):
                return last[3]
        done = history.completed()
        view = History({_METRIC: "minimize"}, history.study_name)
        values: dict[int, float] = {}
        if done:
            losses = np.array([history.losses(t) for t in done], dtype=float)
            lo, hi = losses.min(axis=0), losses.max(axis=0)
            norm = (losses - lo) / np.where(hi > lo, hi - lo, 1.0)
            w = self.weights(trial, losses.shape[1])
            scal = np.max(norm * w, axis=1) + self.rho * (norm @ w)
            values = {t.id: float(v) for t, v in zip(done, scal, strict=True)}
        view.upsert(_scalarised(t, values.get(t.id)) for t in history.trials)
        with self._lock:
            self._last = (weakref.ref(history), history.version, trial.number, view)
        return view

    def sample_joint(self, history: History, trial: FrozenTrial) -> dict[str, Any]:
        return self._tpe.sample_joint(self.view(history, trial), trial)

    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        return self._tpe.sample(self.view(history, trial), trial, name, dist)


def _scalarised(t: FrozenTrial, value: float | None) -> FrozenTrial:
    if value is not None:
        return dataclasses.replace(t, metrics={_METRIC: value})
    if t.state == TrialState.COMPLETE:  # without valid values: TPE ranks it after the complete ones
        return dataclasses.replace(t, metrics={})
    return t
