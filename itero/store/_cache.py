"""A worker's copy of one study's trials, kept current by incremental reads of the store."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from itero.space import Distribution, distribution_from_dict
from itero.store._records import StudyBudget
from itero.store._store import Store
from itero.store._trials import parse_request
from itero.trial import FrozenTrial, History, TrialCost, TrialState

_loads = json.loads


def _time(ts: float | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts)


def _action(request: str | None) -> str | None:
    found = parse_request(request)
    return None if found is None else found.action


class StudyCache:
    """``refresh()`` applies what changed since the last read to ``history``; totals are kept as it goes.

    >>> store = Store("sqlite://")
    >>> rec = store.create_study("s", {"loss": "minimize"})
    >>> cache = StudyCache(store, rec.id, rec.name, rec.directions)
    >>> len(cache.refresh())
    0
    """

    def __init__(self, store: Store, study_id: int, study_name: str, directions: dict[str, str]) -> None:
        self.store = store
        self.study_id = study_id
        self.history = History(directions, study_name)
        self.version = 0
        self._reports: dict[int, dict[int, dict[str, float]]] = {}
        self._dist_cache: dict[str, dict[str, Distribution]] = {}
        self.steps_spent = 0
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        self.energy_j = 0.0
        self.co2_g = 0.0
        self.budget = StudyBudget()  # the study's limits as of the last refresh (its step count may be behind)

    def refresh(self) -> History:
        version, trial_rows, report_rows = self.store.read_changes(self.study_id, self.version)
        if version == self.version:
            return self.history
        for trial_id, step, metrics in report_rows:
            self._reports.setdefault(trial_id, {})[step] = _loads(metrics)
        changed = []
        for row in trial_rows:
            old = self.history.get(row.id)
            if old is not None:
                self.steps_spent -= old.cost.steps
                self.cpu_seconds -= old.cost.cpu_seconds
                self.wall_seconds -= old.cost.wall_seconds
                self.energy_j -= old.cost.energy_j
                self.co2_g -= old.cost.co2_g
            t = self._to_trial(row)
            self.steps_spent += t.cost.steps
            self.cpu_seconds += t.cost.cpu_seconds
            self.wall_seconds += t.cost.wall_seconds
            self.energy_j += t.cost.energy_j
            self.co2_g += t.cost.co2_g
            changed.append(t)
        self.history.upsert(changed)
        self.version = version
        self.budget = self.store.get_budget(self.study_id)
        return self.history

    def _distributions(self, text: str) -> dict[str, Distribution]:
        # Most trials share one space: decode each distinct JSON text once.
        cached = self._dist_cache.get(text)
        if cached is None:
            cached = {k: distribution_from_dict(v) for k, v in _loads(text).items()}
            if len(self._dist_cache) < 1000:
                self._dist_cache[text] = cached
        return dict(cached)

    def _to_trial(self, row: Any) -> FrozenTrial:
        return FrozenTrial(
            id=row.id,
            number=row.number,
            state=TrialState(row.state),
            params=_loads(row.params),
            distributions=self._distributions(row.distributions),
            metrics=_loads(row.metrics),
            reports=self._reports.get(row.id, {}),
            step=row.step,
            parent_id=row.parent_id,
            checkpoint_id=row.checkpoint_id,
            error=row.error,
            cost=TrialCost(row.steps_run, row.wall_seconds, row.cpu_seconds, row.n_runs, row.energy_j, row.co2_g),
            datetime_start=_time(row.started_at),
            datetime_complete=_time(row.completed_at),
            user_attrs=_loads(row.user_attrs),
            system_attrs=_loads(row.system_attrs),
            retries=row.retries,
            datasets=_loads(row.datasets),
            requested=_action(row.request),
        )
