"""Asynchronous successive halving (ASHA) and Hyperband as brackets of it.

ASHA in its promotion form (Li et al., 2020): rungs at ``min_steps * eta**k``. A trial reaching a rung
continues at once if it is in the top ``1/eta`` of the trials that reached that rung (a promotion in place);
otherwise it *pauses* with a checkpoint. Whenever a worker is free it resumes, from its own checkpoint, the best
paused trial that has since entered the top ``1/eta`` of its rung (highest rung first); if there is none it
starts a new trial at the lowest rung. The top ``1/eta`` is by value for one objective and by non-dominated
rank then crowding distance for several.

An objective that gives no ``state`` cannot pause: its trials then stop or continue in place, continuing when
they are in the top ``ceil(n/eta)`` of their rung so far (the stopping variant of ASHA).

Checkpoints: a paused trial keeps its checkpoint (it may be promoted whenever its rung grows); a trial that
ends (complete, stopped, failed) loses its own.

    >>> ASHA(max_steps=27, eta=3).rungs(0)
    [1, 3, 9]
    >>> Hyperband(max_steps=27, eta=3).rungs(2)
    [9]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from itero._ranking import rank_order
from itero._validation import check_bool, check_int
from itero.exceptions import ConfigError
from itero.schedulers._base import BaseScheduler, Decision, Suggestion
from itero.schedulers._rungs import crossed_at, highest_rung, report_at, rung_steps, rung_table
from itero.trial import FrozenTrial, History, TrialState


class _Halving(BaseScheduler):
    """Shared by ASHA and Hyperband: brackets of rungs, promotions by rank within a bracket."""

    def __init__(self, max_steps: int | None, min_steps: int, eta: int, rank_check: bool = True) -> None:
        super().__init__(max_steps)
        check_int(self.name, "min_steps", min_steps, 1)
        check_int(self.name, "eta", eta, 2)
        if max_steps is not None and min_steps > max_steps:
            raise ConfigError(f"{self.name} option 'min_steps' ({min_steps}) is above 'max_steps' ({max_steps})")
        check_bool(self.name, "rank_check", rank_check)
        self.min_steps = min_steps
        self.eta = eta
        self.rank_check = rank_check
        self._reliability: tuple[History | None, int, dict[int, bool]] = (None, -1, {})  # per history version

    # --- brackets (one for ASHA)
    def brackets(self) -> list[int]:
        return [0]

    def bracket_of(self, trial: FrozenTrial) -> int:
        return 0

    def rungs(self, bracket: int) -> list[int]:
        return rung_steps(self.min_steps * self.eta**bracket, self.eta, self.max_steps)

    def members(self, history: History, bracket: int, current: FrozenTrial | None = None) -> list[FrozenTrial]:
        """The bracket's trials, with ``current`` (a running trial's live snapshot) in place of its stored copy."""
        out = [t for t in history.trials if self.bracket_of(t) == bracket and (current is None or t.id != current.id)]
        if current is not None:
            out.append(current)
        return out

    def top(self, history: History, trials: list[FrozenTrial], points: np.ndarray, k: int) -> list[FrozenTrial]:
        """The ``k`` best of ``trials`` (rows of ``points``), best first."""
        if k <= 0:
            return []
        return [trials[i] for i in rank_order(points)[:k]]

    # --- decisions
    def decide(self, history: History, trial: FrozenTrial, step: int, *, can_pause: bool = True) -> Decision:
        bracket = self.bracket_of(trial)
        rungs = self.rungs(bracket)
        k = crossed_at(trial, step, rungs)
        if k is None:
            return Decision.CONTINUE
        if not self.is_reliable(history, rungs[k]):
            return Decision.CONTINUE
        reached, points = rung_table(history, self.members(history, bracket, trial), rungs[k])
        n = len(reached)
        quota = n // self.eta if can_pause else math.ceil(n / self.eta)
        if any(t.id == trial.id for t in self.top(history, reached, points, quota)):
            return Decision.CONTINUE
        return Decision.PAUSE if can_pause else Decision.STOP

    def next(self, history: History) -> Suggestion:
        return self._promote(history, lambda n: n // self.eta) or Suggestion.start()

    def finish(self, history: History) -> Suggestion:
        """With no new trial to come, rungs will not fill up: promote the top ``ceil(n / eta)`` (at least the
        best of each rung), so that the most promising paused trials are trained to the end."""
        return self._promote(history, lambda n: math.ceil(n / self.eta)) or super().finish(history)

    def _promote(self, history: History, quota_of: Callable[[int], int]) -> Suggestion | None:
        """Resume the paused trial of the highest rung that is in the top ``quota_of(n)`` of its rung (all of
        them where the rung's ranking is unreliable); None when there is none."""
        paused = history.with_state(TrialState.PAUSED)
        if not paused:
            return None
        for bracket in self.brackets():
            rungs = self.rungs(bracket)
            waiting = [t for t in paused if self.bracket_of(t) == bracket]
            for k in reversed(range(len(rungs))):
                at_rung = {t.id for t in waiting if highest_rung(t, rungs) == k}
                if not at_rung:
                    continue
                reached, points = rung_table(history, self.members(history, bracket), rungs[k])
                quota = quota_of(len(reached)) if self.is_reliable(history, rungs[k]) else len(reached)
                for t in self.top(history, reached, points, quota):
                    if t.id in at_rung:
                        return Suggestion.resume(t.id)
        return None

    def is_reliable(self, history: History, step: int) -> bool:
        """Whether ranking trials at rung ``step`` predicts their ranking at ``max_steps``.

        With ``rank_check`` (the default) a rung stops being used once at least ``MIN_PAIRS`` trials reached
        both it and ``max_steps`` and the Spearman correlation of their values there is below
        ``MIN_CORRELATION``: learning curves cross, so stopping at that rung would cut the configurations that
        start slowly and end best. Its paused trials are then resumed. Hyperband's bracket without early
        stopping supplies the unbiased full-length runs this needs.
        """
        if not self.rank_check or self.max_steps is None:
            return True
        seen, version, cache = self._reliability
        if seen is not history or version != history.version:
            cache = {}
            self._reliability = (history, history.version, cache)
        if step not in cache:
            cache[step] = rank_correlation(history, step, self.max_steps) >= MIN_CORRELATION
        return cache[step]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_steps={self.max_steps!r}, min_steps={self.min_steps}, eta={self.eta})"


