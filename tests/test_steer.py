"""The expert in the loop from Python: enqueue, stop, pause and resume by hand, notes and tags, and the log of
actions. Everything goes through the store, so each test runs on SQLite and PostgreSQL, and the ones that matter
most act from one process on a worker in another."""

from __future__ import annotations

import getpass
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import itero
from itero.exceptions import BudgetSpentError, ConfigError, TrialActionError, TrialNotFoundError
from itero.store import TrialWrite
from itero.trial import TrialState

ITERO = (sys.executable, "-m", "itero.cli")
OBJECTIVE = """
import time

def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    steps = trial.suggest_int("steps", 1, MAX_STEPS)
    state = trial.restore()
    for step in trial.steps(max_steps=steps):
        time.sleep(SLEEP)
        trial.report(step, {"loss": x + 1.0 / step}, state={"step": step})
"""


def _study(url: str, name: str, **options: Any) -> itero.Study:
    return itero.create_study(
        name, storage=url, objectives={"loss": "minimize"}, sampler="random", scheduler="fifo", **options
    )


def _objective(max_steps: int = 3, sleep: float = 0.0, with_state: bool = True) -> Callable[[Any], None]:
    def objective(trial: Any) -> None:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_categorical("kind", ["a", "b"])
        restored = trial.restore()
        assert (restored or {"step": 0})["step"] == trial.start_step  # a resumed trial starts where it paused
        for step in trial.steps(max_steps=max_steps):
            time.sleep(sleep)
            trial.report(step, {"loss": x + 1.0 / step}, state={"step": step} if with_state else None)

    return objective


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _running(study: itero.Study, number: int, min_step: int = 1) -> bool:
    found = [t for t in study.trials if t.number == number]
    return bool(found) and found[0].state == TrialState.RUNNING and found[0].step >= min_step


def _in_thread(action: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(action()))
    thread.start()
    return thread, out


# ------------------------------------------------------------------------------------------- enqueue
def test_enqueued_trials_run_first_and_count_toward_n_trials(storage_url, study_name, caplog):
    study = _study(storage_url, study_name)
    assert study.enqueue({"x": 0.25, "kind": "b"}, who="ana") == 0
    assert study.enqueue({"x": 0.5}) == 1  # "kind" is left to the sampler
    (queued, _) = study.trials
    assert queued.state == TrialState.WAITING and queued.enqueued == {"x": 0.25, "kind": "b"} and queued.params == {}
    with caplog.at_level(logging.INFO, logger="itero"):
        study.optimize(_objective(), n_trials=3, show_progress=False)
    trials = study.trials
    assert len(trials) == 3 and all(t.state == TrialState.COMPLETE for t in trials)
    assert trials[0].params == {"x": 0.25, "kind": "b"} and trials[1].params["x"] == 0.5
    assert trials[1].params["kind"] in ("a", "b") and trials[2].enqueued is None
    assert "Trial 0: running the enqueued parameters" in caplog.text
    assert "attempt" not in caplog.text and "restarting" not in caplog.text  # not a retry


def test_a_run_whose_trials_are_all_started_leaves_an_enqueued_trial_for_another_run(storage_url, study_name):
    study = _study(storage_url, study_name)
    study.enqueue({"x": 0.1})
    study.enqueue({"x": 0.2})
    study.optimize(_objective(), n_trials=1, show_progress=False)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.WAITING]
    study.optimize(_objective(), n_trials=0, show_progress=False)  # starts nothing new, so not it either
    assert study.trials[1].state == TrialState.WAITING
    study.optimize(_objective(), n_trials=1, show_progress=False)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2 and study.trials[1].params["x"] == 0.2


