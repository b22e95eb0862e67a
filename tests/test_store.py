"""Store conformance: every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading

import pytest

from itero.exceptions import ArtifactError, DuplicatedStudyError, StorageError, StudyNotFoundError
from itero.store import CheckpointData, CostDelta, FolderArtifacts, RunFull, Store, TrialWrite, dump_state, load_state
from itero.store._cache import StudyCache
from itero.store._engine import current_revision
from itero.store._schema import SCHEMA_REVISION
from itero.trial import TrialState


@pytest.fixture
def store(storage_url):
    s = Store(storage_url)
    yield s
    s.dispose()


def test_schema_is_migrated_with_alembic(store):
    assert current_revision(store.engine) == SCHEMA_REVISION
    Store(store.url)  # opening again is a no-op


def test_study_create_load_and_errors(store, study_name):
    rec = store.create_study(study_name, {"acc": "maximize"}, {"sampler": {"name": "tpe"}})
    assert store.get_study(study_name) == rec
    with pytest.raises(DuplicatedStudyError, match="already exists"):
        store.create_study(study_name, {"acc": "maximize"})
    assert store.create_study(study_name, {"acc": "maximize"}, load_if_exists=True).id == rec.id
    with pytest.raises(StudyNotFoundError, match=rf"no study named .nope.*{re.escape(study_name)}"):
        store.get_study("nope")


def test_trial_numbers_and_incremental_reads(store, study_name):
    rec = store.create_study(study_name, {"loss": "minimize"})
    cache = StudyCache(store, rec.id, rec.name, rec.directions)
    ids = [store.create_trial(rec.id)[0] for _ in range(3)]
    assert [t.number for t in cache.refresh().trials] == [0, 1, 2]
    version = cache.version
    store.write_trial(
        rec.id,
        TrialWrite(
            ids[1],
            state="COMPLETE",
            metrics={"loss": 0.5},
            reports=((1, {"loss": 0.7}),),
            step=1,
            cost=CostDelta(1, 0.1, 0.05),
        ),
    )
    v2, changed, reports = store.read_changes(rec.id, version)
    assert [r.id for r in changed] == [ids[1]] and len(reports) == 1 and v2 > version
    assert store.read_changes(rec.id, v2) == (v2, [], [])
    history = cache.refresh()
    t = history.get(ids[1])
    assert t is not None and t.state == TrialState.COMPLETE and t.reports == {1: {"loss": 0.7}}
    assert t.cost.steps == 1 and cache.steps_spent == 1
    assert history.completed() == [t]


def test_run_limits_the_number_of_trials(store, study_name):
    rec = store.create_study(study_name, {"loss": "minimize"})
    run = store.create_run(rec.id, n_trials=2, max_steps=None, steps_at_start=0, deadline=None)
    store.create_trial(rec.id, run_id=run)
    store.create_trial(rec.id, run_id=run)
    with pytest.raises(RunFull):
        store.create_trial(rec.id, run_id=run)


def test_claims_are_atomic_under_threads(store, study_name):
    rec = store.create_study(study_name, {"loss": "minimize"})
    trial_id, _ = store.create_trial(rec.id, state="PAUSED")
    wins = []

    def claim(worker: int) -> None:
        if store.claim_trial(rec.id, trial_id, ["PAUSED"], worker):
            wins.append(worker)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(wins) == 1


def test_release_retries_then_fails(store, study_name):
    rec = store.create_study(study_name, {"loss": "minimize"})
    worker = store.register_worker(rec.id)
    trial_id, number = store.create_trial(rec.id, worker_id=worker)
    for attempt in range(3):
        assert store.release_trials(rec.id, worker_id=worker, max_retries=2) == [number]  # numbers, as users see
        cache = StudyCache(store, rec.id, rec.name, rec.directions)
        t = cache.refresh().get(trial_id)
        assert t is not None
        if attempt < 2:
            assert t.state == TrialState.WAITING
            assert store.claim_trial(rec.id, trial_id, ["WAITING"], worker)
        else:
            assert t.state == TrialState.FAILED and "3 times" in (t.error or "")


def test_stale_heartbeat_releases(store, study_name):
    rec = store.create_study(study_name, {"loss": "minimize"})
    worker = store.register_worker(rec.id)
    _trial_id, number = store.create_trial(rec.id, worker_id=worker)
    import time

    assert store.release_trials(rec.id, stale_before=time.time() - 60) == []
    assert store.release_trials(rec.id, stale_before=time.time() + 1) == [number]


def test_checkpoints_round_trip_and_are_verified(store, study_name, tmp_path):
    torch = pytest.importorskip("torch")
    rec = store.create_study(study_name, {"loss": "minimize"})
    trial_id, _ = store.create_trial(rec.id)
    state = {"w": torch.arange(6.0).reshape(2, 3), "step": 4}
    data = dump_state(state)
    ck = store.write_trial(rec.id, TrialWrite(trial_id, step=4, checkpoint=CheckpointData(4, data))).checkpoint_id
    assert ck is not None
    (digest,), size = store.checkpoint_digests(rec.id), len(data)
    tid, step, data = store.load_checkpoint(ck)
    restored = load_state(data)
    assert (tid, step) == (trial_id, 4) and torch.equal(restored["w"], state["w"])
    assert store.checkpoint_step(ck) == 4 and store.checkpoint_bytes(rec.id) == size
    path = store.artifacts.path(digest)
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    with pytest.raises(ArtifactError, match="corrupt"):
        store.load_checkpoint(ck)


def test_delete_study_removes_rows_and_artifacts(store, study_name):
    rec = store.create_study(study_name, {"loss": "minimize"})
    trial_id, _ = store.create_trial(rec.id)
    store.write_trial(rec.id, TrialWrite(trial_id, checkpoint=CheckpointData(1, dump_state({"a": 1}))))
    (digest,) = store.checkpoint_digests(rec.id)
    assert store.artifacts.path(digest).exists()
    other = store.create_study(study_name + "-other", {"loss": "minimize"})
    other_trial, _ = store.create_trial(other.id)
    same = dump_state({"a": 1})  # the same bytes: one file, named by both studies
    store.write_trial(other.id, TrialWrite(other_trial, checkpoint=CheckpointData(1, same)))
    assert store.delete_study(study_name) == 0  # the file is shared: kept
    assert store.artifacts.path(digest).exists()
    with pytest.raises(StudyNotFoundError):
        store.get_study(study_name)
    assert store.delete_study(study_name + "-other") == len(same)
    assert not store.artifacts.path(digest).exists()


def test_files_no_checkpoint_names_are_collected_once_old(store, study_name):
    rec = store.create_study(study_name, {"loss": "minimize"})
    trial_id, _ = store.create_trial(rec.id)
    store.write_trial(rec.id, TrialWrite(trial_id, checkpoint=CheckpointData(1, dump_state({"kept": 1}))))
    stray = store.artifacts.put(b"left by a crash")
    assert store.collect_orphan_files(min_age_seconds=3600) == (0, 0)  # too recent: a write may be under way
    assert store.collect_orphan_files(min_age_seconds=0) == (1, len(b"left by a crash"))
    assert not store.artifacts.path(stray).exists()
    assert store.artifacts.path(store.checkpoint_digests(rec.id)[0]).exists()


def test_plain_states_are_json_and_unknown_bytes_refused(tmp_path):
    arts = FolderArtifacts(tmp_path)
    digest = arts.put(dump_state({"x": [1, 2]}))
    assert load_state(arts.get(digest)) == {"x": [1, 2]}
    with pytest.raises(ArtifactError, match="unknown checkpoint format"):
        load_state(b"\x80\x04pickle")
    with pytest.raises(ArtifactError, match="missing"):
        arts.get("ab" * 32)


def test_bad_urls_are_named():
    with pytest.raises(StorageError, match="not a database URL"):
        Store("not a url")
    with pytest.raises(StorageError, match="backend 'mysql' is not supported"):
        Store("mysql://x@localhost/db")


def test_migrated_schema_matches_the_tables(store):
    """Alembic's migrations create exactly the columns ``_schema`` declares, on every backend."""
    from sqlalchemy import inspect

    from itero.store._schema import metadata

    found = inspect(store.engine)
    for table in metadata.sorted_tables:
        assert {c["name"] for c in found.get_columns(table.name)} == set(table.columns.keys()), table.name


