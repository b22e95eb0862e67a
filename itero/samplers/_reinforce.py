"""A REINFORCE controller over categorical and discretised choices, as in neural architecture search.

Each parameter has its own softmax policy: logits over its choices (categories; the values of an integer or
stepped float with at most ``n_bins`` of them; otherwise ``n_bins`` equal bins of the unit cube, a value then
being drawn uniformly inside the chosen bin). The policy is not stored: it is the result of replaying the
completed trials in order of trial number — each trial's advantage is its rank against the ``window`` completed
trials before it (from +1 better than all to -1 worse than all, scaled to unit variance: a normalised reward
whose baseline follows the policy's progress) — with
the policy-gradient step ``lr * advantage * (onehot(choice) - p)`` plus ``entropy`` times the entropy's gradient.
A trial then draws each choice from the softmax with its own random generator, so proposals are deterministic
given the seed and the history.

    >>> import itero
    >>> itero.samplers.make_sampler({"name": "reinforce", "seed": 0, "lr": 0.2})
    Reinforce(seed=0, lr=0.2)

References: R. J. Williams, *Simple Statistical Gradient-Following Algorithms for Connectionist Reinforcement
Learning*, Machine Learning 8 (1992); B. Zoph and Q. V. Le, *Neural Architecture Search with Reinforcement
Learning*, ICLR 2017.
"""

from __future__ import annotations

import bisect
import math
from typing import Any, ClassVar

import numpy as np

from itero._spec import options_repr
from itero._validation import check_float, check_int
from itero.samplers._base import BaseSampler, PerHistoryCache
from itero.samplers._cmaes import first_mismatch
from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History

# Centred ranks are uniform on [-1, 1] (standard deviation 1/sqrt(3)): scaled to unit variance.
_SQRT3 = math.sqrt(3.0)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


class _Policy:
    """Logits of one (name, distribution) after the first ``seen`` completed trials."""

    __slots__ = ("logits", "seen")

    def __init__(self, n: int) -> None:
        self.logits = np.zeros(n)
        self.seen = 0


class _State:
    """Per history: the completed trials' numbers and advantages, and the policies replayed from them."""

    def __init__(self) -> None:
        self.numbers: list[int] = []
        self.advantages: list[float] = []
        self.policies: dict[tuple[str, Distribution], _Policy] = {}


