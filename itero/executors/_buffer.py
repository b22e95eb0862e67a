"""A running trial's unwritten changes: reports since the last write and which fields changed.

    >>> buf = WriteBuffer(flush_seconds=1.0)
    >>> buf.add_report(1, {"loss": 0.5}); buf.changed("params")
    >>> from itero.space import FloatDistribution
    >>> w = buf.take(7, step=1, params={"lr": 0.1}, distributions={"lr": FloatDistribution(0.0, 1.0)},
    ...              user_attrs={}, datasets={}, constraints=[], now=0.5)
    >>> w.reports, w.params, w.user_attrs
    (((1, {'loss': 0.5}),), {'lr': 0.1}, None)
    >>> buf.add_report(2, {"loss": 0.4})
    >>> buf.due(now=1.0, decision_point=False), buf.due(now=1.5, decision_point=False)
    (False, True)

Reports are written at most every ``flush_seconds`` (and at every decision point), so that an objective can
report every step cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from itero.space import Distribution
from itero.store import CheckpointData, CostDelta, RunCost, TrialWrite, WarmStart
from itero.trial import CONSTRAINTS_KEY, PROPOSAL_KEY, TRACEBACK_KEY

_FIELDS = ("params", "user_attrs", "datasets", "constraints")
MAX_TRACEBACK = 20_000  # characters of a failed trial's traceback kept in the store


class WriteBuffer:
    """Collects reports and change marks; ``take`` turns them into one ``TrialWrite`` and starts afresh."""

    def __init__(self, flush_seconds: float) -> None:
        self.flush_seconds = flush_seconds
        self.reports: list[tuple[int, dict[str, float]]] = []
        self._changed: set[str] = set()
        self.warm: WarmStart | None = None
        self._last = float("-inf")

    def add_report(self, step: int, metrics: dict[str, float]) -> None:
        self.reports.append((step, metrics))

    def changed(self, field: str) -> None:
        """Mark ``params``, ``user_attrs``, ``datasets`` or ``constraints`` as changed since the last write."""
        assert field in _FIELDS, field
        self._changed.add(field)

    def has_changed(self, field: str) -> bool:
        return field in self._changed

    def due(self, now: float, decision_point: bool) -> bool:
        """Whether to write now: at a decision point, or when the last write is ``flush_seconds`` old."""
        return decision_point or now - self._last >= self.flush_seconds

    def take(
        self,
        trial_id: int,
        *,
        step: int,
        params: Mapping[str, Any],
        distributions: Mapping[str, Distribution],
        user_attrs: Mapping[str, Any],
        datasets: Mapping[str, str],
        constraints: Sequence[float],
        now: float,
        state: str | None = None,
        metrics: Mapping[str, float] | None = None,
        error: str | None = None,
        traceback: str | None = None,
        cost: CostDelta | None = None,
        run: RunCost | None = None,
        worker_id: int | None = None,
        checkpoint: CheckpointData | None = None,
        proposal: Mapping[str, Any] | None = None,
    ) -> TrialWrite:
        """The write of everything changed (fields not marked are left out) and the reports; resets the buffer."""
        c = self._changed
        write = TrialWrite(
            trial_id,
            step=step,
            state=state,
            params=dict(params) if "params" in c else None,
            distributions={k: d.to_dict() for k, d in distributions.items()} if "params" in c else None,
            metrics=metrics,
            reports=tuple(self.reports),
            error=error,
            user_attrs=dict(user_attrs) if "user_attrs" in c else None,
            cost=cost,
            run=run,
            datasets=dict(datasets) if "datasets" in c else None,
            worker_id=worker_id,
            checkpoint=checkpoint,
            warm_start=self.warm,
            system_attrs=_system_attrs(list(constraints) if "constraints" in c else None, traceback, proposal),
        )
        self.reports = []
        self._changed = set()
        self.warm = None
        self._last = now
        return write


def _system_attrs(
    constraints: list[float] | None, traceback: str | None, proposal: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    attrs: dict[str, Any] = {}
    if proposal:
        attrs[PROPOSAL_KEY] = dict(proposal)
    if constraints is not None:
        attrs[CONSTRAINTS_KEY] = constraints
    if traceback:
        attrs[TRACEBACK_KEY] = traceback[-MAX_TRACEBACK:]  # the end, where the error is
    return attrs or None
