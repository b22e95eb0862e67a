"""Multi-fidelity search, side by side: itero's schedulers against Optuna's pruners, Ray Tune's ASHA and random
search, on the same training code, in one run, several seeds.

Every method trains the same ``MLPRun`` (or evaluates the same synthetic curve) and logs one event per epoch:
wall time, the epoch's training CPU seconds (``time.thread_time`` of the thread that trained), and the
validation and test metrics. From the events of a run:

- the anytime curve: best validation value so far against cumulative epochs and against training CPU seconds;
- compute to target: epochs and CPU seconds until the best validation value reaches the target, taken from a
  long random search (its best value minus a small tolerance);
- the returned configuration: the report with the best validation value; its test metric at that report;
- wall seconds, and how busy the cores were (training CPU seconds / (wall seconds x n_jobs)).

    python benchmarks/multifidelity.py --task digits-mlp --seeds 5            # MLP tasks: n_jobs=2
    python benchmarks/multifidelity.py --task crossing-curves --seeds 10      # synthetic: fast
    python benchmarks/multifidelity.py --task digits-mlp --methods itero-asha optuna-tpe-sh --seeds 1

Results: ``benchmarks/results/multifidelity-<task>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
T_MAX = 27
ETA = 3


# ----------------------------------------------------------------------------------------------- tasks
@dataclass
class Bench:
    """What a method needs of a task: its space, one epoch of training, the metric and its direction."""

    name: str
    metric: str  # validation metric
    test_metric: str
    maximize: bool
    synthetic: bool
    tolerance: float  # target = best of the long random search minus this (in the metric's units)

    def suggest(self, trial: Any) -> dict[str, Any]:
        if self.synthetic:
            from itero.tasks._synthetic import SUITE

            return {f"x{i}": trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(SUITE[self.name].dim)}
        from itero.tasks._mlp import suggest_mlp

        return suggest_mlp(trial)

    def runner(self, params: dict[str, Any], number: int) -> Any:
        if self.synthetic:
            return _CurveRun(self.name, params)
        from itero.tasks._mlp import MLPRun

        if self.name == "digits-mlp":
            from itero.tasks._digits import digits_data

            return MLPRun(params, number, digits_data(), "classification")
        from itero.tasks._friedman import friedman_data

        return MLPRun(params, number, friedman_data(), "regression")

    def better(self, a: float, b: float) -> bool:
        return a > b if self.maximize else a < b


class _CurveRun:
    def __init__(self, name: str, params: dict[str, Any]) -> None:
        from itero.tasks._synthetic import SUITE

        self.fn = SUITE[name]
        self.x = [params[f"x{i}"] for i in range(self.fn.dim)]
        self.epoch = 0

    def train_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def evaluate(self) -> dict[str, float]:
        v = self.fn.value(self.x, self.epoch, T_MAX)
        return {"loss": v, "final": self.fn.value(self.x, T_MAX, T_MAX)}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])


BENCHES = {
    "digits-mlp": Bench("digits-mlp", "val_acc", "test_acc", True, False, 0.003),
    "friedman-mlp": Bench("friedman-mlp", "val_rmse", "test_rmse", False, False, 0.01),
    "crossing-curves": Bench("crossing-curves", "loss", "final", False, True, 0.02),
    "branin-curves": Bench("branin-curves", "loss", "final", False, True, 0.02),
    "hartmann6-curves": Bench("hartmann6-curves", "loss", "final", False, True, 0.05),
}


# ----------------------------------------------------------------------------------------------- events
class EventLog:
    """One JSON line per trained epoch, appended by whichever process or thread trained it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def epoch(self, bench: Bench, run: Any, epoch: int, key: str) -> dict[str, float]:
        cpu0 = time.thread_time()
        run.train_epoch(epoch)
        metrics = run.evaluate()
        cpu = time.thread_time() - cpu0
        line = json.dumps(
            {
                "t": time.time(),
                "cpu": cpu,
                "val": metrics[bench.metric],
                "test": metrics[bench.test_metric],
                "key": key,
                "epoch": epoch,
            }
        )
        with open(self.path, "a") as fh:
            fh.write(line + "\n")
        return metrics

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        events = [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]
        return sorted(events, key=lambda e: e["t"])


