"""The study's budget is granted by the store across processes: two `itero run` of one YAML share its totals."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import itero
from itero.exceptions import BudgetSpentError, ConfigError
from itero.trial import TrialState

OBJECTIVE = """
import time

def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in trial.steps(max_steps=4):
        time.sleep(0.05)
        trial.report(step, {"loss": x + 1.0 / step})
"""


def _yaml(tmp_path: Path, url: str, name: str, budget: str) -> Path:
    (tmp_path / "obj.py").write_text(OBJECTIVE)
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"study: {name}\nstorage: {url}\ntask: obj.py:objective\nobjectives: {{loss: minimize}}\n"
        f"sampler: random\nscheduler: fifo\nbudget: {budget}\n"
    )
    return path


def _run_together(path: Path, n: int = 2, stagger: float = 0.0) -> list[subprocess.CompletedProcess[str]]:
    """``itero run path`` in ``n`` processes started ``stagger`` seconds apart; their results once all ended."""
    procs = []
    for i in range(n):
        if i:
            time.sleep(stagger)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "itero.cli", "run", str(path), "--no-progress"],
                cwd=path.parent,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def _said(result: subprocess.CompletedProcess[str]) -> str:
    """What a run printed, on one line (the console wraps long lines)."""
    return " ".join((result.stdout + result.stderr).split())


def test_two_processes_share_the_trial_budget_exactly(tmp_path: Path, storage_url: str, study_name: str) -> None:
    path = _yaml(tmp_path, storage_url, study_name, "{trials: 10}")
    for result in _run_together(path):
        assert result.returncode == 0, result.stderr
    study = itero.load_study(study_name, storage=storage_url)
    assert len(study.trials) == 10 and all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len({w for t in study.runs() for w in [t.worker_id]}) == 2  # both processes worked on it
    assert study.budget.trials_started == 10 and study.budget.max_trials == 10
    path.write_text(path.read_text().replace("trials: 10", "trials: 13"))  # a re-run resumes the same totals
    for result in _run_together(path):
        assert result.returncode == 0, result.stderr
    assert len(itero.load_study(study_name, storage=storage_url).trials) == 13


def test_two_processes_share_the_step_budget_exactly(tmp_path: Path, storage_url: str, study_name: str) -> None:
    path = _yaml(tmp_path, storage_url, study_name, "{steps: 30}")
    for result in _run_together(path):
        assert result.returncode == 0, result.stderr
    study = itero.load_study(study_name, storage=storage_url)
    assert study.totals().steps == 30 and study.budget.steps_taken == 30
    cut = [t for t in study.trials if t.state != TrialState.COMPLETE]
    assert cut and all("budget" in (t.error or "") for t in cut)
    again = _run_together(path, n=1)[0]
    assert again.returncode == 0 and "budget used up (budget.steps: the study spent 30 of 30 steps)" in _said(again)


def test_minutes_are_the_study_wall_clock_not_each_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'itero.db'}"
    path = _yaml(tmp_path, url, "clock", "{minutes: 0.1}")  # 6 s of the study's clock, whatever the processes
    results = _run_together(path, stagger=3.0)  # the second joins 3 s later: it gets the 3 s left, not 6 s
    for result in results:
        assert result.returncode == 0, result.stderr
    study = itero.load_study("clock", storage=url)
    runs = sorted(study.runs(), key=lambda r: r.started_at)
    first, last = runs[0].started_at, max(r.ended_at for r in runs)
    assert last - first < 6.0 + 1.0  # within a step of the study's 6 s (per process: 3 + 6 = 9 s)
    assert 5.0 < study.totals().run_seconds < 6.0 + 1.5
    again = _run_together(path, n=1)[0]
    assert "budget used up (budget.minutes" in _said(again)


def _quick(trial: itero.Trial) -> float:
    return trial.suggest_float("x", 0.0, 1.0) ** 2


def test_set_budget_limits_every_optimize_call_and_ask(tmp_path: Path) -> None:
    study = itero.create_study("b", storage=f"sqlite:///{tmp_path / 'b.db'}", objectives={"loss": "minimize"})
    study.optimize(_quick, n_trials=2, show_progress=False)
    budget = study.set_budget(trials=5)
    assert (budget.max_trials, budget.trials_started) == (5, 2)  # trials the study already has count
    study.optimize(_quick, n_trials=10, show_progress=False)  # n_trials counts per call; the budget caps it
    assert len(study.trials) == 5
    peer = itero.load_study("b", storage=study.store.url)  # another process would see the same
    peer.optimize(_quick, show_progress=False)  # no per-call limit: the study's budget ends it
    assert len(peer.trials) == 5
    with pytest.raises(BudgetSpentError, match=r"its 5 trials are all started.*set_budget\(trials=\.\.\.\)"):
        study.ask()
    study.set_budget(trials=6)
    study.tell(study.ask(), 0.5)
    study.set_budget()  # no limit
    assert not study.budget.limited
    study.optimize(_quick, n_trials=2, show_progress=False)
    assert len(study.trials) == 8


def test_a_step_budget_counts_the_steps_already_run(tmp_path: Path) -> None:
    study = itero.create_study(
        "s", storage="sqlite://", objectives={"loss": "minimize"}, sampler="random", scheduler="fifo"
    )

    def stepped(trial: itero.Trial) -> None:
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in trial.steps(max_steps=5):
            trial.report(step, {"loss": x / step})

    study.optimize(stepped, n_trials=2, show_progress=False)
    assert study.set_budget(steps=17).steps_taken == 10
    study.optimize(stepped, show_progress=False)
    assert study.totals().steps == 17 and study.budget.describe() == "steps 17/17"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trials": 0}, "trials must be an integer >= 1 or None, got 0"),
        ({"steps": 2.5}, "steps must be an integer >= 1 or None, got 2.5"),
        ({"minutes": -1}, "minutes must be a positive number or None, got -1"),
        ({"energy_kwh": float("nan")}, "energy_kwh must be a positive number or None, got nan"),
    ],
)
def test_bad_budgets_name_the_limit(kwargs: dict[str, object], message: str) -> None:
    study = itero.create_study("bad", storage="sqlite://", objectives={"loss": "minimize"})
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        study.set_budget(**kwargs)  # type: ignore[arg-type]


def test_an_energy_budget_needs_tracking() -> None:
    study = itero.create_study("e", storage="sqlite://", objectives={"loss": "minimize"}, tracking=False)
    with pytest.raises(ConfigError, match="energy_kwh needs energy tracking"):
        study.set_budget(energy_kwh=1.0)


BUSY = """
import sys, time
import itero

