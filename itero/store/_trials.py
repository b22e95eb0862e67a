"""The trial rows of the store: create, claim, retire, write and give back trials, and read what changed.

Every write takes the study's next clock value as the rows' ``version`` (``_tick``); claims and retirements are
compare-and-set updates, so two workers never run or retire the same trial. Part of ``Store``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, insert, select, update

from itero._clock import Clock
from itero.store._artifacts import ArtifactStore
from itero.store._records import ReportRow, TrialRow
from itero.store._schema import checkpoints, trial_runs, trials, workers
from itero.store._statements import Statements
from itero.store._writes import HandRequest, TrialWrite, Written
from itero.trial import PROPOSAL_KEY

_dumps = json.dumps


class TrialRows:
    """The trial-row half of ``Store`` (it supplies the engine, clock, artifact stores and statements)."""

    engine: Engine
    clock: Clock
    artifacts_for: Callable[[int], ArtifactStore]  # where a study's checkpoints live
    _read: Engine
    _q: Statements
    config_seen: dict[int, int]  # Store: each study's settings version, as last read

    # ------------------------------------------------------------------ clock
    def _tick(self, conn: Connection, study_id: int) -> int:
        """The study's next version; the row lock it takes orders concurrent writers (PostgreSQL)."""
        return int(self._q.tick.scalar(conn, {"sid": study_id}))

    # ------------------------------------------------------------------ trials
    def create_trial(
        self,
        study_id: int,
        *,
        run_id: int | None = None,
        worker_id: int | None = None,
        state: str = "RUNNING",
        params: Mapping[str, Any] | None = None,
        distributions: Mapping[str, Any] | None = None,
        parent_id: int | None = None,
        checkpoint_id: int | None = None,
        system_attrs: Mapping[str, Any] | None = None,
        replaces: tuple[int, str, int | None] | None = None,
        proposal: tuple[int, Mapping[str, Any]] | None = None,
    ) -> tuple[int, int]:
        """A new trial ``(id, number)``; raises ``RunFull`` when the run's ``n_trials`` are all started, or the
        study's trial budget (``max_trials``; ``RunFull(None)``).

        ``proposal=(number, joint)``: a sampler's joint proposal drawn for a trial numbered ``number``, stored
        with the trial (``system_attrs["proposal"]``) when it gets that number — not when a peer took the number
        first, since the proposal was then drawn for the peer's trial.

        A clone (``checkpoint_id`` of a donor) is created only if that checkpoint still exists, and with
        ``replaces=(trial_id, reason, step)`` only if this call is the one that retires that trial, PAUSED at
        ``step`` (PRUNED with ``reason``), all in one transaction: two peers never clone in place of the same
        trial. Otherwise it raises ``LostRace``.
        """
        with self.engine.begin() as conn:
            return self._create_trial(
                conn,
                study_id,
                run_id=run_id,
                worker_id=worker_id,
                state=state,
                params=params,
                distributions=distributions,
                parent_id=parent_id,
                checkpoint_id=checkpoint_id,
                system_attrs=system_attrs,
                replaces=replaces,
                proposal=proposal,
            )

    def _create_trial(
        self,
        conn: Connection,
        study_id: int,
        *,
        run_id: int | None = None,
        worker_id: int | None = None,
        state: str = "RUNNING",
        params: Mapping[str, Any] | None = None,
        distributions: Mapping[str, Any] | None = None,
        parent_id: int | None = None,
        checkpoint_id: int | None = None,
        system_attrs: Mapping[str, Any] | None = None,
        replaces: tuple[int, str, int | None] | None = None,
        proposal: tuple[int, Mapping[str, Any]] | None = None,
    ) -> tuple[int, int]:
        """``create_trial`` inside the caller's transaction ``conn``."""
        q = self._q
        if checkpoint_id is not None:
            exists = select(checkpoints.c.id).where(checkpoints.c.id == checkpoint_id)
            if conn.dialect.name == "postgresql":
                exists = exists.with_for_update(read=True)  # a concurrent garbage collection waits
            if conn.execute(exists).first() is None:
                raise LostRace(f"checkpoint {checkpoint_id} was garbage-collected")
        if replaces is not None and not self._retire(conn, study_id, *replaces):
            raise LostRace(f"trial {replaces[0]} was resumed or replaced by another worker")
        # The study's row first, then the run's, as in every write: peers never wait on each other in a cycle.
        row: Any = q.next_number.run(conn, {"sid": study_id}).fetchone()
        if row is None:
            raise RunFull(None)  # the study's trial budget is spent
        number, version = int(row[0]), int(row[1])
        self.config_seen[study_id] = int(row[2])  # a trial created after a narrow is proposed inside it
        if run_id is not None and not q.take_slot.run(conn, {"rid": run_id}).rowcount:
            raise RunFull(run_id)  # the transaction rolls back: the number is not used
        if proposal is not None and proposal[0] == number - 1:
            system_attrs = {**(system_attrs or {}), PROPOSAL_KEY: dict(proposal[1])}
        trial_id = q.insert_trial.run(
            conn,
            {
                "study_id": study_id,
                "number": number - 1,
                "state": state,
                "worker_id": worker_id,
                "params": _dumps(dict(params or {})),
                "distributions": _dumps(dict(distributions or {})),
                "parent_id": parent_id,
                "checkpoint_id": checkpoint_id,
                "system_attrs": _dumps(dict(system_attrs or {})),
                "started_at": self.clock.time() if state == "RUNNING" else None,
                "version": version,
            },
        ).fetchone()[0]
        return int(trial_id), int(number - 1)

    def claim_trial(
        self,
        study_id: int,
        trial_id: int,
        from_states: Sequence[str],
        worker_id: int | None,
        run_id: int | None = None,
        step: int | None = None,
    ) -> bool:
        """Atomically move a trial from one of ``from_states`` to RUNNING for ``worker_id``; False if lost.

        ``run_id``: the claim counts as one of that optimize run's ``n_trials`` (an enqueued trial's first run):
        it fails, and changes nothing, when the run's trials are all started. ``step``: the step the caller saw
        the trial at. A trial that was resumed and paused again since then is in the same state at a later step
        (and checkpoint): the claim fails instead of resuming it from the checkpoint the caller saw, which would
        run steps twice. Claiming a PAUSED trial carries out a person's request to resume it.
        """
        with self.engine.connect() as conn, conn.begin() as tx:
            version = self._tick(conn, study_id)
            claimed = conn.execute(
                update(trials)
                .where(*_as_seen(trial_id, from_states, step))
                .values(
                    state="RUNNING",
                    worker_id=worker_id,
                    version=version,
                    started_at=func.coalesce(trials.c.started_at, self.clock.time()),
                    request=case((trials.c.state == "PAUSED", None), else_=trials.c.request),
                )
            ).rowcount
            if claimed and run_id is not None and not self._q.take_slot.run(conn, {"rid": run_id}).rowcount:
                tx.rollback()  # the run's trials are all started: leave this one to another run
                return False
            return bool(claimed)

    def retire_trial(self, study_id: int, trial_id: int, reason: str, step: int | None = None) -> bool:
        """End a PAUSED trial as PRUNED with ``reason``; False if another worker resumed or ended it first (or,
        with ``step``, if it is no longer paused at the step the caller saw), or a person asked to resume it."""
        with self.engine.begin() as conn:
            return self._retire(conn, study_id, trial_id, reason, step)

    def _retire(self, conn: Connection, study_id: int, trial_id: int, reason: str, step: int | None = None) -> bool:
        version = self._tick(conn, study_id)
        return bool(
            conn.execute(
                update(trials)
                .where(*_as_seen(trial_id, ["PAUSED"], step), trials.c.request.is_(None))  # not one resumed by hand
                .values(state="PRUNED", error=reason, completed_at=self.clock.time(), version=version)
            ).rowcount
        )

    def write_trial(self, study_id: int, w: TrialWrite) -> Written:
        """Apply one write of a running trial in one transaction; returns the trial's checkpoint id when the write
        stores a checkpoint or a warm start, and a person's pending request to stop or pause the trial (read back
        by the same statement: no read of its own). A checkpoint's bytes are stored (content-addressed) before its
        row, and stored again after it if a peer's garbage collection removed the same content in between."""
        digest = None if w.checkpoint is None else self.artifacts_for(study_id).put(w.checkpoint.data)
        now = self.clock.time()
        cost, warm = w.cost, w.warm_start
        values: dict[str, Any] = {
            "tid": w.trial_id,
            "state": w.state,
            "params": None if w.params is None else _dumps(dict(w.params)),
            "distributions": None if w.distributions is None else _dumps(dict(w.distributions)),
            "metrics": None if w.metrics is None else _dumps(dict(w.metrics), allow_nan=True),
            "step": w.step,
            "error": w.error,
            "user_attrs": None if w.user_attrs is None else _dumps(dict(w.user_attrs), default=str),
            "completed_at": now if w.finished else None,
            "d_steps": cost.steps if cost else 0,
            "d_wall": cost.wall_seconds if cost else 0.0,
            "d_cpu": cost.cpu_seconds if cost else 0.0,
            "d_energy": cost.energy_j if cost else 0.0,
            "d_co2": cost.co2_g if cost else 0.0,
            "datasets": None if w.datasets is None else _dumps(dict(w.datasets)),
            "d_runs": 1 if w.run is not None else 0,
            "checkpoint_id": None if warm is None else warm.checkpoint_id,
            "parent_id": None if warm is None else warm.parent_id,
            "system_attrs": None,
            "clear_request": w.state is not None and w.state != "WAITING",  # a trial given back keeps it
        }
        merge = {**(warm.attrs if warm is not None else {}), **(w.system_attrs or {})}
        q = self._q
        with self.engine.begin() as conn:
            # The tick first: its row lock orders this read-merge-write after a concurrent one (a note set by hand).
            version = q.tick.scalar(conn, {"sid": study_id})
            values["version"] = version
            if merge:
                old = conn.execute(select(trials.c.system_attrs).where(trials.c.id == w.trial_id)).scalar_one()
                values["system_attrs"] = _dumps({**json.loads(old or "{}"), **merge})
            report_rows = [
                {
                    "study_id": study_id,
                    "trial_id": w.trial_id,
                    "step": s,
                    "metrics": _dumps(dict(m), allow_nan=True),
                    "version": version,
                }
                for s, m in w.reports
            ]
            if report_rows:
                q.insert_report.run_many(conn, report_rows)
            if w.checkpoint is not None:
                values["checkpoint_id"] = conn.execute(
                    insert(checkpoints)
                    .values(
                        study_id=study_id,
                        trial_id=w.trial_id,
                        step=w.checkpoint.step,
                        digest=digest,
                        size=len(w.checkpoint.data),
                        created_at=now,
                    )
                    .returning(checkpoints.c.id)
                ).scalar_one()
            run = w.run
            if run is not None:
                q.insert_run.run(
                    conn,
                    {
                        "study_id": study_id,
                        "trial_id": w.trial_id,
                        "worker_id": w.worker_id,
                        "start_step": run.start_step,
                        "end_step": run.end_step,
                        "wall_seconds": run.wall_seconds,
                        "cpu_seconds": run.cpu_seconds,
                        "energy_j": run.energy_j,
                        "co2_g": run.co2_g,
                        "energy_method": run.energy_method,
                        "started_at": run.started_at,
                        "ended_at": now,
                        "outcome": run.outcome,
                    },
                )
            with closing(q.update_trial.run(conn, values)) as cursor:
                returned = cursor.fetchone()
        if w.checkpoint is not None and digest is not None:
            self.artifacts_for(study_id).restore(digest, w.checkpoint.data)
        return Written(values["checkpoint_id"], None if returned is None else parse_request(returned[0]))

    def release_trials(
        self,
        study_id: int,
        *,
        worker_id: int | None = None,
        stale_before: float | None = None,
        max_retries: int = 2,
        reason: str = "its worker died",
    ) -> list[int]:
        """Give back the RUNNING trials of a dead worker (or of workers silent since ``stale_before``).

        Each goes back to WAITING, to be resumed from its last checkpoint or retried from scratch by another
        worker, unless it has already been retried ``max_retries`` times: then it is FAILED with the reason (or
        a person asked to stop it: then it is PRUNED).
        The lost attempt is recorded as a CRASHED run holding the cost it had written (the trial's totals minus
        its recorded runs), from where its previous run ended to the step it reached. Returns the numbers of
        the trials given back.
        """
        with self.engine.begin() as conn:
            cond = [trials.c.study_id == study_id, trials.c.state == "RUNNING"]
            if worker_id is not None:
                cond.append(trials.c.worker_id == worker_id)
            if stale_before is not None:
                stale = select(workers.c.id).where(
                    workers.c.study_id == study_id, workers.c.heartbeat_at < stale_before
                )
                cond.append(trials.c.worker_id.in_(stale))
            t = trials.c
            rows = conn.execute(select(t.id, t.retries, t.number, t.request).where(and_(*cond))).all()
            if not rows:
                return []
            version = self._tick(conn, study_id)
            now = self.clock.time()
            self._record_crashes(conn, study_id, [r.id for r in rows], now)
            for tid, retries, _number, request in rows:
                asked = parse_request(request)
                if asked is not None and asked.action == "stop":  # a person asked to stop it: no retry
                    conn.execute(
                        update(trials)
                        .where(t.id == tid)
                        .values(state="PRUNED", completed_at=now, version=version, error=asked.reason, request=None)
                    )
                elif retries >= max_retries:
                    conn.execute(
                        update(trials)
                        .where(trials.c.id == tid)
                        .values(
                            state="FAILED",
                            completed_at=now,
                            version=version,
                            retries=retries + 1,
                            error=f"{reason} while running this trial {retries + 1} times; not retried again",
                            request=None,
                        )
                    )
                else:
                    conn.execute(
                        update(trials)
                        .where(trials.c.id == tid)
                        .values(state="WAITING", worker_id=None, version=version, retries=retries + 1)
                    )
        return [r.number for r in rows]

    def _record_crashes(self, conn: Connection, study_id: int, trial_ids: list[int], now: float) -> None:
        """A CRASHED run row for each of ``trial_ids``: the cost its trial wrote that no run row accounts for."""
        r = trial_runs.c
        done = (
            select(
                r.trial_id,
                func.coalesce(func.max(r.end_step), 0).label("end"),
                func.max(r.ended_at).label("ended"),
                func.coalesce(func.sum(r.wall_seconds), 0.0).label("wall"),
                func.coalesce(func.sum(r.cpu_seconds), 0.0).label("cpu"),
                func.coalesce(func.sum(r.energy_j), 0.0).label("energy"),
                func.coalesce(func.sum(r.co2_g), 0.0).label("co2"),
            )
            .where(r.trial_id.in_(trial_ids))
            .group_by(r.trial_id)
        )
        before = {row.trial_id: row for row in conn.execute(done)}
        t = trials.c
        current = select(
            t.id, t.worker_id, t.step, t.wall_seconds, t.cpu_seconds, t.energy_j, t.co2_g, t.started_at
        ).where(t.id.in_(trial_ids))
        for row in conn.execute(current).all():
            prev = before.get(row.id)
            conn.execute(
                insert(trial_runs).values(
                    study_id=study_id,
                    trial_id=row.id,
                    worker_id=row.worker_id,
                    start_step=min(int(prev.end) if prev else 0, row.step),
                    end_step=row.step,
                    wall_seconds=max(0.0, row.wall_seconds - (prev.wall if prev else 0.0)),
                    cpu_seconds=max(0.0, row.cpu_seconds - (prev.cpu if prev else 0.0)),
                    energy_j=max(0.0, row.energy_j - (prev.energy if prev else 0.0)),
                    co2_g=max(0.0, row.co2_g - (prev.co2 if prev else 0.0)),
                    started_at=(prev.ended if prev and prev.ended is not None else row.started_at) or now,
                    ended_at=now,
                    outcome="CRASHED",
                )
            )
        conn.execute(update(trials).where(t.id.in_(trial_ids)).values(n_runs=t.n_runs + 1))

    # ------------------------------------------------------------------ reads
    def read_changes(self, study_id: int, since: int) -> tuple[int, list[TrialRow], list[ReportRow]]:
        """``(version, trial rows, report rows)`` changed after version ``since``, up to ``version``.

        No snapshot is needed: a write takes its version and writes its rows in one transaction, so every row
        with a version up to the clock read first is committed (later ones are read next time). The two SELECTs
        may see different later commits, so a report can arrive one refresh before its trial's row; nothing is
        lost, the skew lasts until the next refresh."""
        q = self._q
        with self._read.connect() as conn:
            version = int(q.clock.scalar(conn, {"sid": study_id}))
            if version == since:
                return version, [], []
            window = {"sid": study_id, "lo": since, "hi": version}
            trial_rows = [TrialRow._make(r) for r in q.changed_trials.run(conn, window).fetchall()]
            report_rows = [ReportRow._make(r) for r in q.changed_reports.run(conn, window).fetchall()]
        return version, trial_rows, report_rows


class RunFull(Exception):
    """The optimize run (``args[0]``: its id) or, with ``None``, the study has started all the trials it may."""


class LostRace(Exception):
    """Another worker changed what this one meant to use (a paused trial, a checkpoint); look again."""


def _as_seen(trial_id: int, states: Sequence[str], step: int | None) -> list[Any]:
    """The trial is still in one of ``states`` (and at ``step``, when given): what a compare-and-set needs so
    that a trial resumed and paused again since the caller looked does not match."""
    cond = [trials.c.id == trial_id, trials.c.state.in_(list(states))]
    if step is not None:
        cond.append(trials.c.step == step)
    return cond


def parse_request(text: str | None) -> HandRequest | None:
    """The ``request`` column (JSON ``{"action": ..., "who": ...}``) as a ``HandRequest``; None when there is none."""
    if not text:
        return None
    data = json.loads(text)
    return HandRequest(str(data.get("action", "")), str(data.get("who", "?")))
