"""ParEGO: multi-objective search by random scalarisations (Knowles, "ParEGO: a hybrid algorithm with on-line
landscape approximation for expensive multiobjective optimization problems", IEEE TEVC 10(1), 2006).

For each trial a weight vector ``λ`` is drawn on the simplex (from the trial's own generator, so every peer draws
the same one); each completed trial's losses are normalised to ``[0, 1]`` over the history and scalarised with the
augmented Tchebycheff function

    f_λ(x) = max_j λ_j f_j(x) + ρ Σ_j λ_j f_j(x),   ρ = 0.05,

and a single-objective model proposes the next point on those values. Knowles used a Gaussian process; itero uses
its TPE (multivariate by default) on a single-objective copy of its model state whose losses are ``f_λ`` (pruned
trials rank after the complete ones as usual). The parameter columns are shared with the state TPE keeps of the
history, so a proposal costs a vector operation over the trials, not a rebuilt history. Constraints carry over:
infeasible trials keep their violation, so TPE counts them among the bad trials.

    >>> import itero
    >>> sampler = itero.samplers.make_sampler({"name": "parego", "seed": 0})
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from itero._spec import options_repr
from itero._validation import check_bool, check_float, check_int
from itero.samplers._base import BaseSampler
from itero.samplers._tpe import TPE
from itero.space import Distribution
from itero.trial import FrozenTrial, History

_SALT = "__parego_weights__"


class ParEGO(BaseSampler):
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
        check_float("parego", "rho", rho, 0)
        check_int("parego", "n_startup_trials", n_startup_trials, 0)
        check_int("parego", "n_ei_candidates", n_ei_candidates, 1)
        check_bool("parego", "multivariate", multivariate, allow_none=True)
        self.rho = rho
        self.n_startup_trials = n_startup_trials
        self.n_ei_candidates = n_ei_candidates
        self.multivariate = multivariate
        self._tpe = _ScalarisedTPE(self, seed, n_startup_trials, n_ei_candidates, multivariate)

    def __repr__(self) -> str:
        return options_repr(self)

    def weights(self, trial: FrozenTrial, n_objectives: int) -> np.ndarray:
        """The trial's weight vector: uniform on the simplex, drawn from the trial's generator."""
        return self.rng(trial, _SALT).dirichlet(np.ones(n_objectives))

    def scalarise(self, losses: np.ndarray, trial: FrozenTrial) -> np.ndarray:
        """``f_λ`` of each row of ``losses`` (n x m, minimised), normalised to [0, 1] over the rows, for the
        weights of ``trial``."""
        lo, hi = losses.min(axis=0), losses.max(axis=0)
        norm = (losses - lo) / np.where(hi > lo, hi - lo, 1.0)
        w = self.weights(trial, losses.shape[1])
        return np.asarray(np.max(norm * w, axis=1) + self.rho * (norm @ w))

    def sample_joint(self, history: History, trial: FrozenTrial) -> dict[str, Any]:
        return self._tpe.sample_joint(history, trial)

    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        return self._tpe.sample(history, trial, name, dist)


class _ScalarisedTPE(TPE):
    """TPE whose model of a multi-objective history is, for each trial, the single objective ``f_λ``."""

    def __init__(self, parego: ParEGO, *args: Any) -> None:
        self.parego = parego
        super().__init__(*args)

    def model_losses(self, losses: np.ndarray, trial: FrozenTrial) -> np.ndarray:
        return self.parego.scalarise(losses, trial)
