"""YAML study files: every bad input is one ConfigError naming the file, the key and the value; budgets are
study totals across re-runs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import itero
from itero.config import (
    DEFAULT_TRIALS,
    BudgetConfig,
    ResolvedConfig,
    StudyConfig,
    load_config,
    parse_config,
    plan_run,
    run_config,
    validate,
)
from itero.exceptions import ConfigError
from itero.samplers import Random
from itero.schedulers import FIFO

OBJECTIVE = """
def objective(trial):
    x = trial.suggest_float("x", -5.0, 5.0)
    for step in trial.steps(max_steps=3):
        trial.report(step, {"loss": (x - 1.0) ** 2 + 1.0 / step})
"""


def write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def objective_file(tmp_path: Path) -> Path:
    path = tmp_path / "obj.py"
    path.write_text(OBJECTIVE)
    return path


def good_yaml(tmp_path: Path, objective_file: Path, extra: str = "") -> str:
    return (
        f"study: quad\nstorage: sqlite:///{tmp_path}/s.db\ntask: {objective_file}:objective\n"
        "objectives: {loss: minimize}\nsampler: {name: random, seed: 0}\n" + extra
    )


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        validate(load_config(path))
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------------------- bad input
H = "study: s\ntask: digits-mlp\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "study: s\ntask: digits-mlp\ncolour: red\n",
            ["colour", "unknown key", "allowed keys", "'budget'", "'n_jobs'"],
        ),
        (H + "budget: {trials: 3, foo: 1}\n", ["budget.foo", "'trials'", "'minutes'"]),
        (H + "n_jobs: two\n", ["n_jobs", "'two'", "integer >= 1"]),
        (H + "n_jobs: 0\n", ["n_jobs", "got 0", "integer >= 1"]),
        (H + "budget: {trials: 0}\n", ["budget.trials", "got 0", ">= 1"]),
        (H + "budget: {minutes: -1}\n", ["budget.minutes", "-1", "> 0"]),
        (H + "budget: 10\n", ["budget", "got 10", "trials"]),
        (H + "sampler: 3\n", ["sampler", "got 3", "tpe"]),
        ("task: digits-mlp\n", ["study", "missing"]),
        ("study: ''\ntask: digits-mlp\n", ["study", "''", "non-empty"]),
        (H + "space: {lr: {low: 0.5, high: 0.1}}\n", ["space.lr.low", "0.5", "low <= high"]),
        (H + "space: {lr: {low: 0, high: 1, log: true}}\n", ["space.lr.low", "0", "low > 0"]),
        (H + "space: {lr: {lo: 1, high: 2}}\n", ["space.lr", "'lo'", "allowed keys"]),
        (H + "sampler: {name: nope}\n", ["sampler.name", "'nope'", "'tpe'", "'random'"]),
        (H + "sampler: {name: random, seeds: 1}\n", ["sampler.seeds", "'seeds'", "'seed'"]),
        (H + "scheduler: nope\n", ["scheduler.name", "'nope'", "'fifo'"]),
        (H + "scheduler: {name: fifo, max_steps: 0}\n", ["scheduler", "max_steps", "0"]),
        ("study: s\ntask: no-such-task\n", ["task", "'no-such-task'", "digits-mlp"]),
        (H + "objectives: {val_acc: max}\n", ["objectives.val_acc", "'max'", "'maximize'"]),
        (H + "objectives: {}\n", ["objectives", "{}", "maximize"]),
        (H + "storage: 'not a url'\n", ["storage", "'not a url'", "sqlite:///"]),
        (H + "storage: 'mysql://h/db'\n", ["storage", "'mysql'", "sqlite or postgresql"]),
    ],
)
def test_bad_values_name_file_key_and_value(tmp_path: Path, text: str, expected: list[str]) -> None:
    message = load_error(tmp_path, text)
    for part in expected:
        assert part in message, (part, message)


def test_several_errors_are_counted_on_one_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, "study: s\ntask: t\nn_jobs: two\nbudget: {foo: 1}\ncolour: red\n")
    assert "(and 2 more)" in message and "\n" not in message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, "study: s\ntask: digits-mlp\nspace: {lr: [1, 2}\nn_jobs: 1\n")
    assert "invalid YAML" in message and "line 3" in message


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    message = load_error(tmp_path, "study: s\ntask: digits-mlp\nstudy: t\n")
    assert "duplicate key 'study'" in message and "line 3" in message


def test_missing_file_empty_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")
    assert "empty" in load_error(tmp_path, "# nothing\n")
    message = load_error(tmp_path, "- study: s\n- task: t\n")
    assert "top level is a list" in message and "mapping" in message and "'study'" in message


def test_bad_objective_reference(tmp_path: Path, objective_file: Path) -> None:
    message = load_error(tmp_path, f"study: s\ntask: {objective_file}:nope\n")
    assert "task" in message and "'nope'" in message and "objective" in message
    message = load_error(tmp_path, "study: s\ntask: missing_dir/train.py:objective\n")
    assert "task" in message and "not found" in message


# ------------------------------------------------------------------------------------------- good input
def test_defaults_and_resolved_parts(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "study: s\ntask: digits-mlp\n"))
    assert config.storage == "sqlite:///itero.db" and config.sampler == "tpe" and config.scheduler == "auto"
    assert config.n_jobs == 1 and config.budget is None and config.source.endswith("study.yaml")
    resolved = validate(config)
    assert resolved.directions == {"val_acc": "maximize"}  # the task's objectives
    assert resolved.task is not None and resolved.task.name == "digits-mlp" and callable(resolved.objective)


def test_all_keys(tmp_path: Path, objective_file: Path) -> None:
    text = good_yaml(
        tmp_path,
        objective_file,
        "params: {y: 1}\nspace: {x: {low: -1.0, high: 1.0}}\nscheduler: {name: fifo, max_steps: 2}\n"
        "budget: {trials: 3, steps: 30, minutes: 0.5}\nn_jobs: 2\n",
    )
    resolved = validate(load_config(write(tmp_path, text)))
    assert isinstance(resolved.sampler, Random) and resolved.sampler.seed == 0
    assert isinstance(resolved.scheduler, FIFO) and resolved.scheduler.max_steps == 2
    assert resolved.space["x"].low == -1.0 and resolved.config.params == {"y": 1}
    assert resolved.config.budget == BudgetConfig(trials=3, steps=30, minutes=0.5)
    assert resolved.directions == {"loss": "minimize"} and resolved.config.n_jobs == 2


def test_relative_objective_path_is_found_next_to_the_config(tmp_path: Path, objective_file: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "train.py").write_text(OBJECTIVE)
    resolved = validate(load_config(write(sub, "study: s\ntask: train.py:objective\n")))
    assert resolved.objective.__name__ == "objective"
    assert resolved.directions == {"value": "minimize"}  # no task objectives: create_study's default


def test_parse_config_from_data() -> None:
    config = parse_config({"study": "s", "task": "digits-mlp", "budget": {"trials": 2}})
    assert isinstance(config, StudyConfig) and config.source == "<config>"
    with pytest.raises(ConfigError, match=r"<config>: budget.trials: got 'x'"):
        parse_config({"study": "s", "task": "digits-mlp", "budget": {"trials": "x"}})


# ------------------------------------------------------------------------------------------- budgets
def resolved_config(tmp_path: Path, objective_file: Path, budget: str) -> ResolvedConfig:
    return validate(load_config(write(tmp_path, good_yaml(tmp_path, objective_file, budget))))


def test_trial_budget_is_a_study_total(tmp_path: Path, objective_file: Path) -> None:
    def run(budget: str, **options: Any) -> itero.Study:
        return run_config(resolved_config(tmp_path, objective_file, budget), **options)

    assert len(run("budget: {trials: 3}\n", show_progress=False).trials) == 3
    study = run("budget: {trials: 5}\n", show_progress=False)
    assert len(study.trials) == 5 and all(t.state.is_finished() for t in study.trials)
    notes: list[str] = []
    study = run("budget: {trials: 5}\n", echo=notes.append)
    assert len(study.trials) == 5 and notes and "budget used up" in notes[0] and "budget.trials" in notes[0]


def test_step_budget_is_a_study_total(tmp_path: Path, objective_file: Path) -> None:
    study = run_config(resolved_config(tmp_path, objective_file, "budget: {steps: 6}\n"), show_progress=False)
    assert study.totals().steps == 6
    study = run_config(resolved_config(tmp_path, objective_file, "budget: {steps: 9}\n"), show_progress=False)
    assert study.totals().steps == 9 and len(study.trials) == 3


def test_plan_run(tmp_path: Path) -> None:
    study = itero.create_study("p", storage="sqlite://", objectives={"loss": "minimize"})
    plan = plan_run(None, study)
    assert plan.n_trials == DEFAULT_TRIALS and plan.note and str(DEFAULT_TRIALS) in plan.note
    plan = plan_run(BudgetConfig(trials=4, steps=10, minutes=1.0), study)
    assert (plan.n_trials, plan.used_up) == (None, None)  # the study's budget limits the run
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2, show_progress=False)
    assert plan_run(BudgetConfig(trials=4, minutes=1.0), study).used_up is None
    assert "2 of 2 trials" in (plan_run(BudgetConfig(trials=2), study).used_up or "")
    assert "budget.minutes" in (plan_run(BudgetConfig(minutes=1e-9), study).used_up or "")


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[1].joinpath("examples").glob("*.yaml")))
def test_every_example_config_is_valid(path: Path) -> None:
    from itero.config import load_config, validate

    resolved = validate(load_config(path))
    assert resolved.scheduler is not None and resolved.sampler is not None