# ----------------------------------------------------------------------------------------------- methods
def run_itero(
    bench: Bench,
    log: EventLog,
    seed: int,
    budget: int,
    n_jobs: int,
    scheduler: Any,
    sampler: Any,
    share: list[str] | None = None,
) -> None:
    import itero

    def objective(trial: itero.Trial) -> None:
        params = bench.suggest(trial)
        run = bench.runner(params, trial.number)
        state = trial.restore()
        if state is not None:
            run.load_state_dict(state)
        for epoch in trial.steps(T_MAX):
            metrics = log.epoch(bench, run, epoch, f"itero-{trial.number}")
            trial.report(epoch, metrics, state=run.state_dict)

    with tempfile.TemporaryDirectory() as d:
        study = itero.create_study(
            "bench",
            storage=f"sqlite:///{d}/itero.db",
            objectives={bench.metric: "maximize" if bench.maximize else "minimize"},
            sampler=sampler,
            scheduler=scheduler,
            share_weights=share,
        )
        study.optimize(objective, max_steps_total=budget, n_jobs=n_jobs, show_progress=False)


def run_optuna(bench: Bench, log: EventLog, seed: int, budget: int, n_jobs: int, pruner: str | None) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not bench.synthetic:
        import torch

        torch.set_num_threads(1)  # n_jobs threads share the process: one intra-op thread each, like the others
    spent = [0]
    lock = threading.Lock()

    def take() -> bool:
        with lock:
            if spent[0] >= budget:
                return False
            spent[0] += 1
            return True

    def objective(trial: optuna.Trial) -> float:
        params = bench.suggest(trial)
        run = bench.runner(params, trial.number)
        value = math.nan
        for epoch in range(1, T_MAX + 1):
            if not take():
                trial.study.stop()
                raise optuna.TrialPruned("budget spent")
            value = log.epoch(bench, run, epoch, f"optuna-{trial.number}")[bench.metric]
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    pruners = {
        None: optuna.pruners.NopPruner(),
        "hyperband": optuna.pruners.HyperbandPruner(min_resource=1, max_resource=T_MAX, reduction_factor=ETA),
        "sh": optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=ETA),
    }
    study = optuna.create_study(
        direction="maximize" if bench.maximize else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruners[pruner],
    )
    study.optimize(objective, n_jobs=n_jobs, n_trials=100_000)


