"""Peer worker processes on one store: no trial lost or run twice, even when workers are killed."""

from __future__ import annotations

import ctypes
import faulthandler
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

import itero
from itero.store import Store
from itero.store._schema import trials, workers
from itero.trial import TrialState


def trivial(trial: itero.Trial) -> float:
    x = trial.suggest_float("x", -1, 1)
    y = trial.suggest_int("y", 0, 3)
    z = trial.suggest_categorical("z", ["a", "b"])
    return x * x + y + (z == "a")


def test_four_processes_two_hundred_trials(storage_url, study_name):
    study = itero.create_study(study_name, storage=storage_url, objectives={"loss": "minimize"}, sampler="tpe")
    study.optimize(trivial, n_trials=200, n_jobs=4, show_progress=False)
    done = study.trials
    assert len(done) == 200
    assert sorted(t.number for t in done) == list(range(200))
    assert {t.state for t in done} == {TrialState.COMPLETE}, [t.error for t in done if t.error][:3]
    assert all(t.cost.runs == 1 for t in done)
    pids = {w for w in _worker_pids(study.store, study.id)}
    assert len(pids) == 4


def _worker_pids(store: Store, study_id: int) -> list[int]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(workers.c.pid).where(workers.c.study_id == study_id)).scalars())


def _slow(trial: itero.Trial) -> None:
    x = trial.suggest_float("x", 0, 1)
    state = trial.restore()
    for step in trial.steps(max_steps=8):
        time.sleep(0.05)
        trial.report(step, {"loss": x / step}, state=lambda s=step: {"step": s})
    assert state is None or state["step"] >= 1


# The killer thread below queries SQLite while the parent forks worker processes: a fork in the middle of a query
# would copy SQLite's locks held, and the child would hang opening its database. Forks wait for the query.
_QUERYING = threading.Lock()
os.register_at_fork(before=_QUERYING.acquire, after_in_parent=_QUERYING.release, after_in_child=_QUERYING.release)


def _kill_a_worker_at_step(watcher: Store, study_id: int, step: int) -> tuple[threading.Thread, list[tuple[int, int]]]:
    """A thread that kills (SIGKILL) the worker process of the first RUNNING trial past ``step``."""
    killed: list[tuple[int, int]] = []

    def killer() -> None:
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            with _QUERYING, watcher.engine.connect() as conn:
                row = conn.execute(
                    select(trials.c.id, workers.c.pid)
                    .join(workers, workers.c.id == trials.c.worker_id)
                    .where(trials.c.study_id == study_id, trials.c.state == "RUNNING", trials.c.step >= step)
                ).first()
            if row is not None:
                os.kill(row.pid, signal.SIGKILL)
                killed.append((row.id, row.pid))
            time.sleep(0.02)

    thread = threading.Thread(target=killer)
    thread.start()
    return thread, killed


def test_kill_9_of_a_worker_mid_trial(storage_url, study_name):
    study = itero.create_study(
        study_name,
        storage=storage_url,
        objectives={"loss": "minimize"},
        sampler="random",
        scheduler={"name": "fifo", "checkpoint_every": 1},
    )
    watcher = Store(storage_url)
    thread, killed = _kill_a_worker_at_step(watcher, study.id, 3)
    study.optimize(_slow, n_trials=10, n_jobs=2, show_progress=False)
    thread.join()
    assert killed, "the test never found a running trial to kill"
    done = study.trials
    assert sorted(t.number for t in done) == list(range(10))
    assert {t.state for t in done} == {TrialState.COMPLETE}
    victim = next(t for t in done if t.id == killed[0][0])
    assert victim.retries == 1
    runs = sorted((r for r in study.store.trial_runs(study.id) if r.trial_id == victim.id), key=lambda r: r.end_step)
    # The dead run is recorded as CRASHED with the cost it wrote; the resumed run started from the last checkpoint.
    crashed, resumed = runs
    assert (
        (crashed.outcome, crashed.start_step) == ("CRASHED", 0) and crashed.end_step >= 3 and crashed.wall_seconds > 0
    )
    assert resumed.outcome == "COMPLETE" and resumed.start_step >= 3 and resumed.end_step == 8
    assert victim.cost.runs == 2
    watcher.dispose()


