"""Narrowing or pinning a parameter mid-study (``study.narrow``, ``study.widen``): every worker, one already running
in another process included, proposes inside the new range from its next trial; paused and waiting trials outside
it are retired; bad input names the key, the value and what is allowed; each change is in the action log. Store
tests run on SQLite and PostgreSQL; one loop per kind of sampler shows past trials outside the range break none."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import itero
from itero.exceptions import ConfigError
from itero.schedulers import FIFO, Suggestion
from itero.space import FloatDistribution
from itero.store import TrialWrite
from itero.trial import History, TrialState

ITERO = (sys.executable, "-m", "itero.cli")
OBJECTIVE = """
import time

def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    time.sleep(0.03)
    return x + (kind == "a")
"""
X = FloatDistribution(0.0, 1.0).to_dict()


def _study(url: str, name: str, sampler: Any = "random", **options: Any) -> itero.Study:
    return itero.create_study(
        name, storage=url, objectives={"loss": "minimize"}, sampler=sampler, scheduler="fifo", **options
    )


def _objective(trial: Any) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    width = trial.suggest_int("width", 16, 512, log=True)
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    return x + width / 512 + (kind == "a")


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _paused(study: itero.Study, x: float, step: int = 2) -> int:
    """A PAUSED trial with ``x`` (sampled from [0, 1]) at ``step``, as a worker leaves it; its number."""
    trial_id, number = study.store.create_trial(study.id, params={"x": x}, distributions={"x": X})
    study.store.write_trial(study.id, TrialWrite(trial_id, state="PAUSED", step=step))
    return number


# ------------------------------------------------------------------------------------ across processes
def test_a_narrow_from_one_process_is_respected_by_a_worker_running_in_another(tmp_path: Path, storage_url, study_name):
    (tmp_path / "train.py").write_text(OBJECTIVE)
    study = _study(storage_url, study_name, task=f"{tmp_path / 'train.py'}:objective")
    study.set_budget(trials=70)
    worker = subprocess.Popen(
        [*ITERO, "worker", study_name, "--storage", storage_url, "--no-progress"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: len([t for t in study.trials if t.state == TrialState.COMPLETE]) >= 15)
        action = study.narrow("x", low=0.2, high=0.3, who="ana")
        pinned = study.narrow("kind", value="b", who="ana")
        _out, err = worker.communicate(timeout=120)
    finally:
        worker.kill()
    assert worker.returncode == 0, err
    trials = study.trials
    assert len(trials) == 70 and all(t.state == TrialState.COMPLETE for t in trials)
    before = [t for t in trials if t.datetime_start.timestamp() < action.created_at]  # type: ignore[union-attr]
    after = [t for t in trials if t.datetime_start.timestamp() > action.created_at]  # type: ignore[union-attr]
    assert len(before) >= 15 and len(after) >= 20
    assert any(not 0.2 <= t.params["x"] <= 0.3 for t in before)  # the range was wider
    assert all(0.2 <= t.params["x"] <= 0.3 for t in after)  # the worker started every later trial inside it
    assert all(t.distributions["x"] == FloatDistribution(0.2, 0.3) for t in after)
    later = [t for t in after if t.datetime_start.timestamp() > pinned.created_at]  # type: ignore[union-attr]
    assert later and all(t.params["kind"] == "b" for t in later)


def test_a_trial_created_just_after_a_narrow_is_proposed_inside_it(storage_url, study_name, monkeypatch):
    study = _study(storage_url, study_name)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3, show_progress=False)
    other = itero.load_study(study_name, storage=storage_url)
    create = study.store.create_trial

    def narrow_first(*args: Any, **kwargs: Any) -> tuple[int, int]:  # after the worker's last look at the study
        other.narrow("x", low=0.2, high=0.3)
        return create(*args, **kwargs)

    monkeypatch.setattr(study.store, "create_trial", narrow_first)
    trial = study.ask()  # the new trial's row tells the worker the study's settings changed: no read of its own
    assert 0.2 <= trial.suggest_float("x", 0.0, 1.0) <= 0.3


# ------------------------------------------------------------------------------- ranges, choices, pins
def test_a_range_choices_and_a_pin_hold_from_the_next_trial_and_widen_restores_the_range(storage_url, study_name):
    study = _study(storage_url, study_name)
    study.optimize(_objective, n_trials=6, show_progress=False)
    study.narrow("x", high=0.5)  # one bound: the other stays the study's
    study.narrow("x", low=0.25)  # and then the narrowed one
    study.narrow("kind", choices=["c", "b"])
    study.narrow("width", value=64.0)  # an int parameter's pin: 64
    study.optimize(_objective, n_trials=8, show_progress=False)
    new = study.trials[6:]
    assert all(0.25 <= t.params["x"] <= 0.5 and t.params["kind"] in ("b", "c") for t in new)
    assert all(t.params["width"] == 64 and type(t.params["width"]) is int for t in new)
    assert {n: w.describe() for n, w in itero.load_study(study_name, storage=storage_url).narrowed.items()} == {
        "x": "float[0.25, 0.5] (of float[0.0, 1.0]), by " + study.actions()[0].who,
        "kind": "categorical['b', 'c'] (of categorical['a', 'b', 'c']), by " + study.actions()[0].who,
        "width": "pinned to 64 (of int[16, 512, log]), by " + study.actions()[0].who,
    }
    study.narrow("x", low=0.0, high=1.0)  # back to the full range is a narrow too (to the whole of it)
    study.widen("width")
    study.widen("kind")
    study.optimize(_objective, n_trials=30, show_progress=False)
    last = study.trials[14:]
    assert len({t.params["width"] for t in last}) > 1 and {t.params["kind"] for t in last} == {"a", "b", "c"}
    assert list(study.narrowed) == ["x"] and study.narrowed["x"].distribution == FloatDistribution(0.0, 1.0)
    assert not [t for t in study.trials if t.state != TrialState.COMPLETE]


def test_a_pin_of_a_parameter_the_study_fixes_or_a_conflicting_enqueue_is_refused(tmp_path: Path):
    study = _study(f"sqlite:///{tmp_path / 'a.db'}", "s", params={"kind": "a"})
    study.optimize(_objective, n_trials=2, show_progress=False)
    with pytest.raises(ConfigError, match=re.escape("narrow: parameter 'kind' is fixed to 'a' by the study's params:")):
        study.narrow("kind", choices=["a"])
    study.narrow("x", low=0.1, high=0.2, who="ana")
    with pytest.raises(
        ConfigError,
        match=re.escape("enqueue: outside the narrowed space (narrowed by ana): x=0.5 is not in float[0.1, 0.2]"),
    ):
        study.enqueue({"x": 0.5})
    assert study.enqueue({"x": 0.15}) == 2


# ------------------------------------------------------------------------------------- paused trials
def test_paused_and_waiting_trials_outside_are_retired_and_those_inside_resume(storage_url, study_name):
    study = _study(storage_url, study_name)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3, show_progress=False)
    outside, inside = _paused(study, 0.9), _paused(study, 0.25)
    queued_out, queued_in = study.enqueue({"x": 0.95}), study.enqueue({"x": 0.22})
    study.resume_trial(outside)  # asked before the narrow: the narrow wins
    action = study.narrow("x", low=0.2, high=0.3, who="ana")
    assert action.details["retired"] == [outside, queued_out]
    trials = {t.number: t for t in study.trials}
    for number, x in ((outside, 0.9), (queued_out, 0.95)):
        t = trials[number]
        assert t.state == TrialState.PRUNED and t.requested is None
        assert t.error == f"outside the narrowed space (narrowed by ana): x={x} is not in float[0.2, 0.3]"
    assert [trials[n].state for n in range(3)] == [TrialState.COMPLETE] * 3  # finished ones keep their results
    assert trials[inside].state == TrialState.PAUSED and trials[queued_in].state == TrialState.WAITING
    study.resume_trial(inside)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1, show_progress=False)
    trials = {t.number: t for t in study.trials}
    # The resumed trial keeps the range it was sampled from; the narrow holds for the new ones.
    assert trials[inside].state == TrialState.COMPLETE and trials[inside].params == {"x": 0.25}
    assert trials[queued_in].state == TrialState.COMPLETE and trials[queued_in].params == {"x": 0.22}


class _ResumeFirst(FIFO):
    """Resumes a paused trial before it starts a new one (as ASHA does with a promotion)."""

    def next(self, history: History) -> Suggestion:
        paused = [t for t in history.with_state(TrialState.PAUSED)]
        return Suggestion.resume(paused[0].id) if paused else super().next(history)


def test_a_trial_that_pauses_outside_after_the_narrow_is_retired_instead_of_resumed(storage_url, study_name):
    study = _study(storage_url, study_name)
    with pytest.warns(UserWarning, match="no trial of study .* has suggested 'x' yet"):
        study.narrow("x", low=0.2, high=0.3, who="bo")
    late, by_hand = _paused(study, 0.7), _paused(study, 0.8)  # running at the narrow, paused since
    study.resume_trial(by_hand, who="ana")  # a person's resume after the narrow wins
    study.scheduler = _ResumeFirst()
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2, show_progress=False)
    trials = {t.number: t for t in study.trials}
    assert trials[late].state == TrialState.PRUNED
    assert trials[late].error == "outside the narrowed space (narrowed by bo): x=0.7 is not in [0.2, 0.3]"
    assert trials[by_hand].state == TrialState.COMPLETE and trials[by_hand].params == {"x": 0.8}
    new = [t for n, t in trials.items() if n not in (late, by_hand)]
    assert len(new) == 2 and all(0.2 <= t.params["x"] <= 0.3 for t in new)


def test_a_clone_whose_donor_value_is_outside_the_narrowed_range_draws_it_again(storage_url, study_name):
    from itero.executors import Budget, RunHost, Trial

    study = _study(storage_url, study_name)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1, show_progress=False)
    study.narrow("x", low=0.2, high=0.3)
    donor = study.trials[0]
    host = RunHost(study._context(study.store, study._cache, Budget()))
    explored = {"x": 0.9}  # PBT's explore of the donor's value, in the donor's wider range
    trial_id, number = study.store.create_trial(study.id, params=explored, parent_id=donor.id)
    clone = Trial(host, trial_id, number, params=explored, parent_id=donor.id)
    assert 0.2 <= clone.suggest_float("x", 0.0, 1.0) <= 0.3
    inside = Trial(host, trial_id, number, params={"x": 0.25}, parent_id=donor.id)
    assert inside.suggest_float("x", 0.0, 1.0) == 0.25  # a value inside is kept


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("x", {"low": -0.5}, "narrow: x: low=-0.5 is outside float[0.0, 1.0], the range the study searches; a narrow"),
        ("x", {"high": 2}, "narrow: x: high=2.0 is outside float[0.0, 1.0], the range the study searches"),
        ("x", {"low": 0.6, "high": 0.4}, "narrow: x: low=0.6 must be below high=0.4"),
        ("x", {"low": 0.5, "high": 0.5}, "narrow: x: low=0.5 equals high; to pin one value give value=0.5"),
        ("x", {"low": float("nan")}, "narrow: x: low must be a finite number, got nan"),
        ("x", {"low": True}, "narrow: x: low must be a finite number, got True"),
        ("x", {"choices": ["a"]}, "narrow: x is a range, float[0.0, 1.0]: give low and high (or value), not choices"),
        ("x", {"value": 1.5}, "narrow: x: value=1.5 is not in float[0.0, 1.0], the range the study searches"),
        ("x", {}, "narrow: give one of low/high, choices or value for 'x'; study.widen('x') undoes a narrow"),
        ("x", {"low": 0.1, "value": 0.2}, "narrow: give one of low/high, choices or value for 'x' (got low/high and"),
        ("width", {"low": 20.5}, "narrow: width is an int parameter, int[16, 512, log]: low must be an integer, got"),
        ("width", {"value": 3.5}, "narrow: width: value=3.5 is not an integer in int[16, 512, log]"),
        ("width", {"low": 8}, "narrow: width: low=8 is outside int[16, 512, log], the range the study searches"),
        ("lr", {"low": 0.0, "high": 0.1}, "narrow: lr is searched on a log scale, float[0.0001, 1.0, log]: low must"),
        ("kind", {"low": 0, "high": 1}, "narrow: kind is categorical ['a', 'b', 'c']: give choices (a subset) or"),
        ("kind", {"choices": ["b", "z"]}, "narrow: kind: ['z'] not among its choices ['a', 'b', 'c']; give a subset"),
        ("kind", {"choices": "ab"}, "narrow: kind: choices must be a non-empty list such as ['adam', 'sgd'], got"),
        ("kind", {"choices": []}, "narrow: kind: choices must be a non-empty list"),
        ("kind", {"choices": ["a", "a"]}, "narrow: kind: choices must be distinct, got ['a', 'a']"),
        ("kind", {"value": "z"}, "narrow: kind: value='z' is not one of its choices ['a', 'b', 'c']"),
        ("kind", {"value": [1]}, "narrow: kind: value must be a number, a string, true/false or null, got list [1]"),
        ("", {"low": 1}, "narrow: the parameter name must be a non-empty string, got ''"),
        ("new", {"low": 1}, "narrow: no trial has suggested 'new' yet, so its range is unknown: give low and high"),
    ],
)
def test_bad_narrows_name_the_key_the_value_and_what_is_allowed(
    tmp_path: Path, name: str, options: dict[str, Any], message: str
):
    study = _study(f"sqlite:///{tmp_path / 'a.db'}", "s")

    def objective(trial: Any) -> float:
        trial.suggest_float("lr", 1e-4, 1.0, log=True)
        return _objective(trial)

    study.optimize(objective, n_trials=2, show_progress=False)
    with pytest.raises(ConfigError, match=re.escape(message)), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.narrow(name, **options)
    assert study.actions() == [] and study.narrowed == {}


def test_widen_of_a_parameter_not_narrowed_names_the_narrowed_ones(tmp_path: Path):
    study = _study(f"sqlite:///{tmp_path / 'a.db'}", "s")
    with pytest.raises(
        ConfigError, match=re.escape("widen: parameter 'x' of study 's' is not narrowed (narrowed ones:")
    ):
        study.widen("x")
    study.optimize(_objective, n_trials=1, show_progress=False)
    study.narrow("kind", value="a")
    with pytest.raises(ConfigError, match=re.escape("is not narrowed (narrowed ones: 'kind')")):
        study.widen("x")


def test_a_parameter_no_trial_suggested_yet_is_narrowed_with_a_warning(tmp_path: Path):
    study = _study(f"sqlite:///{tmp_path / 'a.db'}", "s")
    study.optimize(_objective, n_trials=1, show_progress=False)
    with pytest.warns(UserWarning, match=r"no trial of study 's' has suggested 'widht' yet \(did you mean 'width'\?\)"):
        study.narrow("widht", low=1, high=4)

    def objective(trial: Any) -> float:
        return _objective(trial) + trial.suggest_int("widht", 0, 100)

    study.optimize(objective, n_trials=5, show_progress=False)
    assert all(1 <= t.params["widht"] <= 4 for t in study.trials[1:])


# ----------------------------------------------------------------------------------------- the log
def test_narrow_and_widen_are_in_the_action_log_with_the_old_and_new_range(storage_url, study_name):
    study = _study(storage_url, study_name)
    study.optimize(_objective, n_trials=2, show_progress=False)
    paused = _paused(study, 0.9)
    study.narrow("x", low=0.1, high=0.5, who="ana")
    study.narrow("x", high=0.3, who="bo")
    study.narrow("kind", value="b", who="ana")
    study.widen("x", who="carol")
    log = itero.load_study(study_name, storage=storage_url).actions()
    assert [(a.kind, a.who, a.trial_number) for a in log] == [
        ("narrow", "ana", None),
        ("narrow", "bo", None),
        ("narrow", "ana", None),
        ("widen", "carol", None),
    ]
    assert [a.details for a in log] == [
        {"param": "x", "old": "float[0.0, 1.0]", "new": "float[0.1, 0.5]", "retired": [paused]},
        {"param": "x", "old": "float[0.1, 0.5]", "new": "float[0.1, 0.3]", "retired": []},
        {"param": "kind", "old": "categorical['a', 'b', 'c']", "new": "pinned to 'b'", "retired": []},
        {"param": "x", "old": "float[0.1, 0.3]", "new": "float[0.0, 1.0]"},
    ]
    assert [a.describe() for a in log] == [
        f"narrow x: float[0.0, 1.0] -> float[0.1, 0.5] (retired paused or waiting trials {paused})",
        "narrow x: float[0.1, 0.5] -> float[0.1, 0.3]",
        "narrow kind: categorical['a', 'b', 'c'] -> pinned to 'b'",
        "widen x: float[0.1, 0.3] -> float[0.0, 1.0]",
    ]
    config = study.config
    assert config["narrowed"]["x"] == {"base": X}  # kept to check later narrows by
    assert json.loads(json.dumps(config)) == config


# ---------------------------------------------------------------------------------------- samplers
@pytest.mark.parametrize("sampler", ["random", "tpe", "gp", "cmaes"])
def test_every_kind_of_sampler_proposes_inside_a_range_narrower_than_past_trials(sampler: str):
    study = _study("sqlite://", "s", sampler={"name": sampler, "seed": 0})

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -5.0, 5.0)
        y = trial.suggest_float("y", 1e-3, 10.0, log=True)
        n = trial.suggest_int("n", 1, 20)
        kind = trial.suggest_categorical("kind", ["a", "b", "c"])
        return (x - 3.0) ** 2 + abs(y - 0.1) + abs(n - 7) + (kind == "a")

    study.optimize(objective, n_trials=14, show_progress=False)
    study.narrow("x", low=-1.0, high=1.0)  # the past optimum (x = 3) is outside it
    study.narrow("y", low=1.0)
    study.narrow("n", low=10, high=12)
    study.narrow("kind", choices=["a", "b"])
    study.optimize(objective, n_trials=14, show_progress=False)
    study.narrow("x", value=0.5)
    study.optimize(objective, n_trials=3, show_progress=False)
    trials = study.trials
    assert len(trials) == 31 and all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials[14:]:
        p = t.params
        assert -1.0 <= p["x"] <= 1.0 and 1.0 <= p["y"] <= 10.0 and 10 <= p["n"] <= 12 and p["kind"] in ("a", "b")
    assert all(t.params["x"] == 0.5 for t in trials[28:])
