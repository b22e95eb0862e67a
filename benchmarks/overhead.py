"""Framework overhead per trial: itero against Optuna, same trivial objective, same sampler (TPE), one run.

The objective costs nothing (3 parameters: a log float, an int, a categorical), so the wall time per trial is the
framework's own cost: sampling, storage writes and reads. Both tools run sequentially (n_jobs=1), with SQLite
files and in memory.

Two figures per configuration:
- ``mean_ms``: total wall time / trials for a study of N trials run from empty;
- ``marginal_ms``: the mean time of the last 100 trials, i.e. the cost of one trial once the history holds N.

Optuna's TPE grows linearly with its history, so a 10,000-trial Optuna run would take hours; for its 10,000 point
we fill the study with 9,900 finished trials through ``study.add_trials`` (untimed) and time the next 100, which is
the same marginal figure. Optuna with SQLite is measured at 100 and 1,000 trials only (45 ms/trial).

    python benchmarks/overhead.py                      # writes benchmarks/results/overhead.{json,md}
    python benchmarks/overhead.py --sizes 100 1000 --seeds 1
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")


def itero_run(n: int, seed: int, storage: str) -> dict[str, float]:
    import itero

    def objective(trial: itero.Trial) -> float:
        x = trial.suggest_float("x", 1e-3, 10.0, log=True)
        y = trial.suggest_int("y", 0, 10)
        z = trial.suggest_categorical("z", ["a", "b", "c"])
        return (x - 1) ** 2 + y + (z == "b")

    study = itero.create_study(
        f"overhead-{n}-{seed}", storage=storage, objectives={"value": "minimize"}, sampler={"name": "tpe", "seed": seed}
    )
    stamps: list[float] = []
    t0 = time.perf_counter()
    # Run in chunks so that the last 100 trials can be timed on their own.
    if n > 100:
        study.optimize(objective, n_trials=n - 100, show_progress=False)
    stamps.append(time.perf_counter())
    study.optimize(objective, n_trials=min(n, 100), show_progress=False)
    t1 = time.perf_counter()
    assert len(study.trials) == n
    return {"mean_ms": (t1 - t0) / n * 1e3, "marginal_ms": (t1 - stamps[0]) / min(n, 100) * 1e3}


def optuna_run(n: int, seed: int, storage: str | None, prefill: bool) -> dict[str, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 1e-3, 10.0, log=True)
        y = trial.suggest_int("y", 0, 10)
        z = trial.suggest_categorical("z", ["a", "b", "c"])
        return (x - 1) ** 2 + y + (z == "b")

    study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(seed=seed))
    t0 = time.perf_counter()
    if n > 100:
        if prefill:
            study.add_trials(_optuna_history(n - 100, seed))
            t0 = None  # type: ignore[assignment]
        else:
            study.optimize(objective, n_trials=n - 100)
    t_mid = time.perf_counter()
    study.optimize(objective, n_trials=min(n, 100))
    t1 = time.perf_counter()
    assert len(study.trials) == n
    out = {"marginal_ms": (t1 - t_mid) / min(n, 100) * 1e3}
    if t0 is not None:
        out["mean_ms"] = (t1 - t0) / n * 1e3
    return out


def _optuna_history(n: int, seed: int) -> list[Any]:
    import numpy as np
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    rng = np.random.default_rng(seed)
    dists = {
        "x": FloatDistribution(1e-3, 10.0, log=True),
        "y": IntDistribution(0, 10),
        "z": CategoricalDistribution(["a", "b", "c"]),
    }
    out = []
    for _ in range(n):
        x = float(np.exp(rng.uniform(np.log(1e-3), np.log(10.0))))
        y = int(rng.integers(0, 11))
        z = str(rng.choice(["a", "b", "c"]))
        out.append(
            optuna.trial.create_trial(
                params={"x": x, "y": y, "z": z}, distributions=dists, value=(x - 1) ** 2 + y + (z == "b")
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "overhead")
    args = parser.parse_args()

    import optuna

    import itero

    rows: list[dict[str, Any]] = []
    for n in args.sizes:
        configs: list[tuple[str, str, Callable[[int, Path], dict[str, float]]]] = [
            ("itero", "sqlite", lambda s, d, n=n: itero_run(n, s, f"sqlite:///{d}/itero.db")),
            ("itero", "memory", lambda s, d, n=n: itero_run(n, s, "sqlite://")),
            ("optuna", "memory", lambda s, d, n=n: optuna_run(n, s, None, prefill=n > 1000)),
        ]
        if n <= 1000:
            configs.append(("optuna", "sqlite", lambda s, d, n=n: optuna_run(n, s, f"sqlite:///{d}/o.db", False)))
        for tool, storage, fn in configs:
            runs = []
            for seed in range(args.seeds):
                with tempfile.TemporaryDirectory() as d:
                    runs.append(fn(seed, Path(d)))
            row: dict[str, Any] = {"tool": tool, "storage": storage, "trials": n, "seeds": args.seeds}
            for key in ("mean_ms", "marginal_ms"):
                values = [r[key] for r in runs if key in r]
                row[key] = round(statistics.median(values), 3) if values else None
            rows.append(row)
            print(json.dumps(row), flush=True)

    meta = {
        "command": "python benchmarks/overhead.py "
        + " ".join([f"--sizes {' '.join(map(str, args.sizes))}", f"--seeds {args.seeds}"]),
        "itero": itero.__version__,
        "optuna": optuna.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Framework overhead per trial (trivial objective, 3 parameters, TPE, n_jobs=1)",
        "",
        f"Command: `{meta['command']}` — itero {meta['itero']}, Optuna {meta['optuna']}, Python {meta['python']}, "
        f"{meta['machine']}, {meta['date']}. Medians over {args.seeds} seeds.",
        "",
        "`mean` = wall time / trials for a study run from empty; `marginal` = mean of the last 100 trials "
        "(cost of a trial once the history holds N). Optuna at 10,000 trials: history pre-filled, so only "
        "the marginal figure exists.",
        "",
        "| tool | storage | trials | mean ms/trial | marginal ms/trial |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        mean = "—" if r["mean_ms"] is None else f"{r['mean_ms']:.2f}"
        lines.append(f"| {r['tool']} | {r['storage']} | {r['trials']:,} | {mean} | {r['marginal_ms']:.2f} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
