"""Fault campaign: kill -9 of random worker processes at random moments while a study runs, on SQLite and PostgreSQL.

    PYTHONPATH=. python benchmarks/faults.py --kills 100 --backends sqlite postgresql

Each trial trains 10 steps with a checkpoint at every step and writes a ledger outside itero (one line per step it
finished, after the step's report and checkpoint). Counted afterwards:
- trials lost: trial numbers missing, or trials left RUNNING or WAITING;
- steps run twice beyond the last checkpoint: a (trial, step) the ledger holds twice — a resumed trial must start
  after its last checkpoint, so a finished step never runs again;
- trials FAILED by the "three kills" rule (a trial that killed its worker three times), which is by design.
Results: ``benchmarks/results/faults.{json,md}``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

import itero
from itero.store import Store
from itero.store._schema import trials, workers

RESULTS = Path(__file__).with_name("results")
STEPS = 10
LEDGER = os.environ.get("ITERO_FAULTS_LEDGER", "")

# The killer thread queries the store while the parent forks replacement workers: a fork in the middle of a
# query would copy the database driver's locks held. Forks wait for the query.
_QUERYING = threading.Lock()
os.register_at_fork(before=_QUERYING.acquire, after_in_parent=_QUERYING.release, after_in_child=_QUERYING.release)


def ledgered(trial: itero.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    state = trial.restore() or {"done": 0}
    done = state["done"]
    for step in trial.steps(max_steps=STEPS):
        time.sleep(0.03)
        done += 1
        trial.report(step, {"loss": x + 1.0 / step}, state={"done": done})
        fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{trial.number} {step}\n".encode())
        finally:
            os.close(fd)
    return x


def _killer(url: str, study_id: int, kills: int, stop: threading.Event, seed: int) -> list[tuple[float, int]]:
    """Kill (SIGKILL) the process of a random RUNNING trial every 0.1-0.5 s until ``kills`` or ``stop``."""
    rng = random.Random(seed)
    watcher = Store(url)
    done: list[tuple[float, int]] = []

    def run() -> None:
        while len(done) < kills and not stop.is_set():
            time.sleep(rng.uniform(0.1, 0.5))
            with _QUERYING, watcher.engine.connect() as conn:
                pids = list(
                    conn.execute(
                        select(workers.c.pid)
                        .join(trials, trials.c.worker_id == workers.c.id)
                        .where(trials.c.study_id == study_id, trials.c.state == "RUNNING")
                    ).scalars()
                )
            if not pids:
                continue
            pid = rng.choice(pids)
            try:
                os.kill(pid, signal.SIGKILL)
                done.append((time.time(), pid))
            except ProcessLookupError:
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    _THREADS.append((thread, watcher))
    return done


_THREADS: list[tuple[threading.Thread, Store]] = []


def campaign(url: str, kills: int, n_trials: int, n_jobs: int, seed: int) -> dict[str, Any]:
    global LEDGER
    ledger = Path(tempfile.mkdtemp(prefix="itero-ledger-")) / "ledger.txt"
    os.environ["ITERO_FAULTS_LEDGER"] = LEDGER = str(ledger)
    name = f"faults-{seed}-{int(time.time())}"
    study = itero.create_study(
        name,
        storage=url,
        objectives={"loss": "minimize"},
        sampler={"name": "random", "seed": seed},
        scheduler={"name": "fifo", "checkpoint_every": 1},
    )
    stop = threading.Event()
    killed = _killer(url, study.id, kills, stop, seed)
    t0 = time.time()
    study.optimize(ledgered, n_trials=n_trials, n_jobs=n_jobs, show_progress=False)
    seconds = time.time() - t0
    stop.set()
    for thread, watcher in _THREADS:
        thread.join()
        watcher.dispose()
    _THREADS.clear()
    done = study.trials
    states = collections.Counter(t.state.value for t in done)
    numbers = sorted(t.number for t in done)
    lines = collections.Counter(tuple(map(int, line.split())) for line in ledger.read_text().splitlines())
    twice = sorted(k for k, n in lines.items() if n > 1)
    complete = [t for t in done if t.state == itero.TrialState.COMPLETE]
    gaps = sum(1 for t in complete for s in range(1, STEPS + 1) if (t.number, s) not in lines)
    crashed_runs = sum(1 for r in study.runs() if r.outcome == "CRASHED")
    return {
        "storage": url.split(":", 1)[0],
        "seed": seed,
        "n_trials": n_trials,
        "n_jobs": n_jobs,
        "kills": len(killed),
        "seconds": round(seconds, 1),
        "trials": len(done),
        "states": dict(states),
        "lost": (n_trials - len(done)) + states.get("RUNNING", 0) + states.get("WAITING", 0),
        "numbers_contiguous": numbers == list(range(len(done))),
        "steps_run_twice": len(twice),
        "twice_examples": twice[:5],
        "ledger_gaps": gaps,
        "crashed_runs": crashed_runs,
        "failed_by_kills": sum(1 for t in done if t.state == itero.TrialState.FAILED),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--n-jobs", type=int, default=4)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "faults")
    args = parser.parse_args()
    rows = []
    for backend in args.backends:
        url = f"sqlite:///{tempfile.mkdtemp()}/faults.db" if backend == "sqlite" else args.postgres
        row = campaign(url, args.kills, args.trials, args.n_jobs, args.seed)
        print(json.dumps(row))
        rows.append(row)
    command = "PYTHONPATH=. python benchmarks/faults.py " + " ".join(
        [f"--kills {args.kills}", f"--trials {args.trials}", f"--n-jobs {args.n_jobs}", "--backends", *args.backends]
    )
    meta = {
        "command": command,
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n")
    md = [
        "# Fault campaign: kill -9 of random workers while a study runs",
        "",
        f"Command: `{command}` — {meta['cores']} cores, Python {meta['python']}, {meta['date']}.",
        "",
        f"{args.n_jobs} worker processes, {args.trials} trials of {STEPS} steps with a checkpoint at every step; a "
        "thread kills (SIGKILL) the process of a random RUNNING trial every 0.1–0.5 s. The objective writes a ledger "
        "line per finished step outside itero.",
        "",
        "| storage | kills | trials | lost | numbers contiguous | steps run twice | crashed runs | FAILED (3 kills) | seconds |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        md.append(
            f"| {r['storage']} | {r['kills']} | {r['trials']} | {r['lost']} | {r['numbers_contiguous']} | "
            f"{r['steps_run_twice']} | {r['crashed_runs']} | {r['failed_by_kills']} | {r['seconds']} |"
        )
    md += [
        "",
        "`lost`: trials missing or left RUNNING/WAITING. `steps run twice`: (trial, step) pairs the ledger holds twice "
        "(a resume that started before the last checkpoint). `FAILED (3 kills)`: trials that killed their worker "
        "three times, failed by design.",
    ]
    args.out.with_suffix(".md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
