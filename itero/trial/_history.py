"""What samplers and schedulers see of a study: its objectives and its trials, kept current incrementally."""

from __future__ import annotations

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
        self._signs = [-1.0 if directions[m] == "maximize" else 1.0 for m in self.objective_names]
        self._by_id: dict[int, FrozenTrial] = {}
        self._ordered: list[FrozenTrial] | None = []
        self._completed: list[FrozenTrial] | None = []
        self.version = 0

    # --- updates (called by the store cache) ---
    def upsert(self, trials: Iterable[FrozenTrial]) -> None:
        changed = False
        for t in trials:
            self._by_id[t.id] = t
            changed = True
        if changed:
            self._ordered = None
            self._completed = None
            self.version += 1

    # --- reads ---
    @property
    def is_multi_objective(self) -> bool:
        return len(self.objective_names) > 1

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial, in order of number."""
        if self._ordered is None:
            self._ordered = sorted(self._by_id.values(), key=lambda t: t.number)
        return self._ordered

    def get(self, trial_id: int) -> FrozenTrial | None:
        return self._by_id.get(trial_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def completed(self) -> list[FrozenTrial]:
        """COMPLETE trials that carry a finite value for every objective, in order of number."""
        if self._completed is None:
            self._completed = [t for t in self.trials if t.state == TrialState.COMPLETE and self.is_valid(t)]
        return self._completed

    def with_state(self, *states: TrialState) -> list[FrozenTrial]:
        return [t for t in self.trials if t.state in states]

    def is_valid(self, trial: FrozenTrial) -> bool:
        for m in self.objective_names:
            v = trial.metrics.get(m)
            if v is None or not math.isfinite(v):
                return False
        return True

    def losses(self, trial: FrozenTrial) -> list[float]:
        """The trial's objective values as numbers to minimise (maximised metrics are negated)."""
        return [s * float(trial.metrics[m]) for s, m in zip(self._signs, self.objective_names, strict=False)]

    def loss(self, trial: FrozenTrial) -> float:
        """The single objective as a number to minimise; for multi-objective studies, the first objective."""
        return self._signs[0] * float(trial.metrics[self.objective_names[0]])
