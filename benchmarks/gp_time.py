"""The GP sampler's own time per trial, itero against Optuna's GPSampler, on 2-D Branin and 6-D Hartmann.

itero: a real study with ``GP(seed)`` runs to ``max(sizes) + 16`` trials; every trial's sampler time
(``sample_joint`` plus each ``sample``) is recorded, and the figure at size N is the mean over the 32 trials
around N (completed counts N-16 .. N+15), so that the hyper-parameter refits, done every 16 trials from 256 on,
are amortised as they are in a study.

Optuna: the itero study's first N trials are copied into an Optuna study (``add_trials``, untimed), then
``GPSampler(seed)`` proposes one untimed (warm-up) and ``--optuna-trials`` more; the figure at N is the mean of its sampler time per trial
(``infer_relative_search_space`` + ``sample_relative`` + ``sample_independent``). Optuna refits its GP on every
trial, so a few trials are representative.

    python benchmarks/gp_time.py                         # writes benchmarks/results/gp-time.{json,md}
    python benchmarks/gp_time.py --sizes 100 300 --functions branin
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).with_name("results")

sys.path.insert(0, str(Path(__file__).parent))
from samplers import branin as _branin  # noqa: E402 - the functions of the regret benchmark
from samplers import hartmann6 as _hartmann6  # noqa: E402


def branin(p: dict[str, float]) -> float:
    return _branin(np.array([p["x0"], p["x1"]]))[0]


def hartmann6(p: dict[str, float]) -> float:
    return _hartmann6(np.array([p[f"x{i}"] for i in range(6)]))[0]


FUNCTIONS: dict[str, tuple[Callable[[dict[str, float]], float], list[tuple[float, float]]]] = {
    "branin": (branin, [(-5.0, 10.0), (0.0, 15.0)]),
    "hartmann6": (hartmann6, [(0.0, 1.0)] * 6),
}


def run_itero(fn: str, n_total: int, seed: int) -> tuple[list[float], list[dict[str, Any]]]:
    import itero
    from itero.samplers import GP

    f, box = FUNCTIONS[fn]
    sampler = GP(seed=seed)
    times: dict[int, float] = {}
    joint, single = sampler.sample_joint, sampler.sample

    def timed_joint(history: Any, trial: Any) -> Any:
        t0 = time.perf_counter()
        out = joint(history, trial)
        times[trial.number] = times.get(trial.number, 0.0) + time.perf_counter() - t0
        return out

    def timed_single(history: Any, trial: Any, name: str, dist: Any) -> Any:
        t0 = time.perf_counter()
        out = single(history, trial, name, dist)
        times[trial.number] = times.get(trial.number, 0.0) + time.perf_counter() - t0
        return out

    sampler.sample_joint = timed_joint  # type: ignore[method-assign]
    sampler.sample = timed_single  # type: ignore[method-assign]

    def objective(trial: itero.Trial) -> float:
        return f({f"x{i}": trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(box)})

    study = itero.create_study(f"gp-time-{fn}-{seed}", storage="sqlite://", sampler=sampler)
    study.optimize(objective, n_trials=n_total, show_progress=False)
    trials = sorted(study.trials, key=lambda t: t.number)
    per_trial = [times.get(t.number, 0.0) for t in trials]
    history = [{"params": dict(t.params), "value": next(iter(t.metrics.values()))} for t in trials]
    return per_trial, history


def run_optuna(fn: str, history: list[dict[str, Any]], size: int, n_timed: int, seed: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    f, box = FUNCTIONS[fn]
    dists = {f"x{i}": optuna.distributions.FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(box)}
    sampler = optuna.samplers.GPSampler(seed=seed)
    times: list[float] = []
    for meth in ("infer_relative_search_space", "sample_relative", "sample_independent"):
        orig = getattr(sampler, meth)

        def timed(*args: Any, _orig: Any = orig) -> Any:
            t0 = time.perf_counter()
            out = _orig(*args)
            times.append(time.perf_counter() - t0)
            return out

        setattr(sampler, meth, timed)
    study = optuna.create_study(sampler=sampler)
    study.add_trials(
        [optuna.trial.create_trial(params=h["params"], distributions=dists, value=h["value"]) for h in history[:size]]
    )
    per_trial: list[float] = []
    for _ in range(n_timed + 1):  # the first proposal warms up (imports, torch start-up) and is not counted
        times.clear()
        study.optimize(lambda t: f({k: t.suggest_float(k, d.low, d.high) for k, d in dists.items()}), n_trials=1)
        per_trial.append(sum(times))
    return per_trial[1:]


def _row(fn: str, tool: str, n: int, times: list[float], **extra: Any) -> dict[str, Any]:
    """One table row from the sampler times (seconds) of the trials timed around ``n``."""
    return {
        "function": fn,
        "tool": tool,
        "trials": n,
        "mean_ms": statistics.fmean(times) * 1e3,
        "median_ms": statistics.median(times) * 1e3,
        "max_ms": max(times) * 1e3,
        "timed": len(times),
        **extra,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 500])
    ap.add_argument("--functions", nargs="+", default=list(FUNCTIONS), choices=list(FUNCTIONS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--optuna-trials", type=int, default=5)
    ap.add_argument("--no-optuna", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "gp-time"))
    args = ap.parse_args(argv)
    import optuna

    import itero

    rows: list[dict[str, Any]] = []
    for fn in args.functions:
        t0 = time.perf_counter()
        per_trial, history = run_itero(fn, max(args.sizes) + 16, args.seed)
        print(f"itero {fn}: {len(per_trial)} trials in {time.perf_counter() - t0:.1f} s", flush=True)
        best = min(h["value"] for h in history)
        for n in args.sizes:
            rows.append(_row(fn, "itero GP", n, per_trial[n - 16 : n + 16], best_after_all=best))
            print(rows[-1], flush=True)
            if not args.no_optuna:
                rows.append(_row(fn, "Optuna GPSampler", n, run_optuna(fn, history, n, args.optuna_trials, args.seed)))
                print(rows[-1], flush=True)
    command = "python benchmarks/gp_time.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {
        "command": command.strip(),
        "date": date.today().isoformat(),
        "itero": getattr(itero, "__version__", "?"),
        "optuna": optuna.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# GP sampler time per trial (itero GP vs Optuna GPSampler)",
        "",
        f"Command: `{meta['command']}` — itero {meta['itero']}, Optuna {meta['optuna']}, Python {meta['python']}, "
        f"{meta['machine']}, {meta['cpus']} cores, {meta['date']}. Seed {args.seed}.",
        "",
        "Sampler time only (the objective and storage are not counted). itero: mean over the 32 trials of a real "
        "GP study around N finished trials (refits amortised). Optuna: the same first N trials copied into an "
        f"Optuna study, then {args.optuna_trials} GPSampler proposals timed. Target: itero ≤ 100 ms at 500.",
        "",
        "| function | tool | trials | mean ms/trial | median ms | max ms |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['function']} | {r['tool']} | {r['trials']} | {r['mean_ms']:.1f} | {r['median_ms']:.1f} "
            f"| {r['max_ms']:.1f} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