def run_ray(bench: Bench, log: EventLog, seed: int, budget: int, n_jobs: int, reuse: bool) -> None:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    space = _ray_space(bench, tune)

    def trainable(config: dict[str, Any]) -> None:
        if not bench.synthetic:
            import torch

            torch.set_num_threads(1)
        params = {k: v for k, v in config.items() if k != "__number"}
        number = abs(hash(json.dumps(params, sort_keys=True))) % (1 << 31)
        run = bench.runner(params, number)
        for epoch in range(1, T_MAX + 1):
            metrics = log.epoch(bench, run, epoch, f"ray-{number}")
            tune.report({bench.metric: metrics[bench.metric]})

    class Budget(tune.Stopper):
        def __init__(self) -> None:
            self.spent = 0

        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            self.spent += 1
            return False

        def stop_all(self) -> bool:
            return self.spent >= budget

    ray.init(num_cpus=n_jobs, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        with tempfile.TemporaryDirectory() as d:
            tuner = tune.Tuner(
                tune.with_resources(trainable, {"cpu": 1}),
                param_space=space,
                tune_config=tune.TuneConfig(
                    metric=bench.metric,
                    mode="max" if bench.maximize else "min",
                    scheduler=ASHAScheduler(max_t=T_MAX, grace_period=1, reduction_factor=ETA),
                    num_samples=100_000,
                    reuse_actors=reuse,
                    search_alg=tune.search.BasicVariantGenerator(random_state=seed),
                ),
                run_config=tune.RunConfig(stop=Budget(), storage_path=d, verbose=0),
            )
            tuner.fit()
    finally:
        ray.shutdown()


def _ray_space(bench: Bench, tune: Any) -> dict[str, Any]:
    """The task's space as Ray Tune distributions, read from the same suggest function."""
    from itero.space import CategoricalDistribution, FloatDistribution, IntDistribution

    recorder = _Recorder()
    bench.suggest(recorder)
    space: dict[str, Any] = {}
    for name, d in recorder.dists.items():
        if isinstance(d, CategoricalDistribution):
            space[name] = tune.choice(list(d.choices))
        elif isinstance(d, IntDistribution):
            space[name] = tune.lograndint(d.low, d.high + 1) if d.log else tune.randint(d.low, d.high + 1)
        elif isinstance(d, FloatDistribution):
            space[name] = tune.loguniform(d.low, d.high) if d.log else tune.uniform(d.low, d.high)
    return space


class _Recorder:
    def __init__(self) -> None:
        self.dists: dict[str, Any] = {}

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        from itero.space import FloatDistribution

        self.dists[name] = FloatDistribution(low, high, log)
        return low

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        from itero.space import IntDistribution

        self.dists[name] = IntDistribution(low, high, log)
        return low

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        from itero.space import CategoricalDistribution

        self.dists[name] = CategoricalDistribution(tuple(choices))
        return choices[0]


def methods(bench: Bench, seed: int, pbt_population: int) -> dict[str, Callable[..., None]]:
    tpe = {"name": "tpe", "seed": seed}
    out: dict[str, Callable[..., None]] = {
        "itero-auto": lambda *a: run_itero(*a, scheduler={"name": "auto", "max_steps": T_MAX}, sampler=tpe),
        "itero-asha": lambda *a: run_itero(*a, scheduler={"name": "asha", "max_steps": T_MAX, "eta": ETA}, sampler=tpe),
        "itero-asha-share": lambda *a: run_itero(
            *a,
            scheduler={"name": "asha", "max_steps": T_MAX, "eta": ETA},
            sampler=tpe,
            share=["width", "depth", "optimizer"],
        ),
        "itero-hyperband": lambda *a: run_itero(
            *a, scheduler={"name": "hyperband", "max_steps": T_MAX, "eta": ETA}, sampler=tpe
        ),
        "itero-bohb": lambda *a: run_itero(*a, scheduler={"name": "bohb", "max_steps": T_MAX, "eta": ETA}, sampler=tpe),
        "itero-pbt": lambda *a: run_itero(
            *a,
            scheduler={"name": "pbt", "max_steps": T_MAX, "interval": 3, "population": pbt_population, "seed": seed},
            sampler={"name": "random", "seed": seed},
        ),
        "optuna-tpe-hyperband": lambda *a: run_optuna(*a, pruner="hyperband"),
        "optuna-tpe-sh": lambda *a: run_optuna(*a, pruner="sh"),
        "optuna-tpe": lambda *a: run_optuna(*a, pruner=None),
        "random": lambda *a: run_itero(*a, scheduler={"name": "fifo"}, sampler={"name": "random", "seed": seed}),
        "ray-asha": lambda *a: run_ray(*a, reuse=True),
        "ray-asha-noreuse": lambda *a: run_ray(*a, reuse=False),
    }
    return out


# ----------------------------------------------------------------------------------------------- analysis
def summarise(bench: Bench, events: list[dict[str, Any]], target: float | None, wall: float, n_jobs: int) -> dict:
    best = None
    best_test = None
    steps = 0
    cpu = 0.0
    curve = []
    hit_steps = hit_cpu = None
    for e in events:
        steps += 1
        cpu += e["cpu"]
        if best is None or bench.better(e["val"], best):
            best, best_test = e["val"], e["test"]
            curve.append([steps, round(cpu, 3), best])
        if target is not None and hit_steps is None and best is not None and not bench.better(target, best):
            hit_steps, hit_cpu = steps, cpu
    trials = len({e["key"] for e in events})
    return {
        "best_val": best,
        "test_of_best": best_test,
        "steps": steps,
        "trials": trials,
        "wall_per_trial_s": round(wall / trials, 3) if trials else None,
        "train_cpu_s": round(cpu, 3),
        "wall_s": round(wall, 2),
        "busy": round(cpu / (wall * n_jobs), 3) if wall > 0 else None,
        "steps_to_target": hit_steps,
        "cpu_to_target": None if hit_cpu is None else round(hit_cpu, 3),
        "curve": curve,
    }


def median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v: float | None, spec: str = ".4g") -> str:
    return "—" if v is None else format(v, spec)


