"""The store: the only shared state of a study. Every worker is a peer that reads and writes through it.

    >>> store = Store("sqlite://")                      # in memory; "sqlite:///itero.db" or "postgresql://…"
    >>> rec = store.create_study("s", {"loss": "minimize"})
    >>> trial_id, number = store.create_trial(rec.id)
    >>> store.write_trial(rec.id, TrialWrite(trial_id, state="COMPLETE", metrics={"loss": 0.5}))

Writes are short transactions that each take the study's next clock value as the rows' ``version``;
``read_changes`` returns only what changed since a version, so a worker's cost of staying current does not grow
with the size of the study. Claims are compare-and-set updates (``WHERE state IN (...)``), so two workers never
run the same trial.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Connection, Float, Integer, and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from itero._clock import SYSTEM_CLOCK, Clock
from itero.exceptions import DuplicatedStudyError, StudyNotFoundError
from itero.store._artifacts import ArtifactStore, default_root
from itero.store._engine import open_engine
from itero.store._prepared import Prepared
from itero.store._records import (
    DatasetVersionRecord,
    OptimizeRunRecord,
    StudyRecord,
    TrialRunRecord,
    WorkerEnvironmentRecord,
)
from itero.store._schema import (
    checkpoints,
    datasets,
    environments,
    reports,
    runs,
    studies,
    trial_runs,
    trials,
    workers,
)
from itero.store._writes import TrialWrite

_dumps = json.dumps


class Store:
    """Persistence of studies, trials, reports, costs and checkpoints in one SQL database."""

    def __init__(
        self,
        url: str = "sqlite:///itero.db",
        artifacts: str | os.PathLike[str] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.url = url
        self.clock = clock  # timestamps of rows (a simulation passes a FakeClock)
        self.engine = open_engine(url)
        # An in-memory SQLite database lives in one connection of this process: no peer can share it, and
        # only one thread may use it.
        self.in_memory = self.engine.dialect.name == "sqlite" and self.engine.url.database in (None, "", ":memory:")
        self._read = self.engine.execution_options(itero_read=True)
        self.artifacts = ArtifactStore(artifacts if artifacts is not None else default_root(url))
        self._q = _Statements(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ studies
    def create_study(
        self,
        name: str,
        directions: Mapping[str, str],
        config: Mapping[str, Any] | None = None,
        load_if_exists: bool = False,
    ) -> StudyRecord:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(studies).values(
                        name=name,
                        directions=_dumps(dict(directions)),
                        config=_dumps(dict(config or {})),
                        created_at=self.clock.time(),
                    )
                )
        except IntegrityError:
            if not load_if_exists:
                raise DuplicatedStudyError(
                    f"study {name!r} already exists in {self.url}; pass load_if_exists=True to continue it "
                    "or choose another name"
                ) from None
        return self.get_study(name)

    def get_study(self, name: str) -> StudyRecord:
        with self._read.connect() as conn:
            row = conn.execute(select(studies).where(studies.c.name == name)).first()
        if row is None:
            names = [s.name for s in self.list_studies()]
            known = ", ".join(repr(n) for n in names[:20]) if names else "none"
            raise StudyNotFoundError(f"no study named {name!r} in {self.url}; studies there: {known}")
        return StudyRecord(row.id, row.name, json.loads(row.directions), json.loads(row.config), row.created_at)

    def list_studies(self) -> list[StudyRecord]:
        with self._read.connect() as conn:
            rows = conn.execute(select(studies).order_by(studies.c.id)).all()
        return [StudyRecord(r.id, r.name, json.loads(r.directions), json.loads(r.config), r.created_at) for r in rows]

    def update_study_config(self, study_id: int, config: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(studies).where(studies.c.id == study_id).values(config=_dumps(dict(config))))

    def delete_study(self, name: str) -> None:
        rec = self.get_study(name)
        digests = self.checkpoint_digests(rec.id)
        with self.engine.begin() as conn:
            for table in (checkpoints, trial_runs, reports, trials, workers, runs):
                conn.execute(table.delete().where(table.c.study_id == rec.id))
            conn.execute(studies.delete().where(studies.c.id == rec.id))
        for digest in digests:
            self.artifacts.delete(digest)

    def state_counts(self) -> dict[int, dict[str, int]]:
        """``{study_id: {state: count}}`` for every study."""
        out: dict[int, dict[str, int]] = {}
        with self._read.connect() as conn:
            q = select(trials.c.study_id, trials.c.state, func.count()).group_by(trials.c.study_id, trials.c.state)
            for sid, state, n in conn.execute(q):
                out.setdefault(sid, {})[state] = n
        return out

    # ------------------------------------------------------------------ clock
    def _tick(self, conn: Connection, study_id: int) -> int:
        """The study's next version; the row lock it takes orders concurrent writers (PostgreSQL)."""
        return int(self._q.tick.run(conn, {"sid": study_id}).scalar_one())

    # ------------------------------------------------------------------ optimize runs and workers
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

    def take_step(self, run_id: int) -> bool:
        """Grant one more step of the run's step budget; False once it is spent. Peers share the budget
        through this atomic update, so a study never runs more steps than ``max_steps_total``."""
        with self.engine.begin() as conn:
            return bool(self._q.take_step.run(conn, {"rid": run_id}).rowcount)

    def steps_left(self, run_id: int) -> int | None:
        """Steps the run may still grant (None: no step budget)."""
        with self._read.connect() as conn:
            row = conn.execute(select(runs.c.max_steps, runs.c.steps_taken).where(runs.c.id == run_id)).one()
        return None if row.max_steps is None else max(0, int(row.max_steps) - int(row.steps_taken))

    def trials_left(self, run_id: int) -> int | None:
        """Trials the run may still start (None: no trial limit)."""
        with self._read.connect() as conn:
            row = conn.execute(select(runs.c.n_trials, runs.c.started).where(runs.c.id == run_id)).one()
        return None if row.n_trials is None else max(0, int(row.n_trials) - int(row.started))

    def end_run(self, run_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(ended_at=self.clock.time()))

    def get_run(self, run_id: int) -> OptimizeRunRecord:
        """The optimize run ``run_id`` (its budget and how much of it peers have taken)."""
        with self._read.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        return OptimizeRunRecord(**row._mapping)

    def run_seconds(self, study_id: int) -> float:
        """Wall seconds spent by all ended optimize runs of the study."""
        with self._read.connect() as conn:
            total = conn.execute(
                select(func.sum(runs.c.ended_at - runs.c.created_at)).where(
                    runs.c.study_id == study_id, runs.c.ended_at.is_not(None)
                )
            ).scalar()
        return float(total or 0.0)

    def register_worker(self, study_id: int, environment: Mapping[str, Any] | None = None) -> int:
        """A new worker row; ``environment`` (see ``itero.tracking.capture_environment``) is stored once per
        distinct content and linked from the worker."""
        now = self.clock.time()
        with self.engine.begin() as conn:
            env_id = None if environment is None else self._environment_id(conn, environment)
            return int(
                conn.execute(
                    insert(workers)
                    .values(
                        study_id=study_id,
                        host=socket.gethostname()[:255],
                        pid=os.getpid(),
                        started_at=now,
                        heartbeat_at=now,
                        environment_id=env_id,
                    )
                    .returning(workers.c.id)
                ).scalar_one()
            )

    def _environment_id(self, conn: Connection, environment: Mapping[str, Any]) -> int:
        text = _dumps(dict(environment), sort_keys=True, default=str)
        digest = hashlib.blake2b(text.encode(), digest_size=32).hexdigest()
        found = conn.execute(select(environments.c.id).where(environments.c.digest == digest)).scalar()
        if found is not None:
            return int(found)
        try:
            with conn.begin_nested():
                return int(
                    conn.execute(
                        insert(environments)
                        .values(digest=digest, info=text, created_at=self.clock.time())
                        .returning(environments.c.id)
                    ).scalar_one()
                )
        except IntegrityError:  # a peer stored the same environment first
            return int(conn.execute(select(environments.c.id).where(environments.c.digest == digest)).scalar_one())

    def environments(self, study_id: int) -> list[WorkerEnvironmentRecord]:
        """Every environment the study's workers ran in, with those workers' ids."""
        with self._read.connect() as conn:
            rows = conn.execute(
                select(environments.c.id, environments.c.info, workers.c.id.label("wid"))
                .join(workers, workers.c.environment_id == environments.c.id)
                .where(workers.c.study_id == study_id)
                .order_by(environments.c.id, workers.c.id)
            ).all()
        infos: dict[int, str] = {}
        worker_ids: dict[int, list[int]] = {}
        for env_id, info, wid in rows:
            infos[env_id] = info
            worker_ids.setdefault(env_id, []).append(wid)
        return [WorkerEnvironmentRecord(e, json.loads(infos[e]), tuple(w)) for e, w in worker_ids.items()]

    def record_datasets(self, study_id: int, versions: Iterable[tuple[str, str, str, Mapping[str, Any]]]) -> None:
        """Store ``(name, digest, kind, info)`` dataset versions of the study (once each)."""
        for name, digest, kind, info in versions:
            with self.engine.begin() as conn:
                exists = conn.execute(
                    select(datasets.c.id).where(
                        datasets.c.study_id == study_id, datasets.c.name == name, datasets.c.digest == digest
                    )
                ).scalar()
                if exists is not None:
                    continue
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(datasets).values(
                                study_id=study_id,
                                name=name,
                                digest=digest,
                                kind=kind[:32],
                                info=_dumps(dict(info), default=str),
                                created_at=self.clock.time(),
                            )
                        )
                except IntegrityError:  # a peer recorded it first
                    pass

    def datasets(self, study_id: int) -> list[DatasetVersionRecord]:
        """The study's dataset versions, oldest first."""
        with self._read.connect() as conn:
            rows = conn.execute(
                select(datasets.c.name, datasets.c.digest, datasets.c.kind, datasets.c.info, datasets.c.created_at)
                .where(datasets.c.study_id == study_id)
                .order_by(datasets.c.id)
            ).all()
        return [DatasetVersionRecord(r.name, r.digest, r.kind, json.loads(r.info), r.created_at) for r in rows]

    def workers_of_process(self, study_id: int, pid: int) -> list[int]:
        """Ids of the workers that process ``pid`` on this host registered for the study."""
        with self._read.connect() as conn:
            return list(
                conn.execute(
                    select(workers.c.id).where(
                        workers.c.study_id == study_id,
                        workers.c.pid == pid,
                        workers.c.host == socket.gethostname()[:255],
                    )
                ).scalars()
            )

    def heartbeat(self, worker_id: int, finished: bool = False) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(workers)
                .where(workers.c.id == worker_id)
                .values(heartbeat_at=self.clock.time(), finished=finished)
            )

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
    ) -> tuple[int, int]:
        """A new trial ``(id, number)``; raises ``RunFull`` when the run's ``n_trials`` are all started.

        A clone (``checkpoint_id`` of a donor) is created only if that checkpoint still exists, and with
        ``replaces=(trial_id, reason, step)`` only if this call is the one that retires that trial, PAUSED at
        ``step`` (PRUNED with ``reason``), all in one transaction: two peers never clone in place of the same
        trial. Otherwise it raises ``LostRace``.
        """
        q = self._q
        with self.engine.begin() as conn:
            if checkpoint_id is not None:
                exists = select(checkpoints.c.id).where(checkpoints.c.id == checkpoint_id)
                if conn.dialect.name == "postgresql":
                    exists = exists.with_for_update(read=True)  # a concurrent garbage collection waits
                if conn.execute(exists).first() is None:
                    raise LostRace(f"checkpoint {checkpoint_id} was garbage-collected")
            if replaces is not None and not self._retire(conn, study_id, *replaces):
                raise LostRace(f"trial {replaces[0]} was resumed or replaced by another worker")
            if run_id is not None and not q.take_slot.run(conn, {"rid": run_id}).rowcount:
                raise RunFull(run_id)
            row: Any = q.next_number.run(conn, {"sid": study_id}).one()
            number, version = int(row[0]), int(row[1])
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
            ).scalar_one()
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

        ``step``: the step the caller saw the trial at. A trial that was resumed and paused again since then is
        in the same state at a later step (and checkpoint): the claim fails instead of resuming it from the
        checkpoint the caller saw, which would run steps twice.
        """
        with self.engine.begin() as conn:
            version = self._tick(conn, study_id)
            claimed = conn.execute(
                update(trials)
                .where(*_as_seen(trial_id, from_states, step))
                .values(
                    state="RUNNING",
                    worker_id=worker_id,
                    version=version,
                    started_at=func.coalesce(trials.c.started_at, self.clock.time()),
                )
            ).rowcount
            if claimed and run_id is not None:
                conn.execute(update(runs).where(runs.c.id == run_id).values(started=runs.c.started + 1))
            return bool(claimed)

    def retire_trial(self, study_id: int, trial_id: int, reason: str, step: int | None = None) -> bool:
        """End a PAUSED trial as PRUNED with ``reason``; False if another worker resumed or ended it first (or,
        with ``step``, if it is no longer paused at the step the caller saw)."""
        with self.engine.begin() as conn:
            return self._retire(conn, study_id, trial_id, reason, step)

    def _retire(self, conn: Connection, study_id: int, trial_id: int, reason: str, step: int | None = None) -> bool:
        version = self._tick(conn, study_id)
        return bool(
            conn.execute(
                update(trials)
                .where(*_as_seen(trial_id, ["PAUSED"], step))
                .values(state="PRUNED", error=reason, completed_at=self.clock.time(), version=version)
            ).rowcount
        )

    def write_trial(self, study_id: int, w: TrialWrite) -> int | None:
        """Apply one write of a running trial in one transaction; returns the trial's checkpoint id when the write
        stores a checkpoint or a warm start (None otherwise). A checkpoint's bytes are stored (content-addressed)
        before its row, and stored again after it if a peer's garbage collection removed the same content in
        between."""
        digest = None if w.checkpoint is None else self.artifacts.put(w.checkpoint.data)
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
        }
        merge = {**(warm.attrs if warm is not None else {}), **(w.system_attrs or {})}
        q = self._q
        with self.engine.begin() as conn:
            if merge:
                old = conn.execute(select(trials.c.system_attrs).where(trials.c.id == w.trial_id)).scalar_one()
                values["system_attrs"] = _dumps({**json.loads(old or "{}"), **merge})
            version = q.tick.run(conn, {"sid": study_id}).scalar_one()
            values["version"] = version
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
            q.update_trial.run(conn, values)
        if w.checkpoint is not None and digest is not None:
            self.artifacts.restore(digest, w.checkpoint.data)
        return values["checkpoint_id"]

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
        worker, unless it has already been retried ``max_retries`` times: then it is FAILED with the reason.
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
            rows = conn.execute(select(trials.c.id, trials.c.retries).where(and_(*cond))).all()
            if not rows:
                return []
            version = self._tick(conn, study_id)
            now = self.clock.time()
            for tid, retries in rows:
                if retries >= max_retries:
                    conn.execute(
                        update(trials)
                        .where(trials.c.id == tid)
                        .values(
                            state="FAILED",
                            completed_at=now,
                            version=version,
                            retries=retries + 1,
                            error=f"{reason} while running this trial {retries + 1} times; not retried again",
                        )
                    )
                else:
                    conn.execute(
                        update(trials)
                        .where(trials.c.id == tid)
                        .values(state="WAITING", worker_id=None, version=version, retries=retries + 1)
                    )
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ reads
    def read_changes(self, study_id: int, since: int) -> tuple[int, list[Any], list[Any]]:
        """``(version, trial rows, report rows)`` changed after version ``since``, up to ``version``."""
        q = self._q
        with self._read.connect() as conn:
            version = int(q.clock.run(conn, {"sid": study_id}).scalar_one())
            if version == since:
                return version, [], []
            window = {"sid": study_id, "lo": since, "hi": version}
            trial_rows = q.changed_trials.run(conn, window).all()
            report_rows = q.changed_reports.run(conn, window).all()
        return version, list(trial_rows), list(report_rows)

    def trial_runs(self, study_id: int) -> list[TrialRunRecord]:
        """Every run of every trial of the study, oldest first."""
        with self._read.connect() as conn:
            rows = conn.execute(
                select(trial_runs).where(trial_runs.c.study_id == study_id).order_by(trial_runs.c.id)
            ).all()
        return [TrialRunRecord(**r._mapping) for r in rows]

    # ------------------------------------------------------------------ checkpoints
    def load_checkpoint(self, checkpoint_id: int) -> tuple[int, int, bytes]:
        """``(trial_id, step, bytes)`` of a checkpoint, verified against its hash; ``LookupError`` if it was
        garbage-collected."""
        with self._read.connect() as conn:
            row = conn.execute(select(checkpoints).where(checkpoints.c.id == checkpoint_id)).first()
        if row is None:
            raise LookupError(f"checkpoint {checkpoint_id} no longer exists")
        return row.trial_id, row.step, self.artifacts.get(row.digest)

    def checkpoint_step(self, checkpoint_id: int) -> int:
        """The step a checkpoint was taken at; ``LookupError`` if it was garbage-collected."""
        with self._read.connect() as conn:
            step = conn.execute(select(checkpoints.c.step).where(checkpoints.c.id == checkpoint_id)).scalar()
        if step is None:
            raise LookupError(f"checkpoint {checkpoint_id} no longer exists")
        return int(step)

    def checkpoint_digests(self, study_id: int) -> list[str]:
        with self._read.connect() as conn:
            return list(conn.execute(select(checkpoints.c.digest).where(checkpoints.c.study_id == study_id)).scalars())

    def checkpoint_bytes(self, study_id: int) -> int:
        with self._read.connect() as conn:
            return int(
                conn.execute(
                    select(func.coalesce(func.sum(checkpoints.c.size), 0)).where(checkpoints.c.study_id == study_id)
                ).scalar_one()
            )

    def collect_checkpoints(self, study_id: int, keep: Iterable[int] = ()) -> int:
        """Delete the study's checkpoints that can no longer be resumed or cloned; return the bytes freed.

        Kept: the latest checkpoint of every trial that is not finished (read in the same transaction, so it is
        never stale: a checkpoint row and the trial that names it are written together), the ids in ``keep``
        (extra donors a scheduler wants). A clone is created only if its donor's checkpoint still exists
        (``create_trial``), and a file is removed only when no checkpoint row of any study still names its
        digest.
        """
        keep_ids = {int(k) for k in keep}
        live = select(trials.c.checkpoint_id).where(
            trials.c.study_id == study_id,
            trials.c.state.in_(["RUNNING", "PAUSED", "WAITING"]),
            trials.c.checkpoint_id.is_not(None),
        )
        candidates = select(checkpoints.c.id, checkpoints.c.digest, checkpoints.c.size).where(
            checkpoints.c.study_id == study_id,
            checkpoints.c.id.not_in(live),
        )
        with self._read.connect() as conn:  # most calls find nothing: look without taking the write lock
            if all(r.id in keep_ids for r in conn.execute(candidates)):
                return 0
        with self.engine.begin() as conn:
            doomed = [r for r in conn.execute(candidates).all() if r.id not in keep_ids]
            if not doomed:
                return 0
            conn.execute(checkpoints.delete().where(checkpoints.c.id.in_([r.id for r in doomed])))
            digests = {r.digest for r in doomed}
            still = set(conn.execute(select(checkpoints.c.digest).where(checkpoints.c.digest.in_(digests))).scalars())
        for digest in digests - still:
            self.artifacts.delete(digest)
        return sum(r.size for r in doomed)

    @property
    def artifacts_root(self) -> Path:
        return self.artifacts.root


class RunFull(Exception):
    """The optimize run has started all the trials it may start."""


class LostRace(Exception):
    """Another worker changed what this one meant to use (a paused trial, a checkpoint); look again."""


def _as_seen(trial_id: int, states: Sequence[str], step: int | None) -> list[Any]:
    """The trial is still in one of ``states`` (and at ``step``, when given): what a compare-and-set needs so
    that a trial resumed and paused again since the caller looked does not match."""
    cond = [trials.c.id == trial_id, trials.c.state.in_(list(states))]
    if step is not None:
        cond.append(trials.c.step == step)
    return cond


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


class _Statements:
    """The store's hot statements, compiled once for the engine (see ``_prepared``)."""

    def __init__(self, engine: Any) -> None:
        sid = bindparam("sid", type_=Integer)
        self.tick = Prepared(
            update(studies).where(studies.c.id == sid).values(clock=studies.c.clock + 1).returning(studies.c.clock),
            engine,
        )
        self.clock = Prepared(select(studies.c.clock).where(studies.c.id == sid), engine)
        self.take_slot = _take_one(engine, runs.c.started, runs.c.n_trials)
        self.take_step = _take_one(engine, runs.c.steps_taken, runs.c.max_steps)
        self.next_number = Prepared(
            update(studies)
            .where(studies.c.id == sid)
            .values(next_number=studies.c.next_number + 1, clock=studies.c.clock + 1)
            .returning(studies.c.next_number, studies.c.clock),
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
            ),
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
