"""Synchronous successive halving (Jamieson & Talwalkar, 2016), run by peers.

Trials are grouped in brackets of ``bracket_size`` by trial number (trials 0..n-1, n..2n-1, …). A rung of a
bracket is *complete* once every trial promoted to it has reported there or ended; only then are its top
``1/eta`` (at least one) promoted and the others stopped. A trial reaching an incomplete rung pauses with a checkpoint; the
last one to arrive decides for the whole rung. Free workers meanwhile start the next bracket, so no worker waits.

Without ``state`` a trial cannot pause: it continues or stops in place, by ASHA's rule on the rung so far.

    >>> SuccessiveHalving(max_steps=27, eta=3).bracket_size
    27
"""

from __future__ import annotations

import math

from itero._validation import check_int
from itero.exceptions import ConfigError
from itero.schedulers._base import Decision, Suggestion
from itero.schedulers._halving import _Halving
from itero.schedulers._rungs import crossed_at, highest_rung, report_at, rung_table
from itero.trial import FrozenTrial, History, TrialState

_ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)


class SuccessiveHalving(_Halving):
    """``bracket_size`` defaults to ``eta ** (number of rungs)``, so that one trial of each bracket reaches
    ``max_steps`` (27 trials for rungs 1, 3, 9 below 27 steps)."""

    name = "sh"

    def __init__(
        self, max_steps: int | None = None, min_steps: int = 1, eta: int = 3, bracket_size: int | None = None
    ) -> None:
        super().__init__(max_steps, min_steps, eta, rank_check=False)
        check_int("sh", "bracket_size", bracket_size, 1, allow_none=True)
        if bracket_size is None and max_steps is None:
            raise ConfigError("sh needs 'max_steps' or 'bracket_size' to size its brackets")
        self.bracket_size = bracket_size if bracket_size is not None else eta ** len(self.rungs(0))

    def bracket_of(self, trial: FrozenTrial) -> int:
        return trial.number // self.bracket_size

    def rungs(self, bracket: int) -> list[int]:
        return super().rungs(0)  # every bracket has the same rungs

    def _promoted(
        self, history: History, members: list[FrozenTrial], k: int
    ) -> tuple[bool, list[FrozenTrial], list[FrozenTrial]]:
        """``(complete, promoted, reached)`` for rung ``k`` of a bracket with ``members``."""
        rungs = self.rungs(0)
        expected = members if len(members) >= self.bracket_size else None
        for j in range(k + 1):
            if expected is None:
                return False, [], rung_table(history, members, rungs[k])[0]
            reached, points = rung_table(history, expected, rungs[j])
            got = {t.id for t in reached}
            if any(t.id not in got and t.state not in _ENDED for t in expected):
                return False, [], reached
            promoted = self.top(history, reached, points, max(1, len(reached) // self.eta))
            if j == k:
                return True, promoted, reached
            expected = promoted
        raise AssertionError("unreachable")

    def decide(self, history: History, trial: FrozenTrial, step: int, *, can_pause: bool = True) -> Decision:
        rungs = self.rungs(0)
        k = crossed_at(trial, step, rungs)
        if k is None:
            return Decision.CONTINUE
        members = self.members(history, self.bracket_of(trial), trial)
        complete, promoted, reached = self._promoted(history, members, k)
        if complete:
            return Decision.CONTINUE if any(t.id == trial.id for t in promoted) else Decision.STOP
        if can_pause:
            return Decision.PAUSE
        points = rung_table(history, reached, rungs[k])[1]
        best = self.top(history, reached, points, math.ceil(len(reached) / self.eta))
        return Decision.CONTINUE if any(t.id == trial.id for t in best) else Decision.STOP

    def next(self, history: History) -> Suggestion:
        rungs = self.rungs(0)
        for t in history.with_state(TrialState.PAUSED):
            k = highest_rung(t, rungs)
            if k is None or report_at(t, rungs[k]) is None:
                continue
            complete, promoted, _ = self._promoted(history, self.members(history, self.bracket_of(t)), k)
            if complete:
                if any(p.id == t.id for p in promoted):
                    return Suggestion.resume(t.id)
                return Suggestion.stop(t.id, f"not in the top 1/{self.eta} of rung {rungs[k]} of its bracket")
        return Suggestion.start()

    def __repr__(self) -> str:
        return (
            f"SuccessiveHalving(max_steps={self.max_steps!r}, min_steps={self.min_steps}, eta={self.eta}, "
            f"bracket_size={self.bracket_size})"
        )
