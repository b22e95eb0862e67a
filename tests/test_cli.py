"""The ``itero`` command: bad input exits 2 with one ``error:`` line and writes nothing; real runs resume."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import itero
from itero.cli import app

OBJECTIVE = """
def objective(trial):
    x = trial.suggest_float("x", -5.0, 5.0)
    for step in trial.steps(max_steps=3):
        trial.report(step, {"loss": (x - 1.0) ** 2 + 1.0 / step})


def two_objectives(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    return {"a": x, "b": (1.0 - x) ** 2}


def broken(trial):
    trial.suggest_float("x", 0.0, 1.0)
    raise RuntimeError("the objective is broken [on purpose]")
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in ``tmp_path`` (the default ``itero.db`` lands there) and leave the ``itero`` logger as it was."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ITERO_STORAGE", raising=False)
    log = logging.getLogger("itero")
    handlers, level = list(log.handlers), log.level
    yield
    log.handlers[:] = handlers
    log.setLevel(level)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "studies.db"


@pytest.fixture
def url(db: Path) -> str:
    return f"sqlite:///{db}"


def invoke(*args: str, env: dict[str, str | None] | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **(env or {})}, input=input)


def write_study(tmp_path: Path, url: str, body: str, name: str = "study.yaml") -> Path:
    (tmp_path / "obj.py").write_text(OBJECTIVE)
    path = tmp_path / name
    path.write_text(f"study: quad\nstorage: {url}\n" + textwrap.dedent(body))
    return path


def no_database_files(tmp_path: Path) -> bool:
    return not list(tmp_path.rglob("*.db*")) and not list(tmp_path.rglob("*artifacts*"))


# ------------------------------------------------------------------------------------------- bad input
QUAD = "task: obj.py:objective\nobjectives: {loss: minimize}\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (QUAD + "colour: red\n", ["colour", "allowed keys", "'budget'"]),
        (QUAD + "budget: {trials: 2, foo: 1}\n", ["budget.foo", "'trials'"]),
        (QUAD + "n_jobs: two\n", ["n_jobs", "'two'", "integer >= 1"]),
        (QUAD + "budget: {trials: 0}\n", ["budget.trials", "got 0"]),
        (QUAD + "space: {x: {low: 2.0, high: 1.0}}\n", ["space.x.low", "2.0", "low <= high"]),
        (QUAD + "space: {x: {low: 0.0, high: 1.0, log: true}}\n", ["space.x.low", "0.0", "low > 0"]),
        (QUAD + "sampler: {name: nope, seed: 1}\n", ["sampler.name", "'nope'", "'tpe'"]),
        (QUAD + "scheduler: nope\n", ["scheduler.name", "'nope'", "'fifo'"]),
        ("task: obj.py:objective\nobjectives: {loss: smallest}\n", ["objectives.loss", "'smallest'"]),
        ("task: no-such-task\n", ["task", "'no-such-task'", "digits-mlp"]),
        ("task: obj.py:missing\n", ["task", "'missing'", "'objective'"]),
        (QUAD + "space: {x: [1, 2}\n", ["invalid YAML", "line 5"]),
        (QUAD + "region: Atlantis\n", ["region 'Atlantis'", "country code"]),
        (QUAD + "budget: {energy_kwh: -1}\n", ["budget.energy_kwh", "got -1"]),
        (QUAD + "tracking: false\nbudget: {energy_kwh: 1}\n", ["budget.energy_kwh needs energy tracking"]),
    ],
)
def test_bad_config_exits_2_and_writes_nothing(tmp_path: Path, url: str, body: str, expected: list[str]):
    path = write_study(tmp_path, url, body)
    result = invoke("run", str(path))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and str(path) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for part in expected:
        assert part in result.stderr, (part, result.stderr)
    assert no_database_files(tmp_path)


def test_missing_or_non_mapping_config(tmp_path: Path) -> None:
    result = invoke("run", "missing.yaml")
    assert result.exit_code == 2 and "missing.yaml: config file not found" in result.stderr
    (tmp_path / "list.yaml").write_text("- study: s\n- task: t\n")
    result = invoke("run", "list.yaml")
    assert result.exit_code == 2 and "top level is a list" in result.stderr
    assert no_database_files(tmp_path)


def test_storage_that_cannot_be_opened(tmp_path: Path) -> None:
    for storage in ("foo://x", "postgresql://nobody@127.0.0.1:1/none"):
        result = invoke("ls", "--storage", storage)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: ") and storage in result.stderr


