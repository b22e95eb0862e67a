"""Screen itero method variants on the replay tables against the committed peers' runs, quickly.

    python benchmarks/replay/screen.py --seeds 10 \\
        --variant asha-norank '{"name": "tpe"}' '{"name": "asha", "min_steps": 1, "eta": 3, "rank_check": false}'

Each variant (a name, a sampler spec and a scheduler spec, as ``create_study`` takes them) runs on every table
with ``--workers`` simulated workers for ``--seeds`` seeds, and is printed as ``report.py`` prints itero's methods
(as ``itero-NAME``): per task the median simulated seconds to the 90th-percentile target, its ratio to the best
Optuna method and to the best of Syne Tune and DEHB (their committed runs in
``benchmarks/results/replay/runs.jsonl``, same workers), the median test regret, and the median of the ratios
over tasks (the target of issue 13). This is for
choosing among variants; the committed comparison is ``run.py`` + ``report.py`` with 50 seeds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.replay import simulate  # noqa: E402
from benchmarks.replay.report import load, ratios_markdown, seconds_ratios  # noqa: E402
from benchmarks.replay.run import OUT, TABLES, table_of  # noqa: E402
from benchmarks.replay.score import score  # noqa: E402


def _one(job: tuple[str, str, dict[str, Any], dict[str, Any], int, int, float]) -> tuple[str, str, dict[str, Any]]:
    name, task, sampler, scheduler, seed, workers, budget = job
    simulate.ITERO_METHODS[name] = (sampler, scheduler)
    table = table_of(task)
    trace = simulate.run_itero(table, name, seed=seed, n_workers=workers, budget=budget)
    return name, task, score(trace, table, budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", nargs=3, action="append", metavar=("NAME", "SAMPLER", "SCHEDULER"), default=[])
    parser.add_argument("--tasks", nargs="+", default=sorted(p.name.split(".")[0] for p in TABLES.glob("*.jsonl.gz")))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget", type=float, default=100.0)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    variants = [(n, json.loads(s), json.loads(c)) for n, s, c in args.variant]
    jobs = [
        (name, task, sampler, scheduler, seed, args.workers, args.budget)
        for name, sampler, scheduler in variants
        for task in args.tasks
        for seed in range(args.seeds)
    ]
    with multiprocessing.Pool(args.jobs) as pool:
        results = pool.map(_one, jobs, chunksize=1)
    committed = [r for r in load(OUT) if not r["method"].startswith("itero-")]  # the peers' runs
    mine = [{"task": task, "method": f"itero-{name}", "workers": args.workers, **s} for name, task, s in results]
    print("\n".join(ratios_markdown(seconds_ratios(committed + mine, args.workers))))


if __name__ == "__main__":
    main()
