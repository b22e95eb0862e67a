"""``itero enqueue`` and ``itero trial ...``: bad input exits 2 with one ``error:`` line naming what is wrong;
every action shows in ``itero show`` with who took it."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import itero
from itero.cli import app
from itero.store import TrialWrite
from itero.trial import TrialState


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


@pytest.fixture
def url(tmp_path: Path) -> str:
    itero.create_study("s", storage=f"sqlite:///{tmp_path / 'a.db'}", objectives={"loss": "minimize"}, sampler="random")
    return f"sqlite:///{tmp_path / 'a.db'}"


def _error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_enqueue_parses_values_as_json_or_text(url: str) -> None:
    result = invoke(
        "enqueue", "s", "--storage", url, "--params", '{"lr": 0.5, "width": 8}', "-p", "lr=0.01", "-p", "opt=adam"
    )
    assert result.exit_code == 0, result.output
    assert "enqueued trial 0 of 's' (lr=0.01 width=8 opt=adam): the next free worker runs it first" in result.stdout
    result = invoke(
        "enqueue", "s", "--storage", url, "-p", "flag=true", "-p", 'n="64"', "-p", "none=null", "--who", "zoe"
    )
    assert result.exit_code == 0, result.output
    study = itero.load_study("s", storage=url)
    assert [t.enqueued for t in study.trials] == [
        {"lr": 0.01, "width": 8, "opt": "adam"},
        {"flag": True, "n": "64", "none": None},
    ]
    assert [(a.who, a.kind) for a in study.actions()] == [(getpass.getuser(), "enqueue"), ("zoe", "enqueue")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--params", "{lr: 1}"], "--params: not valid JSON (Expecting property name enclosed in double quotes"),
        (["--params", "[1]"], """--params: expected a JSON object such as '{"lr": 0.01}', got '[1]'"""),
        (["-p", "lr"], "--param: expected NAME=VALUE such as lr=0.01, got 'lr'"),
        (["-p", "=1"], "--param: expected NAME=VALUE such as lr=0.01, got '=1'"),
        (["-p", "lr=NaN"], "enqueue: parameter 'lr' is nan; give a finite number"),
        (["-p", "lr=[1, 2]"], "enqueue: parameter 'lr': expected a number, a string, true/false or null, got list"),
        (["--who", ""], "who: expected a non-empty name"),
    ],
)
def test_bad_enqueues_exit_2_naming_the_option(url: str, args: list[str], message: str) -> None:
    assert message in _error(invoke("enqueue", "s", "--storage", url, *args))
    assert itero.load_study("s", storage=url).trials == []


def test_an_unknown_study_names_the_existing_ones(url: str) -> None:
    for command in (
        ["enqueue", "nope", "-p", "x=1"],
        ["trial", "stop", "nope", "0"],
        ["trial", "note", "nope", "0", "x"],
    ):
        line = _error(invoke(*command, "--storage", url))
        assert "no study named 'nope'" in line and "studies there: 's'" in line


def test_trial_commands_steer_and_refuse_with_the_state_and_what_is_allowed(url: str) -> None:
    study = itero.load_study("s", storage=url)
    store = study.store
    store.create_trial(study.id)  # RUNNING
    paused, _ = store.create_trial(study.id)
    store.write_trial(study.id, TrialWrite(paused, state="PAUSED", step=3))
    done, _ = store.create_trial(study.id)
    store.write_trial(study.id, TrialWrite(done, state="COMPLETE", metrics={"loss": 1.0}))

    result = invoke("trial", "pause", "s", "0", "--storage", url, "--who", "ana")
    assert result.exit_code == 0, result.output
    assert "trial 0 of 's' (RUNNING): pauses at its next report" in result.stdout
    result = invoke("trial", "resume", "s", "1", "--storage", url)
    assert result.exit_code == 0 and "trial 1 of 's' (PAUSED): resumed first by the next free worker" in result.stdout
    assert "trial 2 of study 's' is COMPLETE: only a RUNNING, PAUSED or WAITING trial can be stopped" in _error(
        invoke("trial", "stop", "s", "2", "--storage", url)
    )
    assert "trial 1 of study 's' is PAUSED: only a RUNNING trial can be paused (it is paused already)" in _error(
        invoke("trial", "pause", "s", "1", "--storage", url)
    )
    assert "trial 0 of study 's' is RUNNING: only a PAUSED trial can be resumed" in _error(
        invoke("trial", "resume", "s", "0", "--storage", url)
    )
    assert "study 's' has no trial 9 (its trials are numbered 0 to 2)" in _error(
        invoke("trial", "stop", "s", "9", "--storage", url)
    )
    result = invoke("trial", "stop", "s", "1", "--storage", url)
    assert result.exit_code == 0 and "trial 1 of 's' (PAUSED): PRUNED" in result.stdout
    trials = itero.load_study("s", storage=url).trials
    assert trials[0].requested == "pause" and trials[1].state == TrialState.PRUNED

    result = invoke("show", "s", "--storage", url)
    assert result.exit_code == 0, result.output
    assert "RUNNING (pause asked)" in result.stdout
    assert "ana  pause trial 0 (RUNNING): pauses at its next report" in result.stdout
    assert f"{getpass.getuser()}  stop trial 1 (PAUSED): PRUNED" in result.stdout


def test_notes_and_tags_show_on_the_trial_and_in_the_table(url: str) -> None:
    itero.load_study("s", storage=url).enqueue({"x": 0.5})
    assert invoke("trial", "note", "s", "0", "a <b>[bold]note[/bold]</b>", "--storage", url).exit_code == 0
    result = invoke("trial", "tag", "s", "0", "baseline", "keep", "--storage", url, "--who", "bo")
    assert result.exit_code == 0 and "tags of trial 0 of 's': baseline, keep" in result.stdout
    result = invoke("trial", "untag", "s", "0", "keep", "--storage", url)
    assert result.exit_code == 0 and "tags of trial 0 of 's': baseline" in result.stdout
    assert "trial 0 of study 's' has no tag 'keep' (its tags: baseline)" in _error(
        invoke("trial", "untag", "s", "0", "keep", "--storage", url)
    )

    result = invoke("show", "s", "--storage", url)
    assert result.exit_code == 0, result.output
    assert "WAITING (enqueued)" in result.stdout and "x=0.5" in result.stdout
    assert "[baseline] a <b>[bold]note[/bold]</b>" in result.stdout  # names are never read as markup
    result = invoke("show", "s", "--storage", url, "--trial", "0")
    assert result.exit_code == 0, result.output
    for text in ("enqueued", "x=0.5", "tags", "baseline", "note", "a <b>[bold]note[/bold]</b>", "actions"):
        assert text in result.stdout, text
    assert "bo  tag trial 0: keep" in result.stdout and "untag trial 0: keep" in result.stdout
    result = invoke("show", "s", "--storage", url, "--actions", "2")
    assert "(the latest 2; --actions 0 shows all)" in result.stdout and "enqueue trial 0" not in result.stdout
    assert invoke("trial", "note", "s", "0", "", "--storage", url).exit_code == 0
    assert itero.load_study("s", storage=url).trials[0].note == ""


def _suggest(trial: Any) -> float:
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    return lr + trial.suggest_int("width", 16, 512) + (trial.suggest_categorical("opt", ["sgd", "adam"]) == "sgd")


def test_narrow_narrows_pins_resets_and_shows_in_itero_show(url: str) -> None:
    study = itero.load_study("s", storage=url)
    study.optimize(_suggest, n_trials=2, show_progress=False)
    lr = {"type": "float", "low": 1e-4, "high": 1.0, "log": True, "step": None}
    paused, _ = study.store.create_trial(study.id, params={"lr": 0.5}, distributions={"lr": lr})
    study.store.write_trial(study.id, TrialWrite(paused, state="PAUSED", step=1))
    result = invoke("narrow", "s", "lr", "--low", "0.001", "--high", "0.1", "--storage", url, "--who", "ana")
    assert result.exit_code == 0, result.output
    assert "narrowed lr of 's': float[0.0001, 1.0, log] -> float[0.001, 0.1, log]; workers apply it from their" in (
        result.stdout
    )
    assert "retired trials 2 (paused or waiting, outside it)" in result.stdout
    assert invoke("narrow", "s", "opt", "--choices", "adam", "--storage", url).exit_code == 0
    result = invoke("narrow", "s", "width", "--value", "64", "--storage", url)
    assert result.exit_code == 0 and "narrowed width of 's': int[16, 512] -> pinned to 64" in result.stdout
    result = invoke("show", "s", "--storage", url)
    assert result.exit_code == 0, result.output
    assert "narrowed   lr: float[0.001, 0.1, log] (of float[0.0001, 1.0, log]), by ana" in result.stdout
    assert "opt: categorical['adam'] (of categorical['sgd', 'adam'])" in result.stdout
    assert "ana  narrow lr: float[0.0001, 1.0, log] -> float[0.001, 0.1, log] (retired paused or waiting trials 2)" in (
        result.stdout
    )
    result = invoke("narrow", "s", "width", "--reset", "--storage", url)
    assert result.exit_code == 0 and "widened width of 's': pinned to 64 -> int[16, 512]" in result.stdout
    assert list(itero.load_study("s", storage=url).narrowed) == ["lr", "opt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lr", "--low", "abc"], "--low: expected a number such as 0.001, got 'abc'"),
        (["lr", "--reset", "--high", "1"], "--reset undoes the narrow of 'lr': give it without --high"),
        (["lr", "--choices", "[1"], "--choices: not a valid JSON list (Expecting"),
        (["lr", "--low", "2"], "narrow: lr: low=2.0 is outside float[0.0001, 1.0, log], the range the study searches"),
        (["opt", "--choices", "sgd,rmsprop"], "narrow: opt: ['rmsprop'] not among its choices ['sgd', 'adam']"),
        (["lr"], "narrow: give one of low/high, choices or value for 'lr'"),
        (["lr", "--reset"], "widen: parameter 'lr' of study 's' is not narrowed (narrowed ones: none)"),
    ],
)
def test_bad_narrows_exit_2_naming_the_option_or_the_value(url: str, args: list[str], message: str) -> None:
    itero.load_study("s", storage=url).optimize(_suggest, n_trials=1, show_progress=False)
    assert message in _error(invoke("narrow", "s", *args, "--storage", url))
    assert itero.load_study("s", storage=url).actions() == []


def test_a_narrow_of_a_parameter_not_suggested_yet_warns_on_stderr(url: str) -> None:
    result = invoke("narrow", "s", "lr", "--low", "1", "--high", "4", "--storage", url)
    assert result.exit_code == 0, result.output
    assert "warning: narrow: no trial of study 's' has suggested 'lr' yet" in result.stderr
    assert "narrowed lr of 's': not suggested yet -> [1, 4]" in result.stdout