def test_a_damaged_database_is_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.db").write_text("not a database, only text " * 40)
    for command in (["ls"], ["show", "quad"], ["run", str(write_study(tmp_path, "sqlite:///bad.db", QUAD))]):
        result = invoke(*command, "--storage", "sqlite:///bad.db") if command[0] != "run" else invoke(*command)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "bad.db is not an SQLite database or is damaged" in lines[0], lines
        assert "restore it from a copy" in lines[0]


def test_a_read_only_database_says_what_to_do() -> None:
    from itero.store._engine import cannot_open

    line = cannot_open("sqlite:////data/itero.db", "attempt to write a readonly database")
    assert "/data/itero.db cannot be written" in line and "make the file and its folder writable" in line


def _immutable(*paths: Path, on: bool) -> bool:
    """Set or clear the immutable flag (``chattr +i``): writes then fail even for root, as for a user without
    write permission. False where the file system or the user cannot."""
    flag = "+i" if on else "-i"
    return all(subprocess.run(["chattr", flag, str(p)], capture_output=True).returncode == 0 for p in paths)


def test_a_read_only_database_can_be_read_and_a_write_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    url = f"sqlite:///{folder / 'itero.db'}"
    path = write_study(tmp_path, url, QUAD + "scheduler: fifo\nsampler: random\nbudget: {trials: 2}\n")
    # Written by another process, as in life: this one must hold no connection of a writer to the file.
    run = [sys.executable, "-m", "itero.cli", "run", str(path), "--no-progress"]
    assert subprocess.run(run, cwd=tmp_path, capture_output=True).returncode == 0
    files = [folder, *folder.iterdir()]
    if shutil.which("chattr") is None or not _immutable(*files, on=True):
        pytest.skip("chattr +i is not available here")
    try:
        listed = invoke("ls", "--storage", url)
        assert listed.exit_code == 0 and "quad" in listed.stdout, listed.output
        shown = invoke("show", "quad", "--storage", url)
        assert shown.exit_code == 0 and "trials 2" in shown.stdout, shown.output
        path.write_text(path.read_text().replace("trials: 2", "trials: 4"))
        result = invoke("run", str(path), "--no-progress")
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "itero.db cannot be written" in lines[0], lines
        assert "make the file and its folder writable" in lines[0]
    finally:
        _immutable(*files, on=False)


def test_reading_a_missing_sqlite_file_does_not_create_it(tmp_path: Path, url: str, db: Path) -> None:
    result = invoke("ls", "--storage", url)
    assert result.exit_code == 0 and "no database at" in result.stderr
    for command in (["show", "quad"], ["best", "quad", "--json"]):
        result = invoke(*command, "--storage", url)
        assert result.exit_code == 2 and "no database at" in result.stderr and str(db) in result.stderr
    result = invoke("show", "quad")  # the default storage, sqlite:///itero.db in the working directory
    assert result.exit_code == 2 and "itero.db" in result.stderr
    assert no_database_files(tmp_path)


# ------------------------------------------------------------------------------------------- real runs
def test_run_resume_ls_show_best(tmp_path: Path, url: str) -> None:
    path = write_study(tmp_path, url, QUAD + "sampler: {name: random, seed: 0}\nscheduler: fifo\nbudget: {trials: 6}\n")
    result = invoke("run", str(path), "--no-progress")
    assert result.exit_code == 0, result.output
    study = itero.load_study("quad", storage=url)
    best = study.best_trial
    assert len(study.trials) == 6
    assert f"best trial of 'quad': #{best.number}" in result.stdout
    assert f"{best.metrics['loss']:.6g}" in result.stdout and f"{best.params['x']:.6g}" in result.stdout
    assert "trials 6 (6 finished)" in result.stdout and "steps 18" in result.stdout
    assert f"itero show quad --storage {url}" in result.stdout

    path.write_text(path.read_text().replace("trials: 6", "trials: 8"))
    result = invoke("run", str(path), "--no-progress")
    assert result.exit_code == 0, result.output
    study = itero.load_study("quad", storage=url)
    assert len(study.trials) == 8 and all(t.state == itero.TrialState.COMPLETE for t in study.trials)

    result = invoke("run", str(path), "--no-progress")  # the budget is spent: nothing more runs
    assert result.exit_code == 0 and "budget used up" in result.stderr
    assert len(itero.load_study("quad", storage=url).trials) == 8

    result = invoke("ls", "--storage", url)
    assert result.exit_code == 0 and "quad" in result.stdout and "COMPLETE 8" in result.stdout
    assert "loss ↓" in result.stdout

    result = invoke("show", "quad", "--storage", url, "--limit", "3")
    assert result.exit_code == 0, result.output
    assert "random(seed=0)" in result.stdout and "fifo()" in result.stdout and "3 of 8" in result.stdout
    assert "trials 8 (8 finished)" in result.stdout and "steps 24" in result.stdout

    result = invoke("best", "quad", "--json", env={"ITERO_STORAGE": url})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    best = itero.load_study("quad", storage=url).best_trial
    assert data["objectives"] == {"loss": "minimize"} and data["best"]["number"] == best.number
    assert data["best"]["params"] == best.params and data["best"]["metrics"] == best.metrics
    assert data["best"]["steps"] == 3


