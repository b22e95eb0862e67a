"""One read of a study for all its plots: trials, completed trials, the Pareto front and the per-run records.

snap = itero.plot.snapshot(study)          # read the store once
itero.plot.learning_curves(snap)           # then build several figures from it
itero.plot.lineage(snap)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from itero.store import TrialRunRecord
from itero.trial import FrozenTrial

if TYPE_CHECKING:
    from itero.study import Study


@dataclass
class Snapshot:
    """What the plots of one study need, read once (building every figure of a report reads the store once).

    ``runs`` are the study's trial runs (``study.runs()``), oldest first.
    """

    name: str
    directions: dict[str, str]
    trials: list[FrozenTrial]
    completed: list[FrozenTrial]
    front: list[FrozenTrial]
    runs: list[TrialRunRecord] = field(default_factory=list)

    @property
    def objectives(self) -> list[str]:
        return list(self.directions)

    @property
    def number_of(self) -> dict[int, int]:
        """Trial id -> trial number."""
        return {t.id: t.number for t in self.trials}

    def sign(self, metric: str) -> float:
        """-1 for a maximised metric, 1 otherwise: ``sign * value`` is a loss."""
        return -1.0 if self.directions.get(metric) == "maximize" else 1.0

    def runs_by_trial(self) -> dict[int, list[TrialRunRecord]]:
        """Trial id -> its runs, oldest first."""
        out: dict[int, list[TrialRunRecord]] = {}
        for run in self.runs:
            out.setdefault(run.trial_id, []).append(run)
        return out


StudyLike = Union["Study", Snapshot]


def snapshot(study: StudyLike) -> Snapshot:
    """Read ``study`` once (a Snapshot is returned as is)."""
    if isinstance(study, Snapshot):
        return study
    history = study.history
    completed = list(history.completed())
    with warnings.catch_warnings():  # the report shows data-version warnings itself
        warnings.simplefilter("ignore")
        front = study.pareto_front() if completed else []
    return Snapshot(
        name=study.name,
        directions=dict(study.directions),
        trials=list(history.trials),
        completed=completed,
        front=front,
        runs=study.runs(),
    )


def lineage_kind(attrs: Mapping[str, Any]) -> str:
    """How a trial with a parent started: ``"clone"`` (PBT exploit) or ``"shared start"`` (shared weights)."""
    if "clone_of" in attrs or "replaces" in attrs:
        return "clone"
    if "shared_from" in attrs:
        return "shared start"
    return "warm start"