def test_an_enqueue_from_one_process_is_run_first_by_a_worker_in_another(tmp_path: Path, storage_url, study_name):
    (tmp_path / "train.py").write_text(OBJECTIVE.replace("SLEEP", "0.05").replace("MAX_STEPS", "100"))
    study = _study(storage_url, study_name, task=f"{tmp_path / 'train.py'}:objective")
    study.set_budget(trials=3)
    study.enqueue({"steps": 100})  # the worker's first trial: 5 s, time to enqueue while it runs
    worker = subprocess.Popen(
        [*ITERO, "worker", study_name, "--storage", storage_url, "--no-progress"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: _running(study, 0, min_step=1))
        enqueue = subprocess.run(
            [
                *ITERO,
                "enqueue",
                study_name,
                "--storage",
                storage_url,
                "-p",
                "x=0.125",
                "-p",
                "steps=2",
                "--who",
                "carol",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert enqueue.returncode == 0, enqueue.stderr
        number = int(re.search(r"enqueued trial (\d+)", enqueue.stdout).group(1))  # type: ignore[union-attr]
        _out, err = worker.communicate(timeout=120)
    finally:
        worker.kill()
    assert worker.returncode == 0, err
    trials = study.trials
    mine = trials[number]
    assert mine.state == TrialState.COMPLETE and mine.params["x"] == 0.125 and mine.params["steps"] == 2
    assert mine.datetime_start is not None
    later = [t for t in trials if t.number > number]
    assert later and all(t.datetime_start is not None and t.datetime_start >= mine.datetime_start for t in later)
    assert [(a.who, a.kind, a.trial_number) for a in study.actions()][-1] == ("carol", "enqueue", number)


def test_ask_hands_out_an_enqueued_trial_first(storage_url, study_name):
    study = _study(storage_url, study_name)
    study.enqueue({"x": 0.75})
    trial = study.ask()
    assert trial.number == 0 and trial.suggest_float("x", 0.0, 1.0) == 0.75
    study.tell(trial, 0.75)
    nxt = study.ask()
    assert nxt.number == 1 and study.trials[0].state == TrialState.COMPLETE


def test_a_value_outside_the_objectives_range_fails_that_trial_naming_it(storage_url, study_name):
    study = _study(storage_url, study_name)
    study.enqueue({"x": 2})
    study.optimize(_objective(), n_trials=2, show_progress=False)
    failed, ok = study.trials
    assert failed.state == TrialState.FAILED and ok.state == TrialState.COMPLETE  # the study goes on
    assert failed.error == "SpaceError: enqueued parameter 'x'=2 is outside the objective's range float[0.0, 1.0]"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("x", 1)], "enqueue: params must be a mapping of parameter name to value, got [('x', 1)]"),
        ({"": 1}, "enqueue: parameter names must be non-empty strings, got ''"),
        ({"x": [1, 2]}, "enqueue: parameter 'x': expected a number, a string, true/false or null, got list [1, 2]"),
        ({"x": float("nan")}, "enqueue: parameter 'x' is nan; give a finite number"),
        ({"kind": "b"}, "enqueue: parameter 'kind'='b' contradicts the study's fixed value 'a'"),
    ],
)
def test_bad_enqueues_name_the_parameter(tmp_path: Path, params: Any, message: str):
    study = _study(f"sqlite:///{tmp_path / 'a.db'}", "s", params={"kind": "a"})
    with pytest.raises(ConfigError, match=re.escape(message)):
        study.enqueue(params)
    assert study.trials == [] and study.actions() == []


def test_a_full_trial_budget_refuses_an_enqueue_clearly(storage_url, study_name):
    study = _study(storage_url, study_name)
    study.set_budget(trials=1)
    study.enqueue({"x": 0.5})
    with pytest.raises(BudgetSpentError, match=r"has started all 1 trials of its budget.*set_budget\(trials=\.\.\.\)"):
        study.enqueue({"x": 0.6})


