"""Each sampler's own time per trial at 100 and 1,000 trials, itero against Optuna's matching sampler.

The objective is Branin (2-D; ZDT1 with 10 variables for the multi-objective samplers), which costs nothing, so
the time per trial is the sampler's and the framework's. itero runs in memory ("sqlite://", tracking off), Optuna
in memory. Figure: mean wall time of trials 91-100 and of trials 991-1,000 of one study (one seed). The GP
samplers are timed up to 500 trials in gp-time.md instead (Optuna's takes seconds per trial beyond that).

    python benchmarks/sampler_time.py          # writes results/sampler-time.{json,md}
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
SIZES = (100, 1000)
SINGLE = ["random", "tpe", "cmaes", "evolution", "reinforce"]
MULTI = ["tpe", "nsga2", "parego"]
OPTUNA = {"random": "RandomSampler", "tpe": "TPESampler", "cmaes": "CmaEsSampler", "nsga2": "NSGAIISampler"}


def _objective(multi: bool) -> Any:
    import numpy as np

    sys.path.insert(0, str(Path(__file__).parent))
    from samplers import branin, zdt1

    def f(suggest: Any) -> Any:
        if multi:
            return zdt1(np.array([suggest(f"x{i}", 0.0, 1.0) for i in range(10)]))
        return branin(np.array([suggest("x0", -5.0, 10.0), suggest("x1", 0.0, 15.0)]))[0]

    return f


def time_itero(sampler: str, multi: bool) -> dict[str, float]:
    import itero

    f = _objective(multi)
    objectives = {"a": "minimize", "b": "minimize"} if multi else {"v": "minimize"}
    study = itero.create_study(
        f"t-{sampler}-{multi}", storage="sqlite://", objectives=objectives, sampler={"name": sampler, "seed": 0},
        tracking=False,
    )  # fmt: skip

    def objective(trial: itero.Trial) -> Any:
        out = f(trial.suggest_float)
        return dict(zip(objectives, out, strict=True)) if multi else out

    out, done = {}, 0
    for size in SIZES:
        study.optimize(objective, n_trials=size - 10 - done, show_progress=False)
        t0 = time.perf_counter()
        study.optimize(objective, n_trials=10, show_progress=False)
        out[str(size)] = (time.perf_counter() - t0) / 10 * 1e3
        done = size
    return out


def time_optuna(sampler: str, multi: bool) -> dict[str, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    f = _objective(multi)
    study = optuna.create_study(
        directions=["minimize"] * (2 if multi else 1), sampler=getattr(optuna.samplers, OPTUNA[sampler])(seed=0)
    )

    def objective(trial: optuna.Trial) -> Any:
        return f(trial.suggest_float)

    out, done = {}, 0
    for size in SIZES:
        study.optimize(objective, n_trials=size - 10 - done)
        t0 = time.perf_counter()
        study.optimize(objective, n_trials=10)
        out[str(size)] = (time.perf_counter() - t0) / 10 * 1e3
        done = size
    return out


def main() -> None:
    rows = []
    for multi, names in ((False, SINGLE), (True, MULTI)):
        for name in names:
            rows.append({"sampler": name, "multi": multi, "tool": "itero", "ms": time_itero(name, multi)})
            print(json.dumps(rows[-1]), flush=True)
            if name in OPTUNA:
                rows.append({"sampler": name, "multi": multi, "tool": "optuna", "ms": time_optuna(name, multi)})
                print(json.dumps(rows[-1]), flush=True)
    meta = {
        "command": "python benchmarks/sampler_time.py",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sampler-time.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        "# Sampler time per trial at 100 and 1,000 trials",
        "",
        f"`{meta['command']}` — {meta['date']}, {meta['machine']}. Mean wall ms of trials 91-100 and 991-1,000 of "
        "one study; Branin (single objective) or 10-D ZDT1 (two objectives); in memory.",
        "",
        "| sampler | objectives | itero 100 | Optuna 100 | itero 1,000 | Optuna 1,000 |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for multi, names in ((False, SINGLE), (True, MULTI)):
        for name in names:
            mine = next(r for r in rows if r["sampler"] == name and r["multi"] == multi and r["tool"] == "itero")
            theirs = next(
                (r for r in rows if r["sampler"] == name and r["multi"] == multi and r["tool"] == "optuna"), None
            )
            o = theirs["ms"] if theirs else {"100": None, "1000": None}

            def fmt(v: float | None) -> str:
                return "—" if v is None else f"{v:.1f}"

            lines.append(
                f"| {name} | {2 if multi else 1} | {fmt(mine['ms']['100'])} | {fmt(o['100'])} "
                f"| {fmt(mine['ms']['1000'])} | {fmt(o['1000'])} |"
            )
    (RESULTS / "sampler-time.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
