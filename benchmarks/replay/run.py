"""Run itero and the peers on the recorded tables, on simulated time, and collect what each run achieved.

    python benchmarks/replay/run.py                                    # every table and method, 50 seeds, 4 workers
    python benchmarks/replay/run.py --tasks friedman-mlp --methods itero-asha optuna-tpe-sh --seeds 5
    python benchmarks/replay/run.py --workers 1 --seeds 10             # the 1- and 16-worker runs
    python benchmarks/replay/report.py                                 # tables, verdicts and figures

Each run stops after the compute of ``--budget`` full trainings (steps of ``max_steps``). One JSON line per
(task, method, workers, seed) goes to ``benchmarks/results/replay/runs.jsonl`` (with the task, seed, method and
the run's summary from ``score.py``); runs already there are skipped, so the command resumes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.replay.external import EXTERNAL_METHODS, environment_problem, run_external  # noqa: E402
from benchmarks.replay.peers import PEER_METHODS, run_peer  # noqa: E402
from benchmarks.replay.score import score  # noqa: E402
from benchmarks.replay.simulate import ITERO_METHODS, run_itero  # noqa: E402
from itero.tasks._tables import Table, load_table  # noqa: E402

TABLES = Path(__file__).resolve().parent / "tables"
OUT = ROOT / "benchmarks" / "results" / "replay" / "runs.jsonl"
METHODS = [*ITERO_METHODS, *PEER_METHODS, *EXTERNAL_METHODS]
_tables: dict[str, Table] = {}


def table_of(task: str) -> Table:
    if task not in _tables:
        _tables[task] = load_table(TABLES / f"{task}.jsonl.gz")
    return _tables[task]


# Methods that handle one objective only: Optuna prunes single-objective studies only, itero's median rule and
# the one-epoch baseline rank by one value.
SINGLE_OBJECTIVE = {"itero-median", "optuna-tpe-sh", "optuna-tpe-hb", "i-epoch", *EXTERNAL_METHODS}


# Syne Tune's Gaussian-process methods refit their GP's hyperparameters at every tenth suggestion instead of every
# one: with Syne Tune's defaults one run (100 full trainings of steps, thousands of reports) takes tens of minutes of
# CPU; with this about ten (Hyper-Tune on friedman-mlp, 4 workers: 568 s). Their decisions between refits still use
# every observation.
SEARCH_OPTIONS: dict[str, dict[str, Any]] = {
    m: {"opt_skip_period": 10} for m in ("syne-mobster", "syne-hypertune", "syne-dyhpo")
}


def applies(method: str, task: str) -> bool:
    """Whether ``method`` can run on ``task``'s table (several objectives rule some out)."""
    return not (method in SINGLE_OBJECTIVE and len(table_of(task).objectives) > 1)


def run_one(task: str, method: str, seed: int, workers: int, budget: float) -> dict[str, Any]:
    """One replayed run and its summary."""
    table = table_of(task)
    t0 = _cpu()
    if method in ITERO_METHODS:
        trace = run_itero(table, method, seed=seed, n_workers=workers, budget=budget)
    elif method in EXTERNAL_METHODS:  # Syne Tune and DEHB: a subprocess in their own environment (external.py)
        options = SEARCH_OPTIONS.get(method)
        trace = run_external(table, method, seed=seed, n_workers=workers, budget=budget, search_options=options)
    else:
        trace = run_peer(table, method, seed=seed, n_workers=workers, budget=budget)
    summary = score(trace, table, budget)
    return {
        "task": task,
        "method": method,
        "seed": seed,
        "workers": workers,
        "budget": budget,
        "cpu_seconds": round(_cpu() - t0, 3),
        **summary,
    }


def _cpu() -> float:
    """CPU seconds of this process and of the subprocesses it waited for (the external peers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _job(args: tuple[str, str, int, int, float]) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return run_one(*args)


def _done(path: Path) -> set[tuple[str, str, int, int, float]]:
    if not path.exists():
        return set()
    out = set()
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut when the run was killed
        out.add((r["task"], r["method"], r["seed"], r["workers"], r["budget"]))
    return out


def jobs(tasks: list[str], methods: list[str], seeds: int, workers: int, budget: float) -> Iterator[tuple]:
    for task in tasks:
        for method in methods:
            for seed in range(seeds):
                yield (task, method, seed, workers, budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=None, help="default: every table in benchmarks/replay/tables")
    parser.add_argument("--methods", nargs="+", default=None, choices=METHODS, help="default: all")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget", type=float, default=100.0, help="full trainings of compute (default 100)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=OUT)
    a = parser.parse_args()
    tasks = a.tasks or sorted(p.name.removesuffix(".jsonl.gz") for p in TABLES.glob("*.jsonl.gz"))
    if not tasks:
        parser.error(f"no tables in {TABLES}: record them first (benchmarks/replay/record.py)")
    # --- Syne Tune and DEHB (external.py): only with their environment, only on single-objective tables ---
    methods = a.methods or METHODS
    if any(m in EXTERNAL_METHODS for m in methods):
        problem = environment_problem()
        if problem and a.methods:
            parser.error(problem)
        if problem:
            print(f"skipping {', '.join(EXTERNAL_METHODS)}: {problem}", file=sys.stderr)
            methods = [m for m in methods if m not in EXTERNAL_METHODS]
    # --- end of Syne Tune and DEHB ---
    skipped = sorted({f"{m} on {t}" for t in tasks for m in methods if not applies(m, t)})
    if skipped:
        print(f"single-objective methods not run on multi-objective tables: {', '.join(skipped)}", file=sys.stderr)
    done = _done(a.out)
    todo = [j for j in jobs(tasks, methods, a.seeds, a.workers, a.budget) if j not in done and applies(j[1], j[0])]
    print(f"{len(todo)} runs to do ({len(done)} already in {a.out})", file=sys.stderr)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with a.out.open("a") as fh, multiprocessing.get_context("fork").Pool(a.jobs) as pool:
        for i, result in enumerate(pool.imap_unordered(_job, todo), start=1):
            fh.write(json.dumps(result) + "\n")
            fh.flush()
            if i % 20 == 0 or i == len(todo):
                print(f"  {i}/{len(todo)} runs, {time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