def test_unknown_study_names_the_existing_ones(tmp_path: Path, url: str) -> None:
    path = write_study(tmp_path, url, QUAD + "budget: {trials: 1}\n")
    assert invoke("run", str(path), "--no-progress").exit_code == 0
    for command in ("show", "best"):
        result = invoke(command, "nope", "--storage", url)
        assert result.exit_code == 2 and "'nope'" in result.stderr and "'quad'" in result.stderr


def test_two_objectives_print_the_pareto_front(tmp_path: Path, url: str) -> None:
    body = "task: obj.py:two_objectives\nobjectives: {a: minimize, b: minimize}\nsampler: random\n"
    path = write_study(tmp_path, url, body + "budget: {trials: 5}\n")
    result = invoke("run", str(path), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "Pareto front of 'quad': 5 trial(s)" in result.stdout  # every x is optimal for one trade-off
    data = json.loads(invoke("best", "quad", "--storage", url, "--json").stdout)
    assert len(data["pareto_front"]) == 5 and set(data["pareto_front"][0]["metrics"]) == {"a", "b"}


def test_failing_objective_exits_1_with_its_error(tmp_path: Path, url: str) -> None:
    path = write_study(tmp_path, url, "task: obj.py:broken\nbudget: {trials: 2}\n")
    result = invoke("run", str(path), "--no-progress")
    assert result.exit_code == 1
    assert "no COMPLETE trial" in result.stderr and "FAILED 2" in result.stderr
    assert "the objective is broken [on purpose]" in result.stderr
    assert "Traceback" not in result.stderr  # without -v, one line per failure
    result = invoke("show", "quad", "--storage", url)
    assert result.exit_code == 0 and "FAILED" in result.stdout and "broken [on purpose]" in result.stdout
    result = invoke("show", "quad", "--storage", url, "--trial", "1")
    assert result.exit_code == 0 and "trial #1" in result.stdout and "FAILED" in result.stdout
    # The whole traceback, down to the line of the objective that raised.
    assert "Traceback (most recent call last)" in result.stdout and 'obj.py", line' in result.stdout
    assert "in broken" in result.stdout and "RuntimeError: the objective is broken [on purpose]" in result.stdout
    result = invoke("show", "quad", "--storage", url, "--trial", "7")
    assert result.exit_code == 2 and "has no trial 7 (its trials: 0 to 1)" in result.stderr
    path.write_text(path.read_text().replace("trials: 2", "trials: 3"))
    result = invoke("-v", "run", str(path), "--no-progress")
    assert "Trial 2 traceback:" in result.stderr and "in broken" in result.stderr


def test_no_budget_runs_the_default_and_verbose_logs_trials(tmp_path: Path, url: str) -> None:
    path = write_study(tmp_path, url, QUAD)
    result = invoke("-v", "run", str(path), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "no budget given: running 20 trials" in result.stderr  # and the default scheduler, auto
    assert re.search(r"Trial 19 (complete|pruned) after step", result.stderr)
    assert len(itero.load_study("quad", storage=url).trials) == 20


def test_tasks_lists_the_built_in_tasks() -> None:
    result = invoke("tasks")
    assert result.exit_code == 0
    assert "digits-mlp" in result.stdout and "supervised" in result.stdout and "val_acc ↑" in result.stdout


def test_rm_asks_then_deletes_and_gc_frees_unusable_checkpoints(tmp_path: Path, url: str) -> None:
    path = write_study(tmp_path, url, QUAD + "scheduler: {name: asha, max_steps: 3, eta: 3}\nbudget: {trials: 6}\n")
    assert invoke("run", str(path), "--no-progress").exit_code == 0
    result = invoke("rm", "quad", "--storage", url, input="n\n")
    assert (
        result.exit_code == 1
        and "Delete study 'quad': 6 trials" in result.stderr
        and "nothing deleted" in result.stderr
    )
    result = invoke("gc", "--storage", url)
    assert result.exit_code == 0 and "freed" in result.stdout
    result = invoke("rm", "quad", "--storage", url, "--yes")
    assert result.exit_code == 0 and "deleted study 'quad'" in result.stdout
    assert "no study named 'quad'" in invoke("show", "quad", "--storage", url).stderr
    assert invoke("rm", "quad", "--storage", url, "--yes").exit_code == 2


def test_show_filters_sorts_and_does_not_wrap_when_piped(tmp_path: Path, url: str) -> None:
    path = write_study(tmp_path, url, QUAD + "sampler: {name: random, seed: 1}\nscheduler: fifo\nbudget: {trials: 6}\n")
    assert invoke("run", str(path), "--no-progress").exit_code == 0
    study = itero.load_study("quad", storage=url)
    best = sorted(study.trials, key=lambda t: t.metrics["loss"])
    result = invoke("show", "quad", "--storage", url, "--sort", "best", "--limit", "2")
    assert result.exit_code == 0 and "trials (2 of 6, by best, --limit 0 shows all)" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == [str(t.number) for t in best[:2]]
    result = invoke("show", "quad", "--storage", url, "--state", "failed")
    assert result.exit_code == 0 and "trials (0 of 0 FAILED)" in result.stdout
    assert (
        "got DONE; expected one of WAITING, RUNNING"
        in invoke("show", "quad", "--storage", url, "--state", "DONE").stderr
    )
    assert "--sort: got 'loss'" in invoke("show", "quad", "--storage", url, "--sort", "loss").stderr
    # Piped (no terminal, no COLUMNS): each row on one line, however long its cells.
    (tmp_path / "wide.py").write_text(
        "def objective(trial):\n"
        "    return sum(trial.suggest_float(f'a_rather_long_parameter_name_{i}', 0.0, 1.0) for i in range(6))\n"
    )
    wide = write_study(
        tmp_path,
        url,
        "task: wide.py:objective\nobjectives: {loss: minimize}\nscheduler: fifo\nbudget: {trials: 9}\n",
        "w.yaml",
    )
    assert invoke("run", str(wide), "--no-progress").exit_code == 0
    piped = invoke("show", "quad", "--storage", url, env={"COLUMNS": None})
    rows = [line for line in piped.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == 9 and all("a_rather_long_parameter_name_5=" in row for row in rows[6:]), rows


def test_a_trial_given_back_by_ctrl_c_is_finished_by_the_next_run_within_the_trial_budget(tmp_path: Path, url: str):
    (tmp_path / "once.py").write_text(
        "import pathlib\n"
        "def objective(trial):\n"
        "    x = trial.suggest_float('x', 0.0, 1.0)\n"
        "    for step in trial.steps(max_steps=3):\n"
        "        if step == 2 and not pathlib.Path('interrupted').exists():\n"
        "            pathlib.Path('interrupted').write_text('1')\n"
        "            raise KeyboardInterrupt\n"
        "        trial.report(step, {'loss': x + 1.0 / step})\n"
    )
    path = write_study(tmp_path, url, "task: once.py:objective\nobjectives: {loss: minimize}\nbudget: {trials: 1}\n")
    assert invoke("run", str(path), "--no-progress").exit_code == 130
    assert [t.state for t in itero.load_study("quad", storage=url).trials] == [itero.TrialState.WAITING]
    result = invoke("run", str(path), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "the study has all 1 trials; finishing those it started" in result.stderr
    assert [t.state for t in itero.load_study("quad", storage=url).trials] == [itero.TrialState.COMPLETE]
    result = invoke("run", str(path), "--no-progress")  # now nothing is left: used up
    assert "budget used up" in result.stderr


def test_misspelt_names_under_params_or_space_are_config_errors(tmp_path: Path, url: str) -> None:
    # A built-in task declares its parameters: the mistake is caught before anything runs.
    body = "task: digits-mlp\nparams: {optimiser: adam}\nspace: {learning_rate: {low: 0.001, high: 0.1}}\n"
    result = invoke("run", str(write_study(tmp_path, url, body)), "--no-progress")
    assert result.exit_code == 2, result.output
    assert "params.optimiser: task 'digits-mlp' never suggests 'optimiser' (did you mean 'optimizer'?)" in result.stderr
    assert "space.learning_rate: task 'digits-mlp' never suggests 'learning_rate'" in result.stderr
    assert no_database_files(tmp_path)
    # A user's function: after its first trial, the study stops with the same message (and keeps that trial).
    body = QUAD + "space: {xx: {low: 0.0, high: 1.0}}\nbudget: {trials: 5}\n"
    result = invoke("run", str(write_study(tmp_path, url, body, name="own.yaml")), "--no-progress")
    assert result.exit_code == 2, result.output
    assert "space.xx: the objective never suggests 'xx' (did you mean 'x'?); its parameters: x" in result.stderr
    assert len(itero.load_study("quad", storage=url).trials) == 1


def test_built_in_task_runs_end_to_end(tmp_path: Path, url: str) -> None:
    path = tmp_path / "digits.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            study: digits-mlp
            storage: {url}
            task: digits-mlp
            objectives: {{val_acc: maximize}}
            params: {{width: 32, depth: 1, batch_size: 128}}
            space:
              lr: {{low: 1.0e-3, high: 0.1, log: true}}
            sampler: {{name: tpe, seed: 0}}
            scheduler: {{name: fifo, max_steps: 2}}
            budget: {{trials: 2}}
            n_jobs: 1
            """
        )
    )
    result = invoke("run", str(path), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "best trial of 'digits-mlp'" in result.stdout and "val_acc ↑" in result.stdout
    study = itero.load_study("digits-mlp", storage=url)
    assert [t.cost.steps for t in study.trials] == [2, 2]
    assert all(t.params["width"] == 32 and 1e-3 <= t.params["lr"] <= 0.1 for t in study.trials)
    assert 0.0 <= study.best_value <= 1.0
    (data,) = study.data_versions()  # the built-in task records its data
    assert data.name == "sklearn-digits" and data.trials == [0, 1]
    assert data.info["parts"]["train"]["parts"][0]["shape"] == [1078, 64]
    assert all(t.cost.energy_j > 0 for t in study.trials)


def test_show_and_best_print_cost_data_and_environment(tmp_path: Path, url: str) -> None:
    (tmp_path / "obj.py").write_text(
        "import itero, numpy as np\n"
        "def objective(trial):\n"
        "    x = trial.suggest_float('x', -1.0, 1.0)\n"
        "    itero.track_dataset('train', np.arange(10) + (trial.number >= 2))\n"
        "    return x * x\n"
    )
    path = tmp_path / "s.yaml"
    path.write_text(
        f"study: tracked\nstorage: {url}\ntask: obj.py:objective\nobjectives: {{loss: minimize}}\n"
        "region: FRA\nbudget: {trials: 4, energy_kwh: 1.0}\n"
    )
    assert invoke("run", str(path), "--no-progress").exit_code == 0
    study = itero.load_study("tracked", storage=url)
    totals = study.totals()
    assert totals.region == "FRA" and totals.energy_j > 0
    d0, d1 = (r.digest[:12] for r in study.data_versions())
    result = invoke("show", "tracked", "--storage", url)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "energy " in out and "CO2 " in out and "(FRA)" in out
    assert f"train  {d0}  array (10,) int64 · trials 0-1" in out and f"train  {d1}" in out
    assert f"warning: dataset 'train': 2 versions — {d0} (trials 0-1), {d1} (trials 2-3)" in out
    assert "python " in out and "energy cpu=" in out and "1 worker(s)" in out
    result = invoke("best", "tracked", "--storage", url)
    assert result.exit_code == 0, result.output
    assert "energy / CO2" in result.stdout and "data train" in result.stdout and "warning: dataset" in result.stdout
    assert "DataVersionWarning" not in result.output  # printed once, as a line, not as a Python warning
    data = json.loads(invoke("best", "tracked", "--json", "--storage", url).stdout)
    assert data["totals"]["energy_kwh"] == pytest.approx(totals.energy_kwh) and data["totals"]["region"] == "FRA"
    assert data["best"]["datasets"]["train"] in (r.digest for r in study.data_versions())
    assert data["data_warnings"] == study.data_warnings()


def test_changing_the_objectives_of_an_existing_study_is_refused(tmp_path: Path, url: str) -> None:
    path = write_study(tmp_path, url, QUAD + "budget: {trials: 1}\n")
    assert invoke("run", str(path), "--no-progress").exit_code == 0
    path.write_text(path.read_text().replace("loss: minimize", "loss: maximize"))
    result = invoke("run", str(path), "--no-progress")
    assert result.exit_code == 2 and "'quad' exists with objectives" in result.stderr
    assert len(itero.load_study("quad", storage=url).trials) == 1
