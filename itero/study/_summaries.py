"""Every study of a store at a glance (what ``itero ls`` shows), and a study's best trials without raising.

>>> import itero
>>> [s.name for s in itero.study.study_summaries("sqlite:///itero.db")]   # doctest: +SKIP
['digits-mlp', 'cifar-resnet']
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from itero.exceptions import DataVersionWarning
from itero.store import Store
from itero.study._create import DEFAULT_STORAGE, load_study
from itero.study._study import Study
from itero.trial import FrozenTrial


@dataclass(frozen=True)
class StudySummary:
    """One study of a store: its objectives, creation time, trials per state and best trials (see
    :func:`best_trials`)."""

    name: str
    directions: dict[str, str]
    created_at: float
    counts: dict[str, int]
    best: list[FrozenTrial]


def best_trials(study: Study) -> list[FrozenTrial]:
    """The best feasible COMPLETE trial (one objective) or the Pareto front (several); empty when no trial
    completed or every complete trial violates its constraints.

    Data-version warnings are not raised here: ``study.data_warnings()`` lists them.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataVersionWarning)
        if len(study.directions) > 1:
            return study.pareto_front()
        return [study.best_trial] if any(t.is_feasible for t in study.history.completed()) else []


def study_summaries(storage: str | Store = DEFAULT_STORAGE) -> list[StudySummary]:
    """A summary of every study in ``storage`` (a URL or a Store), oldest study first."""
    store = storage if isinstance(storage, Store) else Store(storage)
    try:
        counts = store.state_counts()
        out = []
        for rec in store.list_studies():
            study = load_study(rec.name, storage=store, sampler="random", scheduler="fifo")  # reading needs no sampler
            out.append(
                StudySummary(rec.name, rec.directions, rec.created_at, counts.get(rec.id, {}), best_trials(study))
            )
        return out
    finally:
        if store is not storage:
            store.dispose()
