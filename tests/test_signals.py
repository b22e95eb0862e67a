"""SIGTERM to ``itero run`` (``kill``, a cluster scheduler cancelling the job) stops it as Ctrl-C does: its worker
processes end too, and their running trials go back to WAITING for the next run, without counting as a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sqlalchemy import create_engine, select

import itero
from itero.store._schema import trials, workers
from itero.trial import TrialState

SLOW = """
import time

def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in trial.steps(max_steps=200):
        time.sleep(0.05)
        trial.report(step, {"loss": x + 1.0 / step})
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_sigterm_stops_the_workers_and_gives_their_trials_back(tmp_path: Path):
    (tmp_path / "slow.py").write_text(SLOW)
    db = tmp_path / "s.db"
    config = tmp_path / "study.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        study: slow
        storage: sqlite:///{db}
        task: slow.py:objective
        objectives: {{loss: minimize}}
        scheduler: fifo
        budget: {{trials: 6}}
        n_jobs: 2
        """)
    )
    env = {k: v for k, v in os.environ.items() if k != "ITERO_ARTIFACTS"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "itero.cli", "run", str(config), "--no-progress"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    engine = create_engine(f"sqlite:///{db}")
    deadline = time.time() + 60
    running: list = []
    while time.time() < deadline and len(running) < 2:
        time.sleep(0.2)
        if db.exists():
            try:
                with engine.connect() as conn:
                    running = conn.execute(select(trials.c.id).where(trials.c.state == "RUNNING")).all()
            except Exception:  # the schema may not be there yet
                running = []
    assert len(running) == 2, "two trials never ran at once"
    with engine.connect() as conn:
        pids = [p for (p,) in conn.execute(select(workers.c.pid)).all()]
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; run `itero run" in err
    time.sleep(0.5)
    assert not [p for p in pids if p != proc.pid and _alive(p)], "a worker process outlived `itero run`"
    study = itero.load_study("slow", storage=f"sqlite:///{db}")
    states = [t.state for t in study.trials]
    assert TrialState.RUNNING not in states and states.count(TrialState.WAITING) == 2
    assert all(t.retries == 0 for t in study.trials)  # given back, not crashed
    engine.dispose()