def best_at(curve: list[list[float]], steps: int) -> float | None:
    """The best value so far after ``steps`` epochs, from a run's improvement curve [steps, cpu, best]."""
    best = None
    for point in curve:
        if point[0] > steps:
            break
        best = point[2]
    return best


def median_inf(values: list[float | None]) -> float | None:
    """The median with None (never reached) counted as infinite; None if the median itself is infinite."""
    m = statistics.median([math.inf if v is None else v for v in values]) if values else math.inf
    return None if math.isinf(m) else m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(BENCHES), default="digits-mlp")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=1500, help="epochs per search")
    parser.add_argument("--n-jobs", type=int, default=None, help="default: 2 for MLP tasks, 1 for synthetic")
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--target-budget", type=int, default=None, help="epochs of the long random search")
    parser.add_argument("--noreuse-seeds", type=int, default=1, help="seeds for ray-asha-noreuse (slow)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--render", type=Path, default=None, help="rebuild the .md of an existing .json result")
    args = parser.parse_args()
    if args.render is not None:
        data = json.loads(args.render.read_text())
        args.render.write_text(dump(data["meta"], data["runs"]))
        render(args.render.with_suffix(""), data["meta"], data["runs"])
        return
    bench = BENCHES[args.task]
    n_jobs = args.n_jobs or (1 if bench.synthetic else 2)
    names = args.methods or list(methods(bench, 0, 8))
    if bench.synthetic:  # no Ray (its start-up dwarfs these runs) and no weights to share
        names = [n for n in names if not n.startswith("ray") and n != "itero-asha-share"]
    out = args.out or RESULTS / f"multifidelity-{args.task}"
    pbt_population = 8

    def one(name: str, seed: int, budget: int) -> tuple[list[dict[str, Any]], float]:
        with tempfile.TemporaryDirectory() as d:
            log = EventLog(Path(d) / "events.jsonl")
            t0 = time.time()
            methods(bench, seed, pbt_population)[name](bench, log, seed, budget, n_jobs)
            return log.read(), time.time() - t0

    # The target: a long random search (full fidelity), its best value minus a tolerance.
    target_budget = args.target_budget or 4 * args.budget
    events, wall = one("random", 10_000, target_budget)
    ref = summarise(bench, events, None, wall, n_jobs)
    sign = -1 if bench.maximize else 1
    target = ref["best_val"] + sign * bench.tolerance
    print(json.dumps({"reference": "random", "epochs": target_budget, "best": ref["best_val"], "target": target}))

    runs: list[dict[str, Any]] = []
    for name in names:
        seeds = args.noreuse_seeds if name == "ray-asha-noreuse" else args.seeds
        for seed in range(seeds):
            events, wall = one(name, seed, args.budget)
            row = {"method": name, "seed": seed, **summarise(bench, events, target, wall, n_jobs)}
            runs.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
    write(out, bench, args, n_jobs, target_budget, ref, target, runs)