MIN_PAIRS = 5
MIN_CORRELATION = 0.5


def rank_correlation(history: History, step: int, final: int) -> float:
    """Spearman's correlation between trials' first-objective values at ``step`` and at ``final`` (1.0 while
    fewer than ``MIN_PAIRS`` trials reached both)."""
    early, late = [], []
    sign, name = history.directions_signs[0], history.objective_names[0]
    for t in history.trials:
        a, b = report_at(t, step), report_at(t, final)
        if a is None or b is None or name not in a or name not in b:
            continue
        if math.isfinite(a[name]) and math.isfinite(b[name]):
            early.append(sign * a[name])
            late.append(sign * b[name])
    return rank_agreement(early, late)


def rank_agreement(early: Sequence[float], late: Sequence[float]) -> float:
    """Spearman's correlation between paired finite values (1.0 while there are fewer than ``MIN_PAIRS`` pairs
    or either side is constant: no evidence of crossing)."""
    if len(early) < MIN_PAIRS or len(set(early)) == 1 or len(set(late)) == 1:
        return 1.0
    from scipy.stats import spearmanr

    rho = float(spearmanr(early, late).statistic)
    return rho if math.isfinite(rho) else 1.0


class ASHA(_Halving):
    """Asynchronous successive halving with promotions from checkpoints (see the module docstring).

    ``max_steps``: the steps a trial may reach (its rungs are below it); ``min_steps``: the first rung;
    ``eta``: the reduction factor (the top ``1/eta`` of a rung is promoted); ``rank_check``: stop using a rung
    whose ranking does not predict the final one (see ``is_reliable``).
    """

    name = "asha"

    def __init__(self, max_steps: int | None = None, min_steps: int = 1, eta: int = 3, rank_check: bool = True) -> None:
        super().__init__(max_steps, min_steps, eta, rank_check)


class Hyperband(_Halving):
    """Hyperband (Li et al., 2018) run asynchronously: ``s_max + 1`` brackets of ASHA, the bracket ``s``
    starting at ``min_steps * eta**s``, where ``s_max = floor(log_eta(max_steps / min_steps))``. New trials are
    spread over the brackets in proportion to Hyperband's bracket sizes, by trial number, so every peer agrees
    on a trial's bracket. The bracket that never stops early (``s = s_max``) hedges against learning curves
    that cross.
    """

    name = "hyperband"

    def __init__(self, max_steps: int = 27, min_steps: int = 1, eta: int = 3, rank_check: bool = True) -> None:
        check_int("hyperband", "max_steps", max_steps, 1)
        super().__init__(max_steps, min_steps, eta, rank_check)
        s_max = 0
        while min_steps * eta ** (s_max + 1) <= max_steps:
            s_max += 1
        self._s_max = s_max
        sizes = [math.ceil((s_max + 1) / (s + 1) * eta**s) for s in range(s_max, -1, -1)]  # bracket 0 first
        self._pattern = _interleave(sizes)

    def brackets(self) -> list[int]:
        return list(range(self._s_max + 1))

    def bracket_of(self, trial: FrozenTrial) -> int:
        return self._pattern[trial.number % len(self._pattern)]


def _interleave(sizes: list[int]) -> list[int]:
    """A cycle of bracket indices where bracket ``i`` appears ``sizes[i]`` times, spread evenly (smooth
    weighted round robin), so that any run of trials visits the brackets in proportion."""
    total = sum(sizes)
    credit = [0] * len(sizes)
    out = []
    for _ in range(total):
        for i, w in enumerate(sizes):
            credit[i] += w
        best = max(range(len(sizes)), key=lambda i: credit[i])
        credit[best] -= total
        out.append(best)
    return out