def test_a_segfault_does_not_stop_the_study(tmp_path: Path):
    marker = tmp_path / "crashed"

    def objective(trial: itero.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 2 and not marker.exists():
            marker.write_text("1")
            faulthandler.disable()  # keep the test log short
            ctypes.string_at(0)  # segmentation fault in the worker process
        return x

    study = itero.create_study(
        "s", storage=f"sqlite:///{tmp_path}/s.db", objectives={"loss": "minimize"}, sampler="random"
    )
    study.optimize(objective, n_trials=8, n_jobs=2, show_progress=False)
    assert marker.exists()
    done = study.trials
    assert sorted(t.number for t in done) == list(range(8))
    assert {t.state for t in done} == {TrialState.COMPLETE}
    assert next(t for t in done if t.number == 2).retries == 1


@pytest.mark.parametrize(
    "sampler",
    [
        "random",  # one parameter at a time: each is stored as it is suggested
        {"name": "tpe", "multivariate": True, "n_startup_trials": 3, "seed": 0},  # a joint proposal, stored at once
    ],
)
def test_a_worker_that_dies_before_the_first_report_leaves_the_trials_parameters(tmp_path: Path, sampler):
    first = tmp_path / "first-attempt.json"

    def objective(trial: itero.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        width = trial.suggest_int("width", 1, 512, log=True)
        kind = trial.suggest_categorical("kind", ["a", "b", "c"])
        if trial.number == 5 and not first.exists():
            first.write_text(json.dumps({"x": x, "width": width, "kind": kind}))
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would, building the model
        time.sleep(0.05)
        return x + (kind == "b")

    study = itero.create_study(
        "s", storage=f"sqlite:///{tmp_path}/s.db", objectives={"loss": "minimize"}, sampler=sampler
    )
    study.optimize(objective, n_trials=8, n_jobs=2, show_progress=False)
    retried = next(t for t in study.trials if t.number == 5)
    assert retried.retries == 1 and retried.state == TrialState.COMPLETE
    assert retried.params == json.loads(first.read_text())  # the same configuration, not a new draw


def test_a_joint_proposal_is_stored_with_the_new_trial(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/s.db"
    stored: dict[int, object] = {}

    def objective(trial: itero.Trial) -> float:
        # What the store holds for this trial before its first suggest (another process would see the same).
        row = next(t for t in itero.load_study("s", storage=url).trials if t.number == trial.number)
        stored[trial.number] = row.system_attrs.get("proposal")
        x = trial.suggest_float("x", 0, 1)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        return x + (kind == "b")

    sampler = {"name": "tpe", "multivariate": True, "n_startup_trials": 3, "seed": 0}
    study = itero.create_study("s", storage=url, objectives={"loss": "minimize"}, sampler=sampler)
    study.optimize(objective, n_trials=6, show_progress=False)
    # Random start-up trials have no joint proposal; later ones are created holding the one they ran.
    assert {t.number: stored[t.number] for t in study.trials} == {
        t.number: None if t.number < 3 else t.params for t in study.trials
    }


def test_a_trial_that_always_crashes_is_failed_not_retried_forever(tmp_path: Path):
    def objective(trial: itero.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return x

    study = itero.create_study(
        "s", storage=f"sqlite:///{tmp_path}/s.db", objectives={"loss": "minimize"}, sampler="random"
    )
    study.optimize(objective, n_trials=4, n_jobs=2, show_progress=False)
    states = {t.number: t.state for t in study.trials}
    assert states == {0: "COMPLETE", 1: "FAILED", 2: "COMPLETE", 3: "COMPLETE"}
    assert "its worker died while running this trial 3 times" in (study.trials[1].error or "")


def _stepper(trial: itero.Trial) -> None:
    x = trial.suggest_float("x", 0, 1)
    for step in trial.steps(max_steps=5):
        time.sleep(0.002)
        trial.report(step, {"loss": x / step})


def test_peers_share_the_step_budget_exactly(storage_url, study_name):
    study = itero.create_study(
        study_name, storage=storage_url, objectives={"loss": "minimize"}, sampler="random", scheduler="fifo"
    )
    study.optimize(_stepper, max_steps_total=57, n_jobs=3, show_progress=False)
    assert study.totals().steps == 57  # each step is granted by the store: no overshoot between peers
    cut = [t for t in study.trials if t.state != TrialState.COMPLETE]
    assert all("budget" in (t.error or "") for t in cut)
    study.optimize(_stepper, max_steps_total=10, n_jobs=2, show_progress=False)  # a second run has its own budget
    assert study.totals().steps == 67


def test_kill_9_under_asha_loses_no_trial_and_resumes_paused_ones(tmp_path: Path):
    """ASHA keeps checkpoints only where trials pause: a trial killed after continuing in place is retried
    from its last pause (or from scratch); paused trials are still promoted from their own checkpoints."""
    url = f"sqlite:///{tmp_path}/s.db"
    study = itero.create_study(
        "s", storage=url, objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 0},
        scheduler={"name": "asha", "max_steps": 8, "min_steps": 2, "eta": 2},
    )  # fmt: skip
    watcher = Store(url)
    thread, killed = _kill_a_worker_at_step(watcher, study.id, 3)
    study.optimize(_slow, n_trials=8, n_jobs=2, show_progress=False)
    thread.join()
    assert killed, "the test never found a running trial to kill"
    done = study.trials
    assert sorted(t.number for t in done) == list(range(8))
    assert not [t for t in done if t.state in (TrialState.RUNNING, TrialState.WAITING, TrialState.FAILED)]
    victim = next(t for t in done if t.id == killed[0][0])
    assert victim.retries == 1
    for r in study.store.trial_runs(study.id):
        assert r.start_step in (0, 2, 4), "runs start fresh or from a pause checkpoint (rungs 2 and 4)"
    assert any(r.start_step > 0 for r in study.store.trial_runs(study.id)), "some paused trial was promoted"
    watcher.dispose()