# ------------------------------------------------------------------------------- stop, pause, resume
def test_a_hand_stop_ends_a_trial_running_in_another_process_at_its_next_report(
    tmp_path: Path, storage_url, study_name
):
    (tmp_path / "train.py").write_text(OBJECTIVE.replace("SLEEP", "0.02").replace("MAX_STEPS", "1000"))
    study = _study(storage_url, study_name, task=f"{tmp_path / 'train.py'}:objective")
    study.enqueue({"steps": 1000})  # 20 s unless stopped
    worker = subprocess.Popen(
        [*ITERO, "worker", study_name, "--storage", storage_url, "--no-progress", "--trials", "1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: _running(study, 0, min_step=5))
        action = study.stop_trial(0, who="ana")
        assert action.details == {"state": "RUNNING", "result": "stops at its next report"}
        assert study.trials[0].requested == "stop"
        _out, err = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 0, err
    (t,) = study.trials
    assert t.state == TrialState.PRUNED and t.error == "stopped by hand by ana" and t.requested is None
    assert t.datetime_complete is not None and t.datetime_complete.timestamp() - action.created_at < 3.0
    assert 5 <= t.step < 200 and t.step == max(t.reports)


def test_pause_and_resume_by_hand(storage_url, study_name):
    study = _study(storage_url, study_name)
    other = itero.load_study(study_name, storage=storage_url)  # another connection: only the store is shared
    thread, done = _in_thread(lambda: (_wait_for(lambda: _running(other, 0)), other.pause_trial(0, who="bo"))[1])
    study.optimize(_objective(max_steps=500, sleep=0.01), n_trials=1, show_progress=False)
    thread.join()
    (t,) = study.trials
    assert t.state == TrialState.PAUSED and t.checkpoint_id is not None and 1 <= t.step < 500
    paused_at = t.step
    study.optimize(_objective(max_steps=500), n_trials=0, show_progress=False)
    assert study.trials[0].state == TrialState.PAUSED  # fifo never resumes a paused trial by itself
    action = other.resume_trial(0)
    assert action.details["result"] == "resumed first by the next free worker" and action.who == getpass.getuser()
    assert study.trials[0].requested == "resume"
    study.optimize(_objective(max_steps=500), n_trials=0, show_progress=False)
    (t,) = study.trials
    assert t.state == TrialState.COMPLETE and t.step == 500 and t.cost.steps == 500  # no step ran twice
    assert [r.outcome for r in study.runs()] == ["PAUSED", "COMPLETE"] and study.runs()[0].end_step == paused_at
    assert [a.kind for a in study.actions()] == ["pause", "resume"] and done[0].who == "bo"


def test_a_hand_pause_of_an_objective_without_state_stops_it_and_says_so(tmp_path: Path):
    study = _study(f"sqlite:///{tmp_path / 'a.db'}", "s")
    thread, _ = _in_thread(lambda: (_wait_for(lambda: _running(study, 0)), study.pause_trial(0, who="bo")))
    study.optimize(_objective(max_steps=500, sleep=0.01, with_state=False), n_trials=1, show_progress=False)
    thread.join()
    (t,) = study.trials
    assert t.state == TrialState.PRUNED and t.error == (
        "paused by hand by bo, but its objective saves no state (trial.report(..., state=...)): stopped instead"
    )


def test_paused_and_waiting_trials_stop_at_once(storage_url, study_name):
    study = _study(storage_url, study_name)
    study.enqueue({"x": 0.5})
    record = study.stop_trial(0, who="ana")
    assert record.details == {"state": "WAITING", "result": "PRUNED while it waited to run"}
    store, sid = study.store, study.id
    trial_id, number = store.create_trial(sid)
    store.write_trial(sid, TrialWrite(trial_id, state="PAUSED", step=2))
    assert study.stop_trial(number).details["result"] == "PRUNED"
    assert [(t.state, t.error) for t in study.trials] == [
        (TrialState.PRUNED, "stopped by hand by ana"),
        (TrialState.PRUNED, f"stopped by hand by {getpass.getuser()}"),
    ]


def test_wrong_states_and_unknown_numbers_name_the_trial_and_what_is_allowed(storage_url, study_name):
    study = _study(storage_url, study_name)
    with pytest.raises(TrialNotFoundError, match=re.escape(f"study {study_name!r} has no trial 0 (it has no trials")):
        study.stop_trial(0)
    study.optimize(_objective(), n_trials=1, show_progress=False)
    study.enqueue({"x": 0.5})
    with pytest.raises(TrialNotFoundError, match=r"has no trial 7 \(its trials are numbered 0 to 1\)"):
        study.pause_trial(7)
    with pytest.raises(TrialActionError, match=r"trial 0 of study .* is COMPLETE: only a RUNNING, PAUSED or WAITING"):
        study.stop_trial(0)
    with pytest.raises(TrialActionError, match=r"trial 1 of study .* is WAITING: only a RUNNING trial can be paused"):
        study.pause_trial(1)
    with pytest.raises(TrialActionError, match=r"is COMPLETE: only a PAUSED trial can be resumed; to run its para"):
        study.resume_trial(0)
    with pytest.raises(ConfigError, match="trial number: expected an integer, got str '0'"):
        study.stop_trial("0")  # type: ignore[arg-type]
    assert [a.kind for a in study.actions()] == ["enqueue"]  # refused actions are not recorded


def test_a_stop_asked_of_a_trial_whose_worker_died_is_not_retried(storage_url, study_name):
    study = _study(storage_url, study_name)
    store, sid = study.store, study.id
    worker = store.register_worker(sid)
    _trial_id, number = store.create_trial(sid, worker_id=worker)
    study.stop_trial(number, who="ana")
    assert store.release_trials(sid, worker_id=worker) == [number]
    (t,) = study.trials
    assert t.state == TrialState.PRUNED and t.error == "stopped by hand by ana"


def test_a_scheduler_does_not_retire_a_trial_resumed_by_hand(storage_url, study_name):
    study = _study(storage_url, study_name)
    store, sid = study.store, study.id
    trial_id, number = store.create_trial(sid)
    store.write_trial(sid, TrialWrite(trial_id, state="PAUSED", step=2))
    study.resume_trial(number)
    assert not store.retire_trial(sid, trial_id, "not promoted")
    assert store.claim_trial(sid, trial_id, ["PAUSED"], None)  # a worker resumes it: the request is carried out
    assert study.trials[0].requested is None and study.trials[0].state == TrialState.RUNNING


# ------------------------------------------------------------------------------------- notes and tags
def test_notes_and_tags_round_trip_and_survive_the_trials_own_writes(storage_url, study_name):
    study = _study(storage_url, study_name)
    store, sid = study.store, study.id
    trial_id, number = store.create_trial(sid)
    study.set_trial_note(number, "diverged after warm-up <b>", who="ana")
    study.add_trial_tag(number, "baseline")
    study.add_trial_tag(number, " lr-sweep ")
    study.add_trial_tag(number, "baseline")  # once only
    store.write_trial(sid, TrialWrite(trial_id, system_attrs={"constraints": [0.5]}))  # the running trial writes
    again = itero.load_study(study_name, storage=storage_url).trials[0]
    assert again.note == "diverged after warm-up <b>" and again.tags == ["baseline", "lr-sweep"]
    assert again.constraints == [0.5]
    study.remove_trial_tag(number, "baseline")
    with pytest.raises(TrialActionError, match=r"trial 0 of study .* has no tag 'nope' \(its tags: lr-sweep\)"):
        study.remove_trial_tag(number, "nope")
    study.set_trial_note(number, "")
    t = study.trials[0]
    assert t.note == "" and t.tags == ["lr-sweep"]
    for bad, message in (("", "tag: expected a non-empty line"), ("a\nb", "tag: expected"), (3, "tag: expected")):
        with pytest.raises(ConfigError, match=message):
            study.add_trial_tag(number, bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="note: expected a string, got int 3"):
        study.set_trial_note(number, 3)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- the log
def test_every_action_is_logged_with_who_and_when(storage_url, study_name):
    study = _study(storage_url, study_name)
    before = time.time()
    study.enqueue({"x": 0.5}, who="dashboard:ana")
    study.add_trial_tag(0, "good")
    study.set_trial_note(0, "try it")
    study.stop_trial(0, who="bo")
    after = time.time()
    log = study.actions()
    assert [(a.kind, a.who, a.trial_number) for a in log] == [
        ("enqueue", "dashboard:ana", 0),
        ("tag", getpass.getuser(), 0),
        ("note", getpass.getuser(), 0),
        ("stop", "bo", 0),
    ]
    assert all(before - 1 <= a.created_at <= after + 1 for a in log) and log[0].details == {"params": {"x": 0.5}}
    assert [a.kind for a in study.actions(limit=2)] == ["note", "stop"]
    assert [a.describe() for a in study.actions(trial=0)][-1] == "stop trial 0 (WAITING): PRUNED while it waited to run"
    assert study.actions(trial=5) == []
    with pytest.raises(ConfigError, match="who: expected a non-empty name"):
        study.enqueue({"x": 0.5}, who=" ")
    itero.delete_study(study_name, storage=storage_url)
    with study.store.engine.connect() as conn:  # the study's actions go with it
        from sqlalchemy import func, select

        from itero.store._schema import actions

        assert conn.execute(select(func.count()).where(actions.c.study_id == study.id)).scalar() == 0
