"""Budgets: the study's own (shared by every process and machine that works on it) and each optimize run's.

Both are counters on rows, taken with atomic compare-and-set updates: a trial is started only when the study's
``next_number`` is below ``max_trials`` (and the run's ``started`` below its ``n_trials``), a step only when the
counters of both are below their limits. Part of ``Store``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, case, func, insert, select, update

from itero._clock import Clock
from itero.store._records import OptimizeRunRecord, StudyBudget
from itero.store._schema import runs, studies, workers
from itero.store._statements import Statements


class BudgetRows:
    """The budget half of ``Store`` (it supplies the engine, clock and statements)."""

    engine: Engine
    clock: Clock
    _read: Engine
    _q: Statements
    config_seen: dict[int, int]  # Store: each study's settings version, as last read

    # ------------------------------------------------------------------ optimize runs
    def create_run(
        self,
        study_id: int,
        n_trials: int | None,
        max_steps: int | None,
        steps_at_start: int,
        deadline: float | None,
        max_energy_j: float | None = None,
        energy_at_start: float = 0.0,
    ) -> int:
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    insert(runs)
                    .values(
                        study_id=study_id,
                        n_trials=n_trials,
                        max_steps=max_steps,
                        steps_at_start=steps_at_start,
                        deadline=deadline,
                        max_energy_j=max_energy_j,
                        energy_at_start=energy_at_start,
                        created_at=self.clock.time(),
                    )
                    .returning(runs.c.id)
                ).scalar_one()
            )

    def take_step(self, run_id: int | None, study_id: int | None = None) -> bool:
        """Grant one more step of the run's step budget and of the study's (None: that one is not limited);
        False, and neither is taken, once either is spent. Peers share both through these atomic updates, so a
        study never runs more steps than its budget nor an optimize call more than ``max_steps_total``."""
        with self.engine.connect() as conn, conn.begin() as tx:
            # The study's row first, then the run's, as in every write: peers never wait on each other in a cycle.
            if study_id is not None and not self._q.take_study_step.run(conn, {"sid": study_id}).rowcount:
                tx.rollback()
                return False
            if run_id is not None and not self._q.take_step.run(conn, {"rid": run_id}).rowcount:
                tx.rollback()
                return False
        return True

    def steps_left(self, run_id: int) -> int | None:
        """Steps the run may still grant (None: no step budget)."""
        _, _, max_steps, taken = self._run_counts(run_id)
        return None if max_steps is None else max(0, int(max_steps) - int(taken))

    def trials_left(self, run_id: int) -> int | None:
        """Trials the run may still start (None: no trial limit)."""
        n_trials, started, _, _ = self._run_counts(run_id)
        return None if n_trials is None else max(0, int(n_trials) - int(started))

    def _run_counts(self, run_id: int) -> tuple[Any, ...]:
        with self._read.connect() as conn:
            row = self._q.run_counts.run(conn, {"rid": run_id}).fetchone()
        if row is None:
            raise LookupError(f"no optimize run {run_id}")
        return tuple(row)

    def end_run(self, run_id: int) -> None:
        """Mark the run ended (once: a second call keeps the first time). Its peers on other machines see it
        at their next heartbeat and stop, giving their running trials back (``run_ended``)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(runs).where(runs.c.id == run_id, runs.c.ended_at.is_(None)).values(ended_at=self.clock.time())
            )

    def run_ended(self, run_id: int) -> bool:
        with self._read.connect() as conn:
            return conn.execute(select(runs.c.ended_at).where(runs.c.id == run_id)).scalar() is not None

    def get_run(self, run_id: int) -> OptimizeRunRecord:
        """The optimize run ``run_id`` (its budget and how much of it peers have taken)."""
        with self._read.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        return OptimizeRunRecord(**row._mapping)

    def run_seconds(self, study_id: int, alive_within: float = 30.0) -> float:
        """The study's wall clock: seconds during which at least one of its optimize runs was at work (the
        union of the runs' spans, so peers running side by side count once). A run that has not ended counts
        until now while one of its workers sent a heartbeat in the last ``alive_within`` seconds, else until
        the last heartbeat (its process died)."""
        now = self.clock.time()
        beats = (
            select(workers.c.run_id, func.max(workers.c.heartbeat_at).label("beat"))
            .where(workers.c.study_id == study_id, workers.c.run_id.is_not(None))
            .group_by(workers.c.run_id)
            .subquery()
        )
        with self._read.connect() as conn:
            rows = conn.execute(
                select(runs.c.created_at, runs.c.ended_at, beats.c.beat)
                .outerjoin(beats, beats.c.run_id == runs.c.id)
                .where(runs.c.study_id == study_id)
                .order_by(runs.c.created_at)
            ).all()
        spans = []
        for created, ended, beat in rows:
            if ended is None:
                last = created if beat is None else max(created, beat)
                ended = now if now - last < alive_within else last
            spans.append((created, min(ended, now)))
        return union_length(spans)

    # ------------------------------------------------------------------ the study's budget
    def set_budget(self, study_id: int, budget: StudyBudget, steps_spent: int) -> None:
        """Set the study's limits (the counters are kept). ``steps_spent``: the steps the study has run, from
        which ``steps_taken`` starts when a step limit is set where there was none."""
        with self.engine.begin() as conn:
            self._q.tick.scalar(conn, {"sid": study_id})  # peers' caches see the new limits at their next refresh
            conn.execute(
                update(studies)
                .where(studies.c.id == study_id)
                .values(
                    max_trials=budget.max_trials,
                    max_steps=budget.max_steps,
                    max_seconds=budget.max_seconds,
                    max_energy_j=budget.max_energy_j,
                    steps_taken=case((studies.c.max_steps.is_(None), steps_spent), else_=studies.c.steps_taken),
                )
            )

    def get_budget(self, study_id: int) -> StudyBudget:
        """The study's limits and how much of them is taken."""
        with self._read.connect() as conn:
            row = self._q.budget.run(conn, {"sid": study_id}).fetchone()
        if row is None:
            raise LookupError(f"no study with id {study_id}")
        self.config_seen[study_id] = int(row[6])
        return StudyBudget(*row[:6])


def union_length(spans: list[tuple[float, float]]) -> float:
    """The length of the union of ``(start, end)`` spans.

    >>> union_length([(0, 2), (1, 3), (5, 6)])
    4.0
    """
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total
