"""The store: the only shared state of a study. Every worker is a peer that reads and writes through it.

    >>> store = Store("sqlite://")                      # in memory; "sqlite:///itero.db" or "postgresql://…"
    >>> rec = store.create_study("s", {"loss": "minimize"})
    >>> trial_id, number = store.create_trial(rec.id)
    >>> from itero.store import TrialWrite
    >>> store.write_trial(rec.id, TrialWrite(trial_id, state="COMPLETE", metrics={"loss": 0.5}))
    Written(checkpoint_id=None, request=None)

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
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from itero._clock import SYSTEM_CLOCK, Clock
from itero.exceptions import DuplicatedStudyError, StudyNotFoundError
from itero.store._actions import ActionRows
from itero.store._artifacts import ArtifactStore, default_root
from itero.store._budget import BudgetRows
from itero.store._checkpoints import CheckpointRows
from itero.store._engine import open_engine, reader
from itero.store._records import (
    DatasetVersionRecord,
    StudyRecord,
    TrialRunRecord,
    WorkerEnvironmentRecord,
)
from itero.store._remote import DATABASE, open_artifacts
from itero.store._retry import retry_public_methods
from itero.store._schema import (
    actions,
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
from itero.store._statements import Statements
from itero.store._trials import TrialRows

_dumps = json.dumps


@retry_public_methods  # a PostgreSQL server that restarts is waited for (see _retry)
class Store(TrialRows, CheckpointRows, BudgetRows, ActionRows):
    """Persistence of studies, trials, reports, costs and checkpoints in one SQL database; the trial rows are in
    ``_trials``, the checkpoints in ``_checkpoints``, the budgets in ``_budget``, hand actions in ``_actions``."""

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
        self._read = reader(self.engine)
        # Where this machine finds checkpoints: given here or by ITERO_ARTIFACTS (a mount of what the studies
        # recorded), else each study's recorded location, else the default (beside a SQLite file).
        self.mount = str(artifacts) if artifacts is not None else os.environ.get("ITERO_ARTIFACTS") or None
        self.artifacts = open_artifacts(self.mount or default_root(url), self.engine)
        self._study_artifacts: dict[int, ArtifactStore] = {}
        self._q = Statements(self.engine)
        # Each study's ``config_version`` as this store last read it, with the budget or a new trial (no read of
        # its own): a worker reloads the settings a person narrowed when it grew (``RunHost``).
        self.config_seen: dict[int, int] = {}

    def artifacts_for(self, study_id: int) -> ArtifactStore:
        """Where the study's checkpoints live: the database when the study records ``database``; else this
        machine's mount when one is given (``artifacts=``, ``ITERO_ARTIFACTS``), else the location recorded in
        the study when it was created, else the store's default (``<db>-artifacts`` beside a SQLite file)."""
        found = self._study_artifacts.get(study_id)
        if found is None:
            recorded = self._study_config(study_id).get("artifacts")
            if recorded == DATABASE:  # nothing to mount: every worker reaches the database
                found = open_artifacts(DATABASE, self.engine)
            elif self.mount or recorded is None:
                found = self.artifacts
            else:
                found = open_artifacts(recorded, self.engine)
            self._study_artifacts[study_id] = found
        return found

    def _study_config(self, study_id: int) -> dict[str, Any]:
        with self._read.connect() as conn:
            text = conn.execute(select(studies.c.config).where(studies.c.id == study_id)).scalar()
        return {} if text is None else dict(json.loads(text))

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
            known = ", ".join(repr(n) for n in names[-20:]) if names else "none"  # the latest: most likely meant
            if len(names) > 20:
                known += f" (the latest 20 of {len(names)})"
            raise StudyNotFoundError(f"no study named {name!r} in {self.url}; studies there: {known}")
        return StudyRecord(row.id, row.name, json.loads(row.directions), json.loads(row.config), row.created_at)

    def list_studies(self) -> list[StudyRecord]:
        with self._read.connect() as conn:
            rows = conn.execute(select(studies).order_by(studies.c.id)).all()
        return [StudyRecord(r.id, r.name, json.loads(r.directions), json.loads(r.config), r.created_at) for r in rows]

    def update_study_config(self, study_id: int, config: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(studies).where(studies.c.id == study_id).values(config=_dumps(dict(config))))

    def delete_study(self, name: str) -> int:
        """Delete the study ``name``, its rows and the checkpoint files no other study shares; the bytes freed."""
        rec = self.get_study(name)
        artifacts = self.artifacts_for(rec.id)  # before the row that records where they are goes
        with self.engine.begin() as conn:
            own = conn.execute(
                select(checkpoints.c.digest, checkpoints.c.size).where(checkpoints.c.study_id == rec.id)
            ).all()
            for table in (checkpoints, trial_runs, reports, trials, workers, runs, datasets, actions):
                conn.execute(table.delete().where(table.c.study_id == rec.id))
            conn.execute(studies.delete().where(studies.c.id == rec.id))
            digests = {r.digest for r in own}
            shared = set(conn.execute(select(checkpoints.c.digest).where(checkpoints.c.digest.in_(digests))).scalars())
        freed = {r.digest: r.size for r in own if r.digest not in shared}
        for digest in freed:
            artifacts.delete(digest)
        return sum(freed.values())

    def state_counts(self) -> dict[int, dict[str, int]]:
        """``{study_id: {state: count}}`` for every study."""
        out: dict[int, dict[str, int]] = {}
        with self._read.connect() as conn:
            q = select(trials.c.study_id, trials.c.state, func.count()).group_by(trials.c.study_id, trials.c.state)
            for sid, state, n in conn.execute(q):
                out.setdefault(sid, {})[state] = n
        return out

    # ------------------------------------------------------------------ workers
    def register_worker(
        self, study_id: int, environment: Mapping[str, Any] | None = None, run_id: int | None = None
    ) -> int:
        """A new worker row, working for the optimize run ``run_id``; ``environment`` (see
        ``itero.tracking.capture_environment``) is stored once per distinct content and linked from the worker."""
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
                        run_id=run_id,
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

    def trial_runs(self, study_id: int) -> list[TrialRunRecord]:
        """Every run of every trial of the study, oldest first."""
        with self._read.connect() as conn:
            rows = conn.execute(
                select(trial_runs).where(trial_runs.c.study_id == study_id).order_by(trial_runs.c.id)
            ).all()
        return [TrialRunRecord(**r._mapping) for r in rows]
