"""Bookkeeping per trial on Ray: N trials of a fixed-length objective on a local Ray cluster of C CPUs, itero's peers
as Ray tasks (``executor="ray"``) against Ray Tune with ``reuse_actors=True``, same random search, one CPU per
trial, in one run.

    PYTHONPATH=. python benchmarks/ray_overhead.py --trials 300 --seconds 1.0 --cpus 2 --seeds 2

Overhead per trial = (wall seconds - trials x seconds / cpus) / trials: what each tool adds to the ideal schedule
(Ray's start-up included for both). Results: ``results/ray-overhead.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
SECONDS = float(os.environ.get("ITERO_BENCH_TRIAL_SECONDS", "1.0"))


def itero_objective(trial: Any) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    time.sleep(SECONDS)
    return x


def itero_on_ray(trials: int, cpus: int, seed: int) -> float:
    import ray

    import itero

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        from ray import cloudpickle

        cloudpickle.register_pickle_by_value(__import__(__name__))
        url = f"sqlite:///{tempfile.mkdtemp()}/ray.db"
        study = itero.create_study(
            "ray-overhead", storage=url, objectives={"value": "minimize"}, sampler={"name": "random", "seed": seed}
        )
        t0 = time.perf_counter()
        study.optimize(itero_objective, n_trials=trials, n_jobs=cpus, executor="ray", show_progress=False)
        wall = time.perf_counter() - t0
        assert len(study.trials) == trials
    finally:
        ray.shutdown()
    return wall


def ray_tune(trials: int, cpus: int, seed: int) -> float:
    import ray
    from ray import tune

    def trainable(config: dict[str, float]) -> None:
        time.sleep(SECONDS)
        tune.report({"value": config["x"]})

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as d:
            tuner = tune.Tuner(
                tune.with_resources(trainable, {"cpu": 1}),
                param_space={"x": tune.uniform(0.0, 1.0)},
                tune_config=tune.TuneConfig(
                    num_samples=trials,
                    reuse_actors=True,
                    metric="value",
                    mode="min",
                    search_alg=tune.search.BasicVariantGenerator(random_state=seed),
                ),
                run_config=tune.RunConfig(storage_path=d, verbose=0),
            )
            t0 = time.perf_counter()
            results = tuner.fit()
            wall = time.perf_counter() - t0
        assert len(results) == trials
    finally:
        ray.shutdown()
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "ray-overhead")
    args = parser.parse_args()
    global SECONDS
    SECONDS = args.seconds
    os.environ["ITERO_BENCH_TRIAL_SECONDS"] = str(args.seconds)  # Ray's workers read it when they import us
    ideal = args.trials * args.seconds / args.cpus
    rows = []
    for tool, run in (("itero-on-ray", itero_on_ray), ("ray-tune-reuse-actors", ray_tune)):
        walls = [run(args.trials, args.cpus, seed) for seed in range(args.seeds)]
        overheads = [(w - ideal) / args.trials * 1e3 for w in walls]
        row = {
            "tool": tool,
            "wall_s": round(statistics.median(walls), 1),
            "overhead_ms_per_trial": round(statistics.median(overheads), 1),
            "min": round(min(overheads), 1),
            "max": round(max(overheads), 1),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    import ray

    command = (
        f"PYTHONPATH=. python benchmarks/ray_overhead.py --trials {args.trials} --seconds {args.seconds} "
        f"--cpus {args.cpus} --seeds {args.seeds}"
    )
    meta = {
        "command": command,
        "ray": ray.__version__,
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "ideal_s": ideal,
    }
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    md = [
        "# Bookkeeping per trial on Ray: itero's peers as Ray tasks against Ray Tune (reuse_actors)",
        "",
        f"Command: `{command}` — Ray {meta['ray']}, Python {meta['python']}, {meta['cores']} cores, {meta['date']}.",
        "",
        f"{args.trials} trials of a {args.seconds:g} s objective (random search, 1 CPU each) on a local Ray cluster of "
        f"{args.cpus} CPUs: ideal {ideal:.0f} s. Overhead per trial = (wall - ideal) / trials, Ray start-up included; "
        "median over seeds [min, max].",
        "",
        "| tool | wall s | overhead ms/trial |",
        "| --- | ---: | ---: |",
    ]
    md += [f"| {r['tool']} | {r['wall_s']} | {r['overhead_ms_per_trial']} [{r['min']}, {r['max']}] |" for r in rows]
    args.out.with_suffix(".md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