def write(out: Path, bench: Bench, args: Any, n_jobs: int, target_budget: int, ref: dict, target: float, runs: list):
    import optuna

    import itero

    meta = {
        "command": "python benchmarks/multifidelity.py " + " ".join(sys.argv[1:]),
        "task": bench.name,
        "budget_epochs": args.budget,
        "n_jobs": n_jobs,
        "seeds": args.seeds,
        "itero": itero.__version__,
        "optuna": optuna.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "reference": {"method": "random (full fidelity)", "epochs": target_budget, "best_val": ref["best_val"]},
        "target": target,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(dump(meta, runs))
    render(out, meta, runs)


def dump(meta: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    """The result as JSON with one run per line (the curves make indented JSON very long)."""
    slim = [{**r, "curve": [[p[0], round(p[1], 2), float(f"{p[2]:.5g}")] for p in r["curve"]]} for r in runs]
    body = ",\n".join(json.dumps(r) for r in slim)
    return f'{{"meta": {json.dumps(meta, indent=1)},\n"runs": [\n{body}\n]}}\n'


def render(out: Path, meta: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    """Write the markdown table of a result (``--render`` rebuilds it from the JSON)."""
    bench = BENCHES[meta["task"]]
    n_jobs, budget, target = meta["n_jobs"], meta["budget_epochs"], meta["target"]
    ref = meta["reference"]
    target_budget = ref["epochs"]
    better = "higher" if bench.maximize else "lower"
    lines = [
        f"# Multi-fidelity search on `{bench.name}` ({budget} epochs per search, n_jobs={n_jobs})",
        "",
        f"Command: `{meta['command']}` — itero {meta['itero']}, Optuna {meta['optuna']}, {meta['machine']}, "
        f"{meta['date']}. Medians over seeds (n = seeds that ran; 'reached' = seeds that reached the target).",
        "",
        f"Target: {bench.metric} {target:.4g} = best of a {target_budget}-epoch random search "
        f"({ref['best_val']:.4g}) {'minus' if bench.maximize else 'plus'} {bench.tolerance}; {better} is better. "
        "'CPU' is training CPU seconds (epochs of different configurations cost different amounts). "
        "'test' is the test metric of the report with the best validation value. 'busy' = training CPU / "
        f"(wall x {n_jobs}).",
        "",
        "| method | n | reached | epochs to target | CPU s to target | best val | test of best | wall s | busy | trials |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in dict.fromkeys(r["method"] for r in runs):
        rs = [r for r in runs if r["method"] == name]
        reached = [r for r in rs if r["steps_to_target"] is not None]

        lines.append(
            f"| {name} | {len(rs)} | {len(reached)}/{len(rs)} | "
            f"{fmt(median_inf([r['steps_to_target'] for r in rs]), '.0f')} | "
            f"{fmt(median_inf([r['cpu_to_target'] for r in rs]), '.1f')} | "
            f"{fmt(median([r['best_val'] for r in rs]))} | {fmt(median([r['test_of_best'] for r in rs]))} | "
            f"{fmt(median([r['wall_s'] for r in rs]), '.1f')} | {fmt(median([r['busy'] for r in rs]), '.2f')} | "
            f"{fmt(median([r.get('trials') for r in rs]), '.0f')} |"
        )
    lines += [
        "",
        "Epochs/CPU to target are medians over all seeds, counting a seed that never reached it as infinite "
        "(shown as — when most seeds did not reach it).",
        "",
        f"Anytime: median best {bench.metric} so far after N epochs.",
        "",
    ]
    marks = [m for m in (100, 250, 500, 1000, 1500, 3000) if m <= budget]
    lines.append("| method | " + " | ".join(str(m) for m in marks) + " |")
    lines.append("| --- |" + " ---: |" * len(marks))
    for name in dict.fromkeys(r["method"] for r in runs):
        rs = [r for r in runs if r["method"] == name]
        cells = [fmt(median([best_at(r["curve"], m) for r in rs])) for m in marks]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
