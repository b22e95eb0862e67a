"""How low can compute to the 90th percentile go? Two floors for issue 13's measure, beside the best Optuna method.

    python benchmarks/replay/floor.py --seeds 50 --jobs 2     # ~5 min; writes benchmarks/results/replay/floor.*

- **clairvoyant stopping, random sampling** (`oracle-random`): itero's random sampler on the real simulator
  (4 workers, same budget), where every trial whose recorded run will not end at the table's 90th percentile
  ends after its first step, and every other trial trains to the end. No stopping rule can do better with these
  proposals: it cannot know less than nothing before step 1, nor keep a trial that will reach the target for
  less. What is left above it is the cost of the sampler's proposals.
- **first trial right** (`4 x good run`): the compute while one run that reaches the target trains, with every
  worker busy: the number of workers times the median training seconds of the table's runs that end at the
  90th percentile. A method that proposes a good configuration first, never stops it and keeps the other
  workers busy spends about this much.

The ratios are to the best Optuna method's median in the committed runs (`runs.jsonl`, the measure of
`report.py`); below 0.5 on the median task is issue 13's target.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.replay import simulate  # noqa: E402
from benchmarks.replay.report import load, median_ci, seconds_ratios  # noqa: E402
from benchmarks.replay.run import OUT, TABLES, table_of  # noqa: E402
from benchmarks.replay.score import score, targets  # noqa: E402
from itero.tasks._tables import Table  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "replay"
METHOD = "itero-oracle-random"
simulate.ITERO_METHODS[METHOD] = ({"name": "random"}, {"name": "fifo"})


def reaching(table: Table) -> np.ndarray:
    """(configs, seeds) bool: the recorded runs whose final validation value reaches the 90th percentile."""
    name = next(iter(table.objectives))
    sign = 1.0 if table.objectives[name] == "minimize" else -1.0
    final = sign * table.curves[name][:, :, -1]
    return np.nan_to_num(final, nan=np.inf) <= targets(table)["p90"] + 1e-12


def _one(job: tuple[str, int, int, float]) -> dict[str, Any]:
    task, seed, workers, budget = job
    table = table_of(task)
    trace = simulate.run_itero(table, METHOD, seed=seed, n_workers=workers, budget=budget, oracle=reaching(table))
    return {"task": task, "method": METHOD, "seed": seed, "workers": workers, **score(trace, table, budget)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget", type=float, default=100.0)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    tasks = sorted(p.name.removesuffix(".jsonl.gz") for p in TABLES.glob("*.jsonl.gz"))
    tasks = [t for t in tasks if len(table_of(t).objectives) == 1]
    jobs = [(t, s, args.workers, args.budget) for t in tasks for s in range(args.seeds)]
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        results = pool.map(_one, jobs, chunksize=1)
    peers = [r for r in load(OUT) if not r["method"].startswith("itero-")]
    by_task = seconds_ratios(peers + results, args.workers)[METHOD]["tasks"]  # the best Optuna method's median
    rows: dict[str, dict[str, Any]] = {}
    for task in tasks:
        best, optuna = by_task[task]["optuna"]
        table = table_of(task)
        good = np.nansum(table.step_seconds, axis=2)[reaching(table)]
        first = args.workers * float(np.median(good))
        oracle = median_ci([r["to_target"]["p90"]["seconds"] for r in results if r["task"] == task])
        rows[task] = {
            "best_optuna": [best, optuna],
            "oracle_random": oracle,
            "oracle_ratio": oracle[0] / optuna,
            "first_right": first,
            "first_right_ratio": first / optuna,
        }
    out = {
        "command": "python benchmarks/replay/floor.py " + " ".join(sys.argv[1:]),
        "seeds": args.seeds,
        "workers": args.workers,
        "budget": args.budget,
        "tasks": rows,
        "median_oracle_ratio": float(np.median([r["oracle_ratio"] for r in rows.values()])),
        "median_first_right_ratio": float(np.median([r["first_right_ratio"] for r in rows.values()])),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "floor.json").write_text(json.dumps(out, indent=1) + "\n")
    (RESULTS / "floor.md").write_text(markdown(out))
    print(markdown(out))


def markdown(out: dict[str, Any]) -> str:
    lines = [
        "# Floors of compute to the 90th percentile (replay tables)",
        "",
        f"Command: `{out['command']}` — {out['seeds']} seeds, {out['workers']} simulated workers, a budget of "
        f"{out['budget']:g} full trainings. Simulated training seconds until the returned configuration reaches the "
        "table's 90th percentile (median [95% bootstrap interval]) and the ratio to the best Optuna method's median "
        "in the committed runs. `clairvoyant stopping` = random proposals, every trial that will not reach the "
        "target stopped after its first step; `first trial right` = workers x the median training seconds of the "
        "table's runs that reach the target (see `benchmarks/replay/floor.py`).",
        "",
        "| task | best Optuna | clairvoyant stopping | / Optuna | first trial right | / Optuna |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for task, r in out["tasks"].items():
        m, lo, hi = r["oracle_random"]
        lines.append(
            f"| {task} | {r['best_optuna'][1]:.2f} ({r['best_optuna'][0]}) | {m:.2f} [{lo:.2f}, {hi:.2f}] | "
            f"{r['oracle_ratio']:.2f} | {r['first_right']:.2f} | {r['first_right_ratio']:.2f} |"
        )
    lines.append(
        f"| median over tasks | | | {out['median_oracle_ratio']:.2f} | | {out['median_first_right_ratio']:.2f} |"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
