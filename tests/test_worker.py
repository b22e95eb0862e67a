"""``itero worker``: peers that join a running study from another folder (another machine) and leave cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

import itero
from itero.cli import app
from itero.exceptions import StorageError
from itero.store._schema import workers
from itero.trial import TrialState

OBJECTIVE = """
import time

def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in trial.steps(max_steps=3):
        time.sleep(0.1)
        trial.report(step, {"loss": (x - 0.3) ** 2 + 1.0 / step})
"""


def _itero(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "itero.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _study_yaml(folder: Path, url: str, name: str, budget: str) -> Path:
    (folder / "train.py").write_text(OBJECTIVE)
    path = folder / "study.yaml"
    path.write_text(
        f"study: {name}\nstorage: {url}\ntask: train.py:objective\nobjectives: {{loss: minimize}}\n"
        f"sampler: random\nscheduler: fifo\nbudget: {budget}\n"
    )
    return path


def test_a_worker_in_another_folder_joins_a_running_study(tmp_path: Path, storage_url: str, study_name: str) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    path = _study_yaml(here, storage_url, study_name, "{trials: 12}")
    run = _itero("run", str(path), "--no-progress", cwd=here)
    deadline = time.time() + 60
    while time.time() < deadline:  # the worker joins once the study exists
        try:
            itero.load_study(study_name, storage=storage_url)
            break
        except (itero.StudyNotFoundError, StorageError):
            time.sleep(0.2)
    joined = _itero("worker", study_name, "--storage", storage_url, "--no-progress", cwd=there)
    _out_run, err_run = run.communicate(timeout=120)
    out_worker, err_worker = joined.communicate(timeout=120)
    assert run.returncode == 0, err_run
    assert joined.returncode == 0, err_worker
    assert "worker done:" in out_worker
    study = itero.load_study(study_name, storage=storage_url)
    assert len(study.trials) == 12 and {t.state for t in study.trials} == {TrialState.COMPLETE}
    with study.store.engine.connect() as conn:
        pids = set(conn.execute(select(workers.c.pid).where(workers.c.study_id == study.id)).scalars())
    ran = {r.worker_id for r in study.runs()}
    assert len(pids) == 2 and len(ran) == 2  # both processes ran trials of the study's one budget


def test_sigterm_gives_the_workers_trial_back_and_another_worker_finishes_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'itero.db'}"
    (tmp_path / "slow.py").write_text(OBJECTIVE.replace("time.sleep(0.1)", "time.sleep(1.0)"))
    itero.create_study("w", storage=url, objectives={"loss": "minimize"}, scheduler="fifo", task="slow.py:objective")
    worker = _itero("worker", "w", "--storage", url, "--trials", "3", "--no-progress", cwd=tmp_path)
    study = itero.load_study("w", storage=url)
    deadline = time.time() + 60
    while time.time() < deadline and not any(t.state == TrialState.RUNNING for t in study.trials):
        time.sleep(0.1)
    time.sleep(0.5)
    worker.send_signal(signal.SIGTERM)
    _out, errors = worker.communicate(timeout=60)
    assert worker.returncode == 130, errors
    assert "given back as WAITING" in " ".join(errors.split())
    assert [t.state for t in itero.load_study("w", storage=url).trials] == [TrialState.WAITING]
    again = _itero("worker", "w", "--storage", url, "--trials", "0", "--no-progress", cwd=tmp_path)
    _, errors = again.communicate(timeout=60)
    assert again.returncode == 0, errors
    assert [t.state for t in itero.load_study("w", storage=url).trials] == [TrialState.COMPLETE]


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, " ".join(result.stderr.split())


def test_a_study_without_a_recorded_objective_says_to_pass_task(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'itero.db'}"
    itero.create_study("py", storage=url, objectives={"loss": "minimize"})
    code, said = _cli("worker", "py", "--storage", url)
    assert code == 2 and "records no objective" in said and "--task" in said
    code, said = _cli("worker", "py", "--storage", url, "--task", "no_such_module:f")
    assert code == 2 and "cannot import module 'no_such_module'" in said
    code, said = _cli("worker", "nope", "--storage", f"sqlite:///{tmp_path / 'missing.db'}")
    assert code == 2 and "no database at" in said


def test_a_worker_runs_a_built_in_task_by_name(tmp_path: Path) -> None:
    from itero.tasks import TASKS

    url = f"sqlite:///{tmp_path / 'itero.db'}"
    task = TASKS["crossing-curves"]
    study = itero.create_study("b", storage=url, objectives=dict(task.objectives), task=task.name, scheduler="fifo")
    study.set_budget(trials=3)
    code, said = _cli("worker", "b", "--storage", url, "--no-progress")
    assert code == 0, said
    assert len(itero.load_study("b", storage=url).trials) == 3


def test_a_recorded_objective_missing_on_this_machine_says_to_pass_task(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'itero.db'}"
    (tmp_path / "train.py").write_text(OBJECTIVE)
    itero.create_study(
        "moved", storage=url, objectives={"loss": "minimize"}, task=str(tmp_path / "train.py") + ":objective"
    )
    (tmp_path / "train.py").rename(tmp_path / "elsewhere.py")
    code, said = _cli("worker", "moved", "--storage", url)
    assert code == 2 and "not found" in said and "pass --task with where it is here" in said
