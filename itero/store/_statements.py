"""The store's hot statements, compiled once per engine (see ``_prepared``) and shared by its parts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Integer, bindparam, case, func, insert, select, update

from itero.store._prepared import Prepared
from itero.store._schema import reports, runs, studies, trial_runs, trials


def _keep(column: Any, name: str) -> Any:
    """``COALESCE(:name, column)``: a NULL parameter leaves the column as it is."""
    return func.coalesce(bindparam(name, type_=column.type), column)


def _take_one(engine: Any, counter: Any, limit: Any) -> Prepared:
    """``counter += 1`` on the run ``:rid`` unless it reached ``limit`` (NULL: no limit); rowcount 0 = full."""
    return Prepared(
        update(runs)
        .where(runs.c.id == bindparam("rid", type_=Integer), limit.is_(None) | (counter < limit))
        .values({counter.name: counter + 1}),
        engine,
    )


class Statements:
    """The store's hot statements, compiled once for the engine (see ``_prepared``)."""

    def __init__(self, engine: Any) -> None:
        sid = bindparam("sid", type_=Integer)
        self.tick = Prepared(
            update(studies).where(studies.c.id == sid).values(clock=studies.c.clock + 1).returning(studies.c.clock),
            engine,
        )
        self.clock = Prepared(select(studies.c.clock).where(studies.c.id == sid), engine)
        self.run_counts = Prepared(
            select(runs.c.n_trials, runs.c.started, runs.c.max_steps, runs.c.steps_taken).where(
                runs.c.id == bindparam("rid", type_=Integer)
            ),
            engine,
        )
        self.take_slot = _take_one(engine, runs.c.started, runs.c.n_trials)
        self.take_step = _take_one(engine, runs.c.steps_taken, runs.c.max_steps)
        st = studies.c
        self.take_study_step = Prepared(
            update(studies)
            .where(st.id == sid, st.max_steps.is_(None) | (st.steps_taken < st.max_steps))
            .values(steps_taken=st.steps_taken + 1),
            engine,
        )
        self.budget = Prepared(
            select(
                st.max_trials,
                st.max_steps,
                st.max_seconds,
                st.max_energy_j,
                st.next_number,
                st.steps_taken,
                st.config_version,  # read with the budget at no cost: how a worker learns of a narrow (RunHost)
            ).where(st.id == sid),
            engine,
        )
        # A new trial's number; no row (the study's trial budget is spent) when next_number reached max_trials.
        self.next_number = Prepared(
            update(studies)
            .where(studies.c.id == sid, st.max_trials.is_(None) | (st.next_number < st.max_trials))
            .values(next_number=studies.c.next_number + 1, clock=studies.c.clock + 1)
            .returning(studies.c.next_number, studies.c.clock, studies.c.config_version),
            engine,
        )
        self.insert_trial = Prepared(
            insert(trials)
            .returning(trials.c.id)
            .values(
                {
                    c: bindparam(c, type_=trials.c[c].type)
                    for c in (
                        "study_id",
                        "number",
                        "state",
                        "worker_id",
                        "params",
                        "distributions",
                        "parent_id",
                        "checkpoint_id",
                        "system_attrs",
                        "started_at",
                        "version",
                    )
                }
            ),
            engine,
        )
        self.insert_report = Prepared(
            insert(reports).values(
                {
                    c: bindparam(c, type_=reports.c[c].type)
                    for c in ("study_id", "trial_id", "step", "metrics", "version")
                }
            ),
            engine,
        )
        self.insert_run = Prepared(
            insert(trial_runs).values(
                {
                    c: bindparam(c, type_=trial_runs.c[c].type)
                    for c in (
                        "study_id",
                        "trial_id",
                        "worker_id",
                        "start_step",
                        "end_step",
                        "wall_seconds",
                        "cpu_seconds",
                        "energy_j",
                        "co2_g",
                        "energy_method",
                        "started_at",
                        "ended_at",
                        "outcome",
                    )
                }
            ),
            engine,
        )
        c = trials.c
        self.update_trial = Prepared(
            update(trials)
            .where(c.id == bindparam("tid", type_=Integer))
            .values(
                state=_keep(c.state, "state"),
                params=_keep(c.params, "params"),
                distributions=_keep(c.distributions, "distributions"),
                metrics=_keep(c.metrics, "metrics"),
                step=_keep(c.step, "step"),
                error=_keep(c.error, "error"),
                user_attrs=_keep(c.user_attrs, "user_attrs"),
                completed_at=_keep(c.completed_at, "completed_at"),
                checkpoint_id=_keep(c.checkpoint_id, "checkpoint_id"),
                parent_id=_keep(c.parent_id, "parent_id"),
                system_attrs=_keep(c.system_attrs, "system_attrs"),
                datasets=_keep(c.datasets, "datasets"),
                steps_run=c.steps_run + bindparam("d_steps", type_=Integer),
                wall_seconds=c.wall_seconds + bindparam("d_wall", type_=Float),
                cpu_seconds=c.cpu_seconds + bindparam("d_cpu", type_=Float),
                energy_j=c.energy_j + bindparam("d_energy", type_=Float),
                co2_g=c.co2_g + bindparam("d_co2", type_=Float),
                n_runs=c.n_runs + bindparam("d_runs", type_=Integer),
                version=bindparam("version", type_=BigInteger),
                # A write that ends or pauses the trial carries out (or outlives) a person's request.
                request=case((bindparam("clear_request", type_=Boolean), None), else_=c.request),
            )
            # The request comes back with each write: a running trial learns of a hand stop without a read of its own.
            .returning(c.request),
            engine,
        )
        window = (bindparam("lo", type_=BigInteger), bindparam("hi", type_=BigInteger))
        self.changed_trials = Prepared(
            select(trials).where(c.study_id == sid, c.version > window[0], c.version <= window[1]), engine
        )
        r = reports.c
        self.changed_reports = Prepared(
            select(r.trial_id, r.step, r.metrics)
            .where(r.study_id == sid, r.version > window[0], r.version <= window[1])
            .order_by(r.id),
            engine,
        )
