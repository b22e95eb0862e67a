"""Warm start on the replay yardstick: a new study on one of the two tables that share the MLP space
(friedman-mlp, digits-aug-mlp), started from an earlier study, against the same method started cold.

    python benchmarks/replay/transfer.py --seeds 20 --jobs 2

Each earlier study is 50 of the table's 400 configurations drawn at random (per seed), trained to the end (its
compute is not counted); sources by case:

- ``none``: no warm start (itero's auto scheduler with TPE, 4 simulated workers);
- ``other-task``: the other table (its first objective: val_rmse for friedman-mlp, val_acc for digits-aug-mlp);
- ``same-task``: the same table, its second training seed (friedman-mlp only: digits-aug-mlp has one seed);
- ``misleading``: the same-task source with its values reversed (its best configurations are the worst).

Per case: the median simulated seconds to the table's 90th-percentile target (a seed that never reaches it
counts twice the budget) with its 95% bootstrap interval, its ratio to ``none``, and the median test regret.
Results: ``benchmarks/results/replay/transfer.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.replay import simulate  # noqa: E402
from benchmarks.replay.report import _fmt, median_ci, ratio_verdict  # noqa: E402
from benchmarks.replay.run import table_of  # noqa: E402
from benchmarks.replay.score import score  # noqa: E402
from itero.tasks._tables import Table  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "replay" / "transfer"
OTHER = {"friedman-mlp": "digits-aug-mlp", "digits-aug-mlp": "friedman-mlp"}
CASES = ("none", "other-task", "same-task", "misleading")
N_SOURCE = 50
METHOD = "itero-auto"


def source_rows(table: Table, seed: int, *, reverse: bool = False) -> list[tuple[dict[str, Any], float]]:
    """``N_SOURCE`` configurations drawn for ``seed``, each with its final first-objective value (the table's
    last training seed), negated when ``reverse``; diverged runs left out."""
    metric = next(iter(table.objectives))
    rng = np.random.default_rng(10_000 + seed)
    rows = []
    for i in rng.choice(len(table.params), N_SOURCE, replace=False):
        v = float(table.curves[metric][i, -1, -1])
        if np.isfinite(v):
            rows.append((dict(table.params[i]), -v if reverse else v))
    return rows


def sources(task: str, case: str, seed: int) -> dict[str, tuple[dict[str, str], list[tuple[dict[str, Any], float]]]]:
    if case == "none":
        return {}
    src = table_of(OTHER[task] if case == "other-task" else task)
    metric, direction = next(iter(src.objectives.items()))
    return {f"earlier-{case}": ({metric: direction}, source_rows(src, seed, reverse=case == "misleading"))}


def _one(job: tuple[str, str, int, int, float]) -> dict[str, Any]:
    task, case, seed, workers, budget = job
    table = table_of(task)
    trace = simulate.run_itero(
        table, METHOD, seed=seed, n_workers=workers, budget=budget, sources=sources(task, case, seed)
    )
    return {"task": task, "case": case, "seed": seed, **score(trace, table, budget)}


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for task in sorted({r["task"] for r in runs}):
        mine = {c: [r for r in runs if r["task"] == task and r["case"] == c] for c in CASES}
        base = [r["to_target"]["p90"]["seconds"] for r in mine["none"]]
        out[task] = {}
        for case, rs in mine.items():
            if not rs:
                continue
            secs = [r["to_target"]["p90"]["seconds"] for r in rs]
            out[task][case] = {
                "seeds": len(rs),
                "reached": sum(r["reached"]["p90"] for r in rs),
                "seconds": median_ci(secs),
                "vs_none": ratio_verdict(secs, base) if base else None,
                "test_regret": median_ci([r["test_regret"] for r in rs]),
            }
    return out


def markdown(summary: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Warm start on the replay tables that share a space",
        "",
        f"Command: `{meta['command']}` — {meta['date']}, {meta['machine']}. itero's auto scheduler with TPE, "
        f"{meta['workers']} simulated workers, compute of {meta['budget']:g} full trainings per run; each earlier "
        f"study is {N_SOURCE} random configurations trained to the end. Medians over seeds with 95% bootstrap "
        "intervals; 'seconds' = simulated training seconds until the returned configuration reaches the table's "
        "90th percentile (twice the budget when never).",
        "",
    ]
    for task, cases in summary.items():
        lines += [f"**{task}**", "", "| source | seeds | reached | seconds | / none | test regret |"]
        lines += ["| --- | ---: | ---: | ---: | ---: | ---: |"]
        for case, s in cases.items():
            ratio = (
                "—" if case == "none" or s["vs_none"] is None else "{:.2f} [{:.2f}, {:.2f}] {}".format(*s["vs_none"])
            )
            lines.append(
                f"| {case} | {s['seeds']} | {s['reached']}/{s['seeds']} | {_fmt(s['seconds'])} | {ratio} | "
                f"{_fmt(s['test_regret'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=sorted(OTHER))
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget", type=float, default=100.0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    jobs = [
        (task, case, seed, args.workers, args.budget)
        for task in args.tasks
        for case in args.cases
        if not (case == "same-task" and len(table_of(task).seeds) < 2)
        for seed in range(args.seeds)
    ]
    with multiprocessing.Pool(args.jobs) as pool:
        runs = pool.map(_one, jobs, chunksize=1)
    summary = summarise(runs)
    meta = {
        "command": "python benchmarks/replay/transfer.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores",
        "workers": args.workers,
        "budget": args.budget,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=1))
    args.out.with_suffix(".md").write_text(markdown(summary, meta))
    print(markdown(summary, meta))


if __name__ == "__main__":
    main()
