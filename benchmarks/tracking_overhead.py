"""What tracking costs: the same studies with tracking on and off, interleaved in one run.

Tracking = the worker's environment record (packages, git, CPU), the energy meter read at every write, CO2, and
the dataset version of the built-in task (hashed once per process). Each study runs in a fresh process, so the
first environment capture and data hash are paid inside the timing, as a user would pay them.

- ``digits``: the demo study (examples/digits.yaml): digits-mlp, TPE, 30 trials of 20 epochs, 2 worker processes —
  the issue's target: tracking adds less than 2% of wall time;
- ``digits-asha``: the same task under ASHA (max 20 epochs, eta 3), 30 trials, one worker (pauses and resumes);
- ``trivial``: a 3-parameter objective that does no work, 500 trials — the worst case, where the framework's own
  cost is all there is; reported per trial.

Pairs (on, off) run in alternating order (on first for even seeds, off first for odd ones) and the overhead is the
median over seeds of the per-seed ratio, which cancels slow drifts of a shared machine.

    python benchmarks/tracking_overhead.py                 # writes results/tracking-overhead.{json,md}
    python benchmarks/tracking_overhead.py --seeds 3 --cases digits
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
CASES: dict[str, dict[str, Any]] = {
    "digits": {"trials": 30, "scheduler": "fifo", "n_jobs": 2},  # examples/digits.yaml (`make demo`)
    "digits-asha": {"trials": 30, "scheduler": {"name": "asha", "max_steps": 20, "eta": 3}, "n_jobs": 1},
    "trivial": {"trials": 500},
}


def one(case: str, tracking: bool, seed: int, storage: str) -> dict[str, Any]:
    """Run one study in this process and return its wall time and totals."""
    import itero

    t0 = time.perf_counter()
    spec = CASES[case]
    if case.startswith("digits"):
        from itero.tasks import load_objective

        objective = load_objective("digits-mlp")
        study = itero.create_study(
            f"{case}-{tracking}-{seed}",
            storage=storage,
            objectives={"val_acc": "maximize"},
            sampler={"name": "tpe", "seed": seed},
            scheduler=spec["scheduler"],
            tracking=tracking,
        )
        study.optimize(objective, n_trials=spec["trials"], n_jobs=spec["n_jobs"], show_progress=False)
    else:

        def objective(trial: itero.Trial) -> float:
            x = trial.suggest_float("x", 1e-3, 10.0, log=True)
            y = trial.suggest_int("y", 0, 10)
            z = trial.suggest_categorical("z", ["a", "b", "c"])
            return (x - 1) ** 2 + y + (z == "b")

        study = itero.create_study(
            f"{case}-{tracking}-{seed}",
            storage=storage,
            objectives={"value": "minimize"},
            sampler={"name": "tpe", "seed": seed},
            tracking=tracking,
        )
        study.optimize(objective, n_trials=CASES[case]["trials"], show_progress=False)
    wall = time.perf_counter() - t0
    totals = study.totals()
    return {
        "wall_s": wall,
        "trials": totals.trials,
        "steps": totals.steps,
        "cpu_s": totals.cpu_seconds,
        "energy_j": totals.energy_j,
        "environments": len(study.environments()),
        "datasets": len(study.data_versions()),
    }


def fixed_costs() -> dict[str, float]:
    """Tracking's one-off costs in a fresh process: environment capture, energy meter set-up, the digits data
    hash; and the cost of one energy sample (taken at every write of a trial)."""
    import timeit

    from itero.tracking import EnergyMeter, _environment, version_of

    t0 = time.perf_counter()
    meter = EnergyMeter.detect()
    t1 = time.perf_counter()
    _environment.capture()
    t2 = time.perf_counter()
    from itero.tasks._digits import digits_data

    x_train, y_train, x_val, y_val, x_test, y_test = digits_data()
    t3 = time.perf_counter()
    version_of("digits", {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)})
    t4 = time.perf_counter()
    sample_us = timeit.timeit(meter.sample, number=10_000) / 10_000 * 1e6
    return {
        "meter_setup_ms": (t1 - t0) * 1e3,
        "environment_capture_ms": (t2 - t1) * 1e3,
        "digits_hash_ms": (t4 - t3) * 1e3,
        "energy_sample_us": sample_us,
    }


def spawn(case: str, tracking: bool, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, __file__, "--one", case, str(int(tracking)), str(seed), f"sqlite:///{tmp}/b.db"],
            capture_output=True,
            text=True,
            check=True,
            env={"ITERO_ARTIFACTS": f"{tmp}/artifacts", "PATH": "/usr/bin:/bin", "ITERO_CACHE_DIR": f"{tmp}/cache"},
        )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--one", nargs=4, metavar=("CASE", "TRACKING", "SEED", "STORAGE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        case, tracking, seed, storage = args.one
        print(json.dumps(fixed_costs() if case == "fixed" else one(case, tracking == "1", int(seed), storage)))
        return
    fixed = spawn("fixed", True, 0)
    print(f"fixed costs: {fixed}", flush=True)
    runs: list[dict[str, Any]] = []
    for case in args.cases:
        for seed in range(args.seeds):
            order = (True, False) if seed % 2 == 0 else (False, True)
            for tracking in order:
                r = spawn(case, tracking, seed)
                runs.append({"case": case, "seed": seed, "tracking": tracking, **r})
                print(f"{case} seed {seed} tracking={tracking}: {r['wall_s']:.2f} s", flush=True)
    summary = summarise(runs, args.cases)
    summary["fixed"] = fixed
    meta = {
        "command": "python benchmarks/tracking_overhead.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "seeds": args.seeds,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tracking-overhead.json").write_text(
        json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=1)
    )
    (RESULTS / "tracking-overhead.md").write_text(render(meta, summary))
    print(render(meta, summary))


def summarise(runs: list[dict[str, Any]], cases: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for case in cases:
        mine = [r for r in runs if r["case"] == case]
        seeds = sorted({r["seed"] for r in mine})
        on = {r["seed"]: r for r in mine if r["tracking"]}
        off = {r["seed"]: r for r in mine if not r["tracking"]}
        ratios = [on[s]["wall_s"] / off[s]["wall_s"] - 1 for s in seeds]
        n = CASES[case]["trials"]
        out[case] = {
            "trials": n,
            "wall_on_s": statistics.median(on[s]["wall_s"] for s in seeds),
            "wall_off_s": statistics.median(off[s]["wall_s"] for s in seeds),
            "per_trial_on_ms": statistics.median(on[s]["wall_s"] / n * 1e3 for s in seeds),
            "per_trial_off_ms": statistics.median(off[s]["wall_s"] / n * 1e3 for s in seeds),
            "overhead_pct": 100 * statistics.median(ratios),
            "overhead_pct_per_seed": [round(100 * r, 2) for r in ratios],
            "same_steps": all(on[s]["steps"] == off[s]["steps"] for s in seeds),
            "energy_kwh_on": statistics.median(on[s]["energy_j"] / 3.6e6 for s in seeds),
        }
    return out


def render(meta: dict[str, Any], summary: dict[str, Any]) -> str:
    lines = [
        "# Tracking overhead",
        "",
        f"`{meta['command']}` — {meta['date']}, {meta['machine']}, {meta['seeds']} seeds, medians; each study in a "
        "fresh process, tracking on and off interleaved.",
        "",
        "| case | trials | wall on (s) | wall off (s) | ms/trial on | ms/trial off | overhead (median of per-seed) "
        "| per seed (%) | same steps |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case, s in summary.items():
        if case == "fixed":
            continue
        lines.append(
            f"| {case} | {s['trials']} | {s['wall_on_s']:.2f} | {s['wall_off_s']:.2f} | {s['per_trial_on_ms']:.2f} "
            f"| {s['per_trial_off_ms']:.2f} | {s['overhead_pct']:+.2f}% | {s['overhead_pct_per_seed']} "
            f"| {s['same_steps']} |"
        )
    f = summary["fixed"]
    lines += [
        "",
        "Fixed costs of tracking, measured in a fresh process: energy meter set-up "
        f"{f['meter_setup_ms']:.1f} ms, environment capture {f['environment_capture_ms']:.1f} ms (once per worker "
        f"process), digits data hash {f['digits_hash_ms']:.1f} ms (once per process), one energy sample "
        f"{f['energy_sample_us']:.2f} µs (at each write of a trial, at most about once a second).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
