"""Outer solvers side by side: itero's samplers against Optuna's matching ones on functions with known optima.

Single objective (regret = best value found − known minimum, after N trials): Branin (2-D), Hartmann-6,
Rosenbrock-10 (on [-2.048, 2.048]^10). Multi-objective (hypervolume of the trials found, reference
point (1.1, 10) for ZDT and 1.1 per objective for DTLZ2; higher is better): ZDT1 and ZDT2 (10 variables, 2 objectives), DTLZ2 (7 variables, 3 objectives).

Pairs: itero tpe / Optuna TPESampler (multivariate off), gp / GPSampler, cmaes / CmaEsSampler, nsga2 /
NSGAIISampler, random / RandomSampler, and itero-only samplers (evolution, reinforce, parego) for reference. Only
samplers registered in ``itero.samplers.SAMPLERS`` are run. Every method sees the same seeds; medians over seeds.
Each itero sampler with an Optuna counterpart gets a verdict at the last checkpoint: the 95% bootstrap interval of
the difference of the two medians (seeds resampled with replacement, 2,000 times); "better" or "worse" when the
interval excludes 0, "tie" when it does not. With a few seeds a bimodal outcome (a run that finds the global
basin or not) moves a median a lot, hence the interval.

    python benchmarks/samplers.py --seeds 10                     # writes results/samplers.{json,md}
    python benchmarks/samplers.py --seeds 3 --functions branin zdt1 --trials 60
    python benchmarks/samplers.py --merge a.json b.json          # one table from runs split by function
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from itero.tasks._synthetic import _hartmann6

RESULTS = Path(__file__).with_name("results")


# ---------------------------------------------------------------------------------------------- functions
def branin(x: np.ndarray) -> tuple[float, ...]:
    a, b = x[0], x[1]
    v = (b - 5.1 / (4 * math.pi**2) * a**2 + 5 / math.pi * a - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(a)
    return (v + 10,)


def hartmann6(x: np.ndarray) -> tuple[float, ...]:
    return (_hartmann6(x) - 3.32237,)  # the task's Hartmann-6 is shifted to a minimum of 0; this one is not


def rosenbrock(x: np.ndarray) -> tuple[float, ...]:
    return (float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)),)


def zdt1(x: np.ndarray) -> tuple[float, ...]:
    g = 1 + 9 * float(np.mean(x[1:]))
    return (float(x[0]), g * (1 - math.sqrt(x[0] / g)))


def zdt2(x: np.ndarray) -> tuple[float, ...]:
    g = 1 + 9 * float(np.mean(x[1:]))
    return (float(x[0]), g * (1 - (x[0] / g) ** 2))


def dtlz2(x: np.ndarray) -> tuple[float, ...]:
    g = float(np.sum((x[2:] - 0.5) ** 2))
    t0, t1 = x[0] * math.pi / 2, x[1] * math.pi / 2
    return ((1 + g) * math.cos(t0) * math.cos(t1), (1 + g) * math.cos(t0) * math.sin(t1), (1 + g) * math.sin(t0))


# Hypervolume reference points: ZDT's second objective starts near 1 + 9 * 0.5 = 5.5 for random points in 10-D,
# so (1.1, 1.1) would leave every point of a short search outside the box; DTLZ2's objectives lie in [0, ~2].
REFERENCE = {"zdt1": (1.1, 10.0), "zdt2": (1.1, 10.0), "dtlz2": (1.1, 1.1, 1.1)}

# name -> (function, bounds, n objectives, known minimum (single) or None)
FUNCTIONS: dict[str, tuple[Callable[[np.ndarray], tuple[float, ...]], list[tuple[float, float]], int, float | None]] = {
    "branin": (branin, [(-5.0, 10.0), (0.0, 15.0)], 1, 0.397887),
    "hartmann6": (hartmann6, [(0.0, 1.0)] * 6, 1, -3.32237),
    "rosenbrock10": (rosenbrock, [(-2.048, 2.048)] * 10, 1, 0.0),
    "zdt1": (zdt1, [(0.0, 1.0)] * 10, 2, None),
    "zdt2": (zdt2, [(0.0, 1.0)] * 10, 2, None),
    "dtlz2": (dtlz2, [(0.0, 1.0)] * 7, 3, None),
}
PAIRS_SINGLE = ["random", "tpe", "gp", "cmaes", "evolution", "reinforce"]
PAIRS_MULTI = ["random", "tpe", "nsga2", "parego"]
OPTUNA = {
    "random": "RandomSampler",
    "tpe": "TPESampler",
    "gp": "GPSampler",
    "cmaes": "CmaEsSampler",
    "nsga2": "NSGAIISampler",
}


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    from itero._hypervolume import hypervolume as hv

    return float(hv(points, ref))


# ---------------------------------------------------------------------------------------------- runners
def run_itero(fn_name: str, sampler: str, seed: int, n: int) -> tuple[list[tuple[float, ...]], float]:
    import itero

    fn, bounds, m, _ = FUNCTIONS[fn_name]
    names = [f"o{i}" for i in range(m)]

    def objective(trial: itero.Trial) -> Any:
        x = np.array([trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)])
        values = fn(x)
        return values[0] if m == 1 else dict(zip(names, values, strict=True))

    study = itero.create_study(
        f"{fn_name}-{sampler}-{seed}",
        storage="sqlite://",
        objectives={k: "minimize" for k in names},
        sampler={"name": sampler, "seed": seed},
        tracking=False,
    )
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n, show_progress=False)
    wall = time.perf_counter() - t0
    out = [tuple(t.metrics[k] for k in names) for t in sorted(study.trials, key=lambda t: t.number) if t.metrics]
    return out, wall


def run_optuna(fn_name: str, sampler: str, seed: int, n: int) -> tuple[list[tuple[float, ...]], float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fn, bounds, m, _ = FUNCTIONS[fn_name]
    cls = getattr(optuna.samplers, OPTUNA[sampler])
    s = cls(seed=seed)
    study = optuna.create_study(directions=["minimize"] * m, sampler=s)

    def objective(trial: optuna.Trial) -> Any:
        x = np.array([trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)])
        values = fn(x)
        return values[0] if m == 1 else values

    import warnings

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=n)
    wall = time.perf_counter() - t0
    return [tuple(t.values) for t in study.trials if t.values is not None], wall


def score(fn_name: str, values: list[tuple[float, ...]], at: int) -> float:
    """Regret of the best of the first ``at`` trials (single objective) or their hypervolume (multi)."""
    _, _, m, fmin = FUNCTIONS[fn_name]
    first = np.array(values[:at], dtype=float)
    if m == 1:
        assert fmin is not None
        return float(first[:, 0].min() - fmin)
    return hypervolume(first, np.array(REFERENCE[fn_name]))


# ---------------------------------------------------------------------------------------------- main
def main() -> None:
    from itero.samplers import SAMPLERS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--functions", nargs="+", default=list(FUNCTIONS), choices=list(FUNCTIONS))
    parser.add_argument("--trials", type=int, default=None, help="default: 100 single-, 200 multi-objective")
    parser.add_argument("--gp-trials", type=int, default=None, help="trials for the GP samplers (slower)")
    parser.add_argument("--samplers", nargs="+", default=None, help="only these samplers (both tools)")
    parser.add_argument("--tools", nargs="+", default=["itero", "optuna"], choices=["itero", "optuna"])
    parser.add_argument("--out", type=Path, default=RESULTS / "samplers")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="only merge these result JSON files (runs split by function)",
    )
    args = parser.parse_args()
    if args.merge:
        parts = [json.loads(p.read_text()) for p in args.merge]
        meta = dict(parts[0]["meta"])
        meta["command"] = " + ".join(p["meta"]["command"] for p in parts)
        meta["minutes"] = max(p["meta"]["minutes"] for p in parts)
        runs = [r for p in parts for r in p["runs"]]
        args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
        args.out.with_suffix(".md").write_text(render(meta, runs))
        return
    runs: list[dict[str, Any]] = []
    t_start = time.time()
    for fn_name in args.functions:
        m = FUNCTIONS[fn_name][2]
        n = args.trials or (100 if m == 1 else 200)
        for sampler in PAIRS_SINGLE if m == 1 else PAIRS_MULTI:
            if args.samplers and sampler not in args.samplers:
                continue
            n_s = args.gp_trials or n if sampler == "gp" else n
            tools = [("itero", run_itero)] if sampler in SAMPLERS and "itero" in args.tools else []
            if sampler in OPTUNA and "optuna" in args.tools:
                tools.append(("optuna", run_optuna))
            for tool, runner in tools:
                for seed in range(args.seeds):
                    values, wall = runner(fn_name, sampler, seed, n_s)
                    checkpoints = sorted({c for c in (10, 25, 50, 100, 200, n_s) if c <= n_s})
                    row = {
                        "function": fn_name,
                        "tool": tool,
                        "sampler": sampler,
                        "seed": seed,
                        "trials": n_s,
                        "wall_s": wall,
                        "ms_per_trial": wall / max(n_s, 1) * 1e3,
                        "score": {str(c): score(fn_name, values, c) for c in checkpoints},
                    }
                    runs.append(row)
                    print(json.dumps({k: v for k, v in row.items()}), flush=True)
    meta = {
        "command": "python benchmarks/samplers.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "seeds": args.seeds,
        "minutes": (time.time() - t_start) / 60,
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    args.out.with_suffix(".md").write_text(render(meta, runs))
    print(render(meta, runs))


def render(meta: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    lines = [
        "# Samplers on functions with known optima: itero against Optuna",
        "",
        f"`{meta['command']}` — {meta['date']}, {meta['machine']}, {meta['seeds']} seeds, medians; "
        f"{meta['minutes']:.0f} min. Single objective: regret (best − known minimum, lower is better). "
        "Multi-objective: hypervolume with reference point (1.1, 10) for ZDT, (1.1, 1.1, 1.1) for DTLZ2 "
        "(higher is better). "
        "'ms/trial' is the whole study's wall time per trial (the functions cost nothing: it is the sampler's "
        "and the framework's time).",
        "",
    ]
    for fn_name in dict.fromkeys(r["function"] for r in runs):
        mine = [r for r in runs if r["function"] == fn_name]
        checkpoints = sorted({int(c) for r in mine for c in r["score"]})
        kind = "regret" if FUNCTIONS[fn_name][2] == 1 else "hypervolume"
        lines += [f"## {fn_name} ({kind})", ""]
        last = str(checkpoints[-1])
        lines.append(
            "| sampler | tool | n | "
            + " | ".join(f"{c} trials" for c in checkpoints)
            + f" | ms/trial | itero − Optuna at {last} (95% CI) |"
        )
        lines.append("| --- | --- | ---: | " + " | ".join("---:" for _ in checkpoints) + " | ---: | --- |")
        for sampler in dict.fromkeys(r["sampler"] for r in mine):
            for tool in ("itero", "optuna"):
                rows = [r for r in mine if r["sampler"] == sampler and r["tool"] == tool]
                if not rows:
                    continue
                cells = []
                for c in checkpoints:
                    vals = [r["score"][str(c)] for r in rows if str(c) in r["score"]]
                    cells.append(f"{statistics.median(vals):.4g}" if vals else "—")
                ms = statistics.median(r["ms_per_trial"] for r in rows)
                other = [r for r in mine if r["sampler"] == sampler and r["tool"] == "optuna"]
                verdict = ""
                if tool == "itero" and other:
                    verdict = compare(
                        [r["score"][last] for r in rows if last in r["score"]],
                        [r["score"][last] for r in other if last in r["score"]],
                        higher_is_better=kind == "hypervolume",
                    )
                lines.append(
                    f"| {sampler} | {tool} | {len(rows)} | " + " | ".join(cells) + f" | {ms:.1f} | {verdict} |"
                )
        lines.append("")
    return "\n".join(lines) + "\n"


def compare(mine: list[float], theirs: list[float], higher_is_better: bool, n_boot: int = 2000) -> str:
    """The difference of medians (mine − theirs), its 95% bootstrap interval, and a verdict."""
    if not mine or not theirs:
        return ""
    rng = np.random.default_rng(0)
    a, b = np.asarray(mine, dtype=float), np.asarray(theirs, dtype=float)
    boot_a = np.median(rng.choice(a, (n_boot, len(a))), axis=1)
    boot_b = np.median(rng.choice(b, (n_boot, len(b))), axis=1)
    lo, hi = np.percentile(boot_a - boot_b, [2.5, 97.5])
    diff = float(np.median(a) - np.median(b))
    verdict = "tie"
    if lo > 0 or hi < 0:
        verdict = "**better**" if (lo > 0) == higher_is_better else "**worse**"
    return f"{diff:+.3g} [{lo:+.3g}, {hi:+.3g}] {verdict}"


if __name__ == "__main__":
    main()
