"""The store's reads return frozen records (on SQLite and PostgreSQL); storage URLs are parsed only here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from itero.exceptions import StorageError
from itero.store import (
    DatasetVersionRecord,
    OptimizeRunRecord,
    RunCost,
    Store,
    TrialRunRecord,
    TrialWrite,
    WorkerEnvironmentRecord,
    check_url,
    public_url,
    sqlite_file,
    url_backend,
)


@pytest.fixture
def store(storage_url):
    s = Store(storage_url)
    yield s
    s.dispose()


def test_reads_return_frozen_records(store, study_name):
    rec = store.create_study(study_name, {"loss": "minimize"})
    run_id = store.create_run(rec.id, n_trials=3, max_steps=10, steps_at_start=0, deadline=None)
    assert store.take_step(run_id)
    run = store.get_run(run_id)
    assert isinstance(run, OptimizeRunRecord)
    assert (run.id, run.study_id, run.n_trials, run.max_steps, run.steps_taken) == (run_id, rec.id, 3, 10, 1)
    assert run.ended_at is None

    worker = store.register_worker(rec.id, {"python": "3.11", "host": "h"})
    store.register_worker(rec.id, {"python": "3.11", "host": "h"})  # the same environment: stored once
    trial_id, _ = store.create_trial(rec.id, worker_id=worker)
    cost = RunCost(0, 2, 0.5, 0.25, started_at=1.0, outcome="COMPLETE", energy_j=3.0, co2_g=0.1, energy_method="rapl")
    store.write_trial(rec.id, TrialWrite(trial_id, state="COMPLETE", metrics={"loss": 1.0}, run=cost, worker_id=worker))
    (trial_run,) = store.trial_runs(rec.id)
    assert isinstance(trial_run, TrialRunRecord)
    r = trial_run
    assert (r.trial_id, r.worker_id, r.start_step, r.end_step, r.wall_seconds) == (trial_id, worker, 0, 2, 0.5)
    assert (r.energy_j, r.energy_method, r.outcome) == (3.0, "rapl", "COMPLETE")

    (env,) = store.environments(rec.id)
    assert isinstance(env, WorkerEnvironmentRecord)
    assert env.info == {"python": "3.11", "host": "h"} and len(env.worker_ids) == 2 and worker in env.worker_ids

    store.record_datasets(rec.id, [("train", "ab" * 32, "array", {"shape": [3, 2]})])
    (data,) = store.datasets(rec.id)
    assert isinstance(data, DatasetVersionRecord)
    assert (data.name, data.digest, data.kind, data.info) == ("train", "ab" * 32, "array", {"shape": [3, 2]})

    for record in (run, trial_run, env, data, rec):
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.id = 0  # type: ignore[misc]


def test_urls_are_checked_and_shown_without_password(tmp_path: Path):
    assert check_url("sqlite:///itero.db") == "sqlite"
    assert check_url("postgresql+psycopg://me@db/itero") == "postgresql"
    with pytest.raises(StorageError, match="not a database URL"):
        check_url("not a url")
    with pytest.raises(StorageError, match="not a database URL"):
        check_url("postgresql://me@db:port/itero")  # a port that is not a number
    with pytest.raises(StorageError, match="backend 'mysql' is not supported"):
        check_url("mysql://x@localhost/db")
    assert url_backend("mysql://x@localhost/db") == "mysql" and url_backend("not a url") is None
    assert sqlite_file(f"sqlite:///{tmp_path}/a.db") == tmp_path / "a.db"
    assert sqlite_file("sqlite://") is None and sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("postgresql://me@db/itero") is None and sqlite_file("not a url") is None
    assert public_url("postgresql://me:secret@db/itero") == "postgresql://me:***@db/itero"
    assert "secret" not in public_url("nonsense://me:secret@db:port/x")
