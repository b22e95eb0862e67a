"""Screen itero method variants on the replay tables against the committed peers' runs, quickly.

    python benchmarks/replay/screen.py --seeds 10 \\
        --variant asha-norank '{"name": "tpe"}' '{"name": "asha", "min_steps": 1, "eta": 3, "rank_check": false}'

Each variant (a name, a sampler spec and a scheduler spec, as ``create_study`` takes them) runs on every table
with ``--workers`` simulated workers for ``--seeds`` seeds. Printed per task: the median simulated seconds to the
90th-percentile target and its ratio to the best Optuna method's median (best of TPE + successive halving and
TPE + Hyperband, from ``benchmarks/results/replay/runs.jsonl``, same workers) and to the best of Syne Tune and
DEHB; the median test regret; then the median of the ratios over tasks (the target of issue 13). This is for
choosing among variants; the committed comparison is ``run.py`` + ``report.py`` with 50 seeds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.replay import simulate  # noqa: E402
from benchmarks.replay.report import OPTUNA, OTHERS  # noqa: E402
from benchmarks.replay.run import OUT, TABLES, applies, table_of  # noqa: E402
from benchmarks.replay.score import score  # noqa: E402


def peer_medians(path: Path, workers: int, target: str = "p90") -> dict[tuple[str, str], float]:
    """Median seconds to ``target`` per (task, method) in the committed runs."""
    runs: dict[tuple[str, str], list[float]] = defaultdict(list)
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if r["workers"] == workers:
            runs[(r["task"], r["method"])].append(r["to_target"][target]["seconds"])
    return {k: statistics.median(v) for k, v in runs.items()}


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
    peers = peer_medians(OUT, args.workers)
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for name, task, s in results:
        by[(name, task)].append(s)
    for name, _, _ in variants:
        ratios_o, ratios_s = [], []
        print(f"\n{name}")
        for task in args.tasks:
            rs = by[(name, task)]
            med = statistics.median(r["to_target"]["p90"]["seconds"] for r in rs)
            regret = statistics.median(r["test_regret"] for r in rs)
            opt = min((peers[(task, m)] for m in OPTUNA if (task, m) in peers), default=None)
            oth = min((peers[(task, m)] for m in OTHERS if (task, m) in peers), default=None)
            ro = med / opt if opt else float("nan")
            rs_ = med / oth if oth else float("nan")
            if opt and applies("optuna-tpe-sh", task):
                ratios_o.append(ro)
            if oth:
                ratios_s.append(rs_)
            reached = sum(r["reached"]["p90"] for r in rs)
            print(f"  {task:15s} p90 s {med:8.2f} ({reached}/{len(rs)})  /optuna {ro:5.2f}  /syne+dehb {rs_:5.2f}"
                  f"  test regret {regret:.4g}")  # fmt: skip
        if ratios_o:
            print(f"  median ratio over tasks: /optuna {statistics.median(ratios_o):.2f}"
                  f"  /syne+dehb {statistics.median(ratios_s):.2f}  worst /optuna {max(ratios_o):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