class Reinforce(PerHistoryCache, BaseSampler):
    """One independent softmax policy per parameter, trained by REINFORCE on the history. Single objective.

    Options:

    - ``seed``: every proposal is a function of (seed, trial number, history).
    - ``lr`` (> 0): policy-gradient step on the logits (0.1).
    - ``entropy`` (>= 0): weight of the entropy bonus that keeps the policy exploring (0.01).
    - ``n_bins`` (>= 2): choices of a number parameter (10).
    - ``window`` (>= 1): completed trials a trial is ranked against for its advantage (32).

        >>> import itero
        >>> study = itero.create_study("demo", storage="sqlite://", sampler={"name": "reinforce", "seed": 0})
        >>> study.optimize(lambda t: ["a", "b", "c"].index(t.suggest_categorical("c", ["a", "b", "c"])),
        ...                n_trials=60, show_progress=False)
        >>> study.best_trial.params["c"]
        'a'
    """

    name = "reinforce"
    supports_multi_objective: ClassVar[bool] = False

    def __init__(
        self, seed: int | None = None, lr: float = 0.1, entropy: float = 0.01, n_bins: int = 10, window: int = 32
    ) -> None:
        super().__init__(seed)
        check_float("reinforce", "lr", lr, 0, low_open=True)
        check_float("reinforce", "entropy", entropy, 0)
        check_int("reinforce", "n_bins", n_bins, 2)
        check_int("reinforce", "window", window, 1)
        self.lr = float(lr)
        self.entropy = float(entropy)
        self.n_bins = n_bins
        self.window = window
        self._init_caches()

    def __repr__(self) -> str:
        return options_repr(self)

    # --- choices of a distribution
    def _n_values(self, dist: Distribution) -> int | None:
        """The number of values of a discrete distribution, or None for a continuous one."""
        if isinstance(dist, CategoricalDistribution):
            return len(dist.choices)
        if isinstance(dist, IntDistribution) and not dist.log:
            return (dist.high - dist.low) // dist.step + 1
        if isinstance(dist, IntDistribution):
            return dist.high - dist.low + 1
        if dist.step is not None:
            return round((dist.high - dist.low) / dist.step) + 1
        return None

    def n_choices(self, dist: Distribution) -> int:
        n = self._n_values(dist)
        return n if n is not None and (n <= self.n_bins or isinstance(dist, CategoricalDistribution)) else self.n_bins

    def _choice_of(self, dist: Distribution, value: Any) -> int | None:
        if not dist.contains(value):
            return None
        if isinstance(dist, CategoricalDistribution):
            return dist.index(value)
        n = self.n_choices(dist)
        if n == self._n_values(dist):  # one choice per value
            if isinstance(dist, IntDistribution) and dist.log:
                return int(value) - dist.low
            step = dist.step if dist.step is not None else 1.0
            return round((value - dist.low) / step)
        return min(n - 1, int(dist.to_unit(value) * n))

    def _value_of(self, dist: Distribution, choice: int, rng: np.random.Generator) -> Any:
        if isinstance(dist, CategoricalDistribution):
            return dist.choices[choice]
        n = self.n_choices(dist)
        if n == self._n_values(dist):
            if isinstance(dist, IntDistribution):
                return dist.low + choice * (1 if dist.log else dist.step)
            if isinstance(dist, FloatDistribution) and dist.step is not None:
                return dist.from_unit(dist.to_unit(dist.low + choice * dist.step))
        return dist.from_unit((choice + float(rng.random())) / n)

    # --- the replay
    def _state(self, history: History) -> _State:
        state = self._states.get(history)
        if state is None:
            state = self._states[history] = _State()
        completed = history.completed()
        keep = first_mismatch(state.numbers, completed)  # a trial completed out of order invalidates the rest
        if keep < len(state.numbers):
            del state.numbers[keep:], state.advantages[keep:]
            state.policies = {k: p for k, p in state.policies.items() if p.seen <= keep}
        losses = [history.loss(t) for t in completed]
        for i in range(len(state.numbers), len(completed)):
            before = sorted(losses[max(0, i - self.window) : i])
            if before:
                worse = len(before) - bisect.bisect_right(before, losses[i])
                better = bisect.bisect_left(before, losses[i])
                adv = _SQRT3 * (worse - better) / len(before)
            else:
                adv = 0.0
            state.numbers.append(completed[i].number)
            state.advantages.append(adv)
        return state

    def policy(self, history: History, name: str, dist: Distribution) -> np.ndarray:
        """The probabilities of the choices of parameter ``name`` after replaying the completed trials."""
        with self._lock:
            state = self._state(history)
            key = (name, dist)
            pol = state.policies.get(key)
            if pol is None:
                if len(state.policies) > 256:
                    state.policies.clear()
                pol = state.policies[key] = _Policy(self.n_choices(dist))
            completed = history.completed()
            for i in range(pol.seen, len(completed)):
                t = completed[i]
                if t.distributions.get(name) != dist:
                    continue
                choice = self._choice_of(dist, t.params.get(name))
                if choice is None:
                    continue
                p = _softmax(pol.logits)
                grad = -p
                grad[choice] += 1.0
                logp = np.log(np.maximum(p, 1e-300))
                entropy_grad = -p * (logp + float(-(p * logp).sum()))
                pol.logits += self.lr * (state.advantages[i] * grad + self.entropy * entropy_grad)
            pol.seen = len(completed)
            return _softmax(pol.logits)

    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        rng = self.rng(trial, name)
        if dist.is_single():
            return dist.from_unit(0.5)
        p = self.policy(history, name, dist)
        choice = min(len(p) - 1, int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right")))
        value = self._value_of(dist, choice, rng)
        return value if dist.contains(value) else dist.from_unit(float(rng.random()))
