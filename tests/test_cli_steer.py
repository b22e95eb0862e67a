"""``itero enqueue`` and ``itero trial ...``: bad input exits 2 with one ``error:`` line naming what is wrong;
every action shows in ``itero show`` with who took it."""

from __future__ import annotations

import getpass
from pathlib import Path

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