def test_upgrade_from_0002_keeps_trials_and_adds_tracking(tmp_path):
    """A store written by the previous schema opens, migrates, and reads its old trials with zero energy."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from itero.store._engine import _MIGRATIONS

    url = f"sqlite:///{tmp_path}/old.db"
    engine = create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.execute(
            text(
                "INSERT INTO itero_studies (name, directions, created_at) VALUES ('old', '{\"loss\": \"minimize\"}', 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO itero_trials (study_id, number, state, metrics, version, cpu_seconds)"
                " VALUES (1, 0, 'COMPLETE', '{\"loss\": 1.5}', 1, 2.0)"
            )
        )
        conn.execute(text("UPDATE itero_studies SET clock = 1, next_number = 1"))
    engine.dispose()
    assert current_revision(create_engine(url)) == "0002"
    store = Store(url)
    assert current_revision(store.engine) == SCHEMA_REVISION
    history = StudyCache(store, 1, "old", {"loss": "minimize"}).refresh()
    (trial,) = history.trials
    assert trial.metrics == {"loss": 1.5} and trial.cost.cpu_seconds == 2.0
    assert trial.cost.energy_j == 0 and trial.datasets == {}


def test_trial_rows_follow_the_tables_columns():
    from itero.store._records import TrialRow
    from itero.store._schema import trials

    assert TrialRow._fields == tuple(trials.c.keys())


def test_sqlite_writers_queue_on_the_lock_file_and_a_stuck_one_is_named(tmp_path, monkeypatch):
    import fcntl

    from itero.store import _engine

    store = Store(f"sqlite:///{tmp_path / 'itero.db'}")
    sid = store.create_study("locks", {"loss": "minimize"}).id
    lock = tmp_path / "itero.db.lock"
    with open(lock, "a") as held:  # another process's writer in the middle of its transaction
        fcntl.flock(held, fcntl.LOCK_EX)
        done = threading.Event()
        writer = threading.Thread(target=lambda: (store.create_trial(sid), done.set()))
        writer.start()
        assert not done.wait(0.3)  # the write waits for the lock...
        fcntl.flock(held, fcntl.LOCK_UN)
        assert done.wait(5)  # ...and goes through once it is released
        writer.join()
        fcntl.flock(held, fcntl.LOCK_EX)
        monkeypatch.setattr(_engine, "LOCK_SECONDS", 0.2)
        with pytest.raises(StorageError, match=r"another process has held the write lock .*itero\.db\.lock for 0\.2 s"):
            store.create_trial(sid)
    assert store.read_changes(sid, 0)[1][-1].number == 0  # the refused write left nothing behind
