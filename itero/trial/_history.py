"""What samplers and schedulers see of a study: its objectives and its trials, kept current incrementally."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable

from itero.trial._frozen import FrozenTrial
from itero.trial._state import TrialState


class History:
    """The trials of one study, ordered by number, and the study's objectives.

        >>> h = History({"val_acc": "maximize"})
        >>> h.upsert([FrozenTrial(id=1, number=0, state=TrialState.COMPLETE, metrics={"val_acc": 0.9})])
        >>> h.loss(h.completed()[0])
        -0.9

    The store's cache calls ``upsert`` with the trials that changed since its last read; ``completed()`` and
    ``trials`` are cached between changes, so samplers can call them on every suggestion.
    """

    def __init__(self, directions: dict[str, str], study_name: str = "") -> None:
        self.study_name = study_name
        self.directions = dict(directions)
        self.objective_names = list(directions)
        # -1 for maximised metrics: loss = sign * value
        self.directions_signs = tuple(-1.0 if directions[m] == "maximize" else 1.0 for m in self.objective_names)
        self._by_id: dict[int, FrozenTrial] = {}
        self._all = _ByNumber()
        self._completed = _ByNumber()
        self._by_state: dict[TrialState, dict[int, FrozenTrial]] = {s: {} for s in TrialState}
        self.version = 0

    # --- updates (called by the store cache) ---
    def upsert(self, trials: Iterable[FrozenTrial]) -> None:
        """Add or replace trials (by id); each costs O(log n) when numbers arrive in order, as they do."""
        changed = False
        for t in trials:
            old = self._by_id.get(t.id)
            if old is not None:
                del self._by_state[old.state][t.id]
            self._by_id[t.id] = t
            self._by_state[t.state][t.id] = t
            self._all.put(t)
            if t.state == TrialState.COMPLETE and self.is_valid(t):
                self._completed.put(t)
            elif old is not None and old.state == TrialState.COMPLETE:
                self._completed.drop(t)
            changed = True
        if changed:
            self.version += 1

    # --- reads ---
    @property
    def is_multi_objective(self) -> bool:
        return len(self.objective_names) > 1

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial, in order of number (do not modify the list)."""
        return self._all.items

    def get(self, trial_id: int) -> FrozenTrial | None:
        return self._by_id.get(trial_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def completed(self) -> list[FrozenTrial]:
        """COMPLETE trials that carry a finite value for every objective, in order of number (do not modify)."""
        return self._completed.items

    @property
    def completed_epoch(self) -> int:
        """Changes whenever a trial of ``completed()`` is replaced or dropped, not when one is added: a cache over
        ``completed()`` that saw this epoch and the first ``k`` of ``completed_arrivals()`` can bring itself up
        to date from the arrivals after ``k``."""
        return self._completed.rewrites

    def completed_arrivals(self) -> list[FrozenTrial]:
        """The trials added to ``completed()``, in the order they arrived (do not modify)."""
        return self._completed.arrivals

    def count_completed_below(self, number: int) -> int:
        """How many trials of ``completed()`` have a number below ``number`` (O(log n))."""
        return bisect.bisect_left(self._completed.numbers, number)

    def with_state(self, *states: TrialState) -> list[FrozenTrial]:
        """Trials in any of ``states``, in order of number; costs what they number, not the study's size."""
        out = [t for s in states for t in self._by_state[s].values()]
        out.sort(key=_number)
        return out

    def is_valid(self, trial: FrozenTrial) -> bool:
        for m in self.objective_names:
            v = trial.metrics.get(m)
            if v is None or not math.isfinite(v):
                return False
        return True

    def losses(self, trial: FrozenTrial) -> list[float]:
        """The trial's objective values as numbers to minimise (maximised metrics are negated)."""
        return [s * float(trial.metrics[m]) for s, m in zip(self.directions_signs, self.objective_names, strict=False)]

    def loss(self, trial: FrozenTrial) -> float:
        """The single objective as a number to minimise; for multi-objective studies, the first objective."""
        return self.directions_signs[0] * float(trial.metrics[self.objective_names[0]])


def _number(t: FrozenTrial) -> int:
    return t.number


class _ByNumber:
    """Trials kept sorted by number: appending the next number or replacing a known one is cheap."""

    def __init__(self) -> None:
        self.items: list[FrozenTrial] = []
        self.numbers: list[int] = []
        self.arrivals: list[FrozenTrial] = []  # new numbers, in the order they came
        self.rewrites = 0  # replacements and drops

    def put(self, t: FrozenTrial) -> None:
        numbers = self.numbers
        if not numbers or t.number > numbers[-1]:
            numbers.append(t.number)
            self.items.append(t)
            self.arrivals.append(t)
            return
        i = bisect.bisect_left(numbers, t.number)
        if i < len(numbers) and numbers[i] == t.number:
            self.items[i] = t
            self.rewrites += 1
        else:
            numbers.insert(i, t.number)
            self.items.insert(i, t)
            self.arrivals.append(t)

    def drop(self, t: FrozenTrial) -> None:
        i = bisect.bisect_left(self.numbers, t.number)
        if i < len(self.numbers) and self.numbers[i] == t.number:
            del self.numbers[i], self.items[i]
            self.rewrites += 1
