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
  large groups are merged into at most 256 weighted kernels (``_parzen.MAX_KERNELS``), so a suggestion costs
  about the same at 100 and at 10,000 finished trials.
"""

from itero.samplers._tpe._parzen import default_weights
from itero.samplers._tpe._sampler import (
    TPE,
    GammaSpec,
    default_gamma,
    default_gamma_multiobjective,
)
from itero.samplers._tpe._state import State

__all__ = ["TPE", "GammaSpec", "State", "default_gamma", "default_gamma_multiobjective", "default_weights"]
