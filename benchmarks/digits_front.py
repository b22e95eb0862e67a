"""The accuracy-against-FLOPs front of the digits MLP, found by NSGA-II and by multi-objective ASHA (issue 6).

Objectives: ``val_acc`` (maximise) and ``flops`` (minimise; forward FLOPs of one example, reported by the
built-in task). Each method gets the same budget of training epochs; the front is the non-dominated set of
COMPLETE trials. Hypervolume in (1 − val_acc, flops / max flops of the space) with reference point (1, 1).
Methods: itero NSGA-II (full fidelity, 20 epochs per trial), itero TPE + ASHA (multi-objective: rungs ranked by
non-dominated sorting and crowding distance), itero TPE (full fidelity), Optuna NSGA-II (full fidelity), random.

    python benchmarks/digits_front.py --seeds 3 --budget 1200
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).with_name("results")
EPOCHS = 20
MAX_FLOPS = 2 * (64 * 512 + 3 * 512 * 512 + 512 * 10)  # width 512, depth 4: the largest model of the space

ITERO = {
    "itero-nsga2": ({"name": "nsga2", "population_size": 16}, "fifo"),
    "itero-tpe-asha": ("tpe", {"name": "asha", "max_steps": EPOCHS, "eta": 3}),
    "itero-tpe": ("tpe", "fifo"),
    "itero-random": ("random", "fifo"),
}


def front_of(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-dominated (val_acc high, flops low) points, sorted by flops."""
    out = []
    for acc, fl in sorted(points, key=lambda p: (p[1], -p[0])):
        if not out or acc > out[-1][0]:
            out.append((acc, fl))
    return out


def hv(front: list[tuple[float, float]]) -> float:
    from itero._hypervolume import hypervolume

    pts = np.array([[1 - a, f / MAX_FLOPS] for a, f in front])
    return float(hypervolume(pts, np.array([1.0, 1.0])))


def run_itero(method: str, seed: int, budget: int) -> list[tuple[float, float]]:
    import itero
    from itero.tasks import load_objective

    sampler, scheduler = ITERO[method]
    sampler = {**sampler, "seed": seed} if isinstance(sampler, dict) else {"name": sampler, "seed": seed}
    if scheduler == "fifo":
        scheduler = {"name": "fifo", "max_steps": EPOCHS}
    study = itero.create_study(
        f"front-{method}-{seed}",
        storage="sqlite://",
        objectives={"val_acc": "maximize", "flops": "minimize"},
        sampler=sampler,
        scheduler=scheduler,
        tracking=False,
    )
    study.optimize(load_objective("digits-mlp"), max_steps_total=budget, show_progress=False)
    return [(t.metrics["val_acc"], t.metrics["flops"]) for t in study.history.completed()]


def run_optuna_nsga2(seed: int, budget: int) -> list[tuple[float, float]]:
    import optuna

    from itero.tasks._digits import digits_data
    from itero.tasks._mlp import MLPRun, suggest_mlp

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.NSGAIISampler(seed=seed, population_size=16)
    )
    points: list[tuple[float, float]] = []

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        run = MLPRun(suggest_mlp(trial), trial.number, digits_data(), "classification")
        for epoch in range(1, EPOCHS + 1):
            run.train_epoch(epoch)
        acc, fl = run.evaluate()["val_acc"], run.costs()["flops"]
        points.append((acc, fl))
        return acc, fl

    study.optimize(objective, n_trials=budget // EPOCHS)
    return points


def main() -> None:
    from itero.samplers import SAMPLERS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=1200, help="training epochs per search")
    args = parser.parse_args()

    def sampler_name(spec: Any) -> str:
        return str(spec["name"] if isinstance(spec, dict) else spec)

    methods = [m for m, (sampler, _) in ITERO.items() if sampler_name(sampler) in SAMPLERS]
    methods.append("optuna-nsga2")
    runs = []
    t0 = time.time()
    for method in methods:
        for seed in range(args.seeds):
            s = time.time()
            points = (
                run_optuna_nsga2(seed, args.budget)
                if method == "optuna-nsga2"
                else run_itero(method, seed, args.budget)
            )
            front = front_of(points)
            row = {"method": method, "seed": seed, "trials": len(points), "front": front, "hypervolume": hv(front),
                   "seconds": time.time() - s}  # fmt: skip
            runs.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "front"}), flush=True)
    meta = {
        "command": "python benchmarks/digits_front.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "minutes": (time.time() - t0) / 60,
        "budget_epochs": args.budget,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "digits-front.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    (RESULTS / "digits-front.md").write_text(render(meta, runs))
    print(render(meta, runs))


def render(meta: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    lines = [
        "# Accuracy against FLOPs on digits: the fronts found",
        "",
        f"`{meta['command']}` — {meta['date']}, {meta['machine']}, {meta['budget_epochs']} training epochs per "
        f"search, {meta['minutes']:.0f} min. Hypervolume in (1 − val_acc, flops / {MAX_FLOPS:,}) with reference "
        "(1, 1); higher is better. Medians over seeds.",
        "",
        "| method | seeds | completed trials | front size | hypervolume | seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for method in dict.fromkeys(r["method"] for r in runs):
        rows = [r for r in runs if r["method"] == method]
        med = statistics.median
        lines.append(
            f"| {method} | {len(rows)} | {med(r['trials'] for r in rows):.0f} | {med(len(r['front']) for r in rows):.0f} "
            f"| {med(r['hypervolume'] for r in rows):.4f} | {med(r['seconds'] for r in rows):.0f} |"
        )
    lines += ["", "Fronts of seed 0 (val_acc @ flops):", ""]
    for r in runs:
        if r["seed"] == 0:
            pts = ", ".join(f"{a:.3f} @ {f:,.0f}" for a, f in r["front"])
            lines.append(f"- {r['method']}: {pts}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