def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in trial.steps(max_steps=5):
        t = time.perf_counter()
        while time.perf_counter() - t < 0.1:  # busy: the CPU's energy is what is measured
            pass
        trial.report(step, {"loss": x / step})

itero.load_study("energy", storage=sys.argv[1]).optimize(objective, show_progress=False)
"""


def test_two_processes_share_the_energy_budget_within_a_step(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'itero.db'}"
    study = itero.create_study("energy", storage=url, objectives={"loss": "minimize"}, scheduler="fifo")
    study.set_budget(energy_kwh=8.0 / 3.6e6)  # 8 J: a few seconds of one busy core
    (tmp_path / "busy.py").write_text(BUSY)
    procs = [subprocess.Popen([sys.executable, str(tmp_path / "busy.py"), url], cwd=tmp_path) for _ in range(2)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    totals = itero.load_study("energy", storage=url).totals()
    steps_j = max(r.energy_j / max(1, r.end_step - r.start_step) for r in study.runs())  # energy of one step
    assert 8.0 <= totals.energy_j <= 8.0 + 2 * steps_j + 1e-9, (totals.energy_j, steps_j)


def _stepped(trial: itero.Trial) -> None:
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in trial.steps(max_steps=5):
        time.sleep(0.002)
        trial.report(step, {"loss": x / step})


def test_a_run_step_limit_and_the_studys_together_neither_deadlock_nor_overshoot(
    storage_url: str, study_name: str
) -> None:
    study = itero.create_study(
        study_name, storage=storage_url, objectives={"loss": "minimize"}, sampler="random", scheduler="fifo"
    )
    study.set_budget(steps=60)
    study.optimize(_stepped, max_steps_total=80, n_jobs=3, show_progress=False)  # the study's 60 come first
    assert study.totals().steps == 60 and not [t for t in study.trials if t.state == TrialState.FAILED]


def test_a_budget_set_while_a_trial_runs_holds_within_a_second(tmp_path: Path) -> None:
    study = itero.create_study(
        "mid", storage=f"sqlite:///{tmp_path / 'mid.db'}", objectives={"loss": "minimize"}, scheduler="fifo"
    )

    def long(trial: itero.Trial) -> None:
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in trial.steps(max_steps=60):
            if step == 5:  # another process (here: a peer handle) sets a budget while this trial runs
                itero.load_study("mid", storage=study.store.url).set_budget(steps=10)
            time.sleep(0.05)
            trial.report(step, {"loss": x / step})

    study.optimize(long, n_trials=1, show_progress=False)
    steps = study.totals().steps
    assert 10 <= steps <= 10 + 1 / 0.05 + 1, steps  # stopped within a second of steps once the budget was seen


def test_a_file_without_a_budget_keeps_the_one_set_before(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keep.db'}"
    path = _yaml(tmp_path, url, "keep", "{trials: 3}")
    path.write_text(path.read_text().replace("budget: {trials: 3}\n", ""))
    itero.create_study("keep", storage=url, objectives={"loss": "minimize"}).set_budget(trials=3)
    result = _run_together(path, n=1)[0]
    assert result.returncode == 0, result.stderr
    study = itero.load_study("keep", storage=url)
    assert len(study.trials) == 3 and study.budget.max_trials == 3
