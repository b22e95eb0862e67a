"""Record learning-curve tables of the built-in tasks, resumably: ``tables/<task>.jsonl.gz`` (format: see
``itero/tasks/_tables.py``).

    python benchmarks/replay/record.py --all --jobs 2              # every table (resumes where it stopped)
    python benchmarks/replay/record.py digits-cnn --configs 300 --seeds 2
    python benchmarks/replay/record.py --all --estimate 5          # time 5 configurations per task, record nothing

For a task, ``--configs`` configurations are drawn from its space by a scrambled Sobol sequence with a fixed
seed (``--config-seed``): the ``suggest_*`` function of the task is driven by a trial that maps coordinate ``j``
of point ``i`` to its ``j``-th parameter, so a longer table extends a shorter one. Each (configuration, seed)
is trained to ``max_steps`` with one thread, recording every step's metrics and the thread CPU seconds of its
``train_step`` + ``evaluate``, then the seconds to save (``itero.store.dump_state``) and load (``load_state`` +
``load_state_dict``) its final checkpoint. The training seed is the run's ``number``.

Safe to kill at any time: every row is appended to a per-process shard (``tables/.<task>.shard-<j>.jsonl.gz``)
as its own gzip member and flushed; on restart, recorded rows are skipped and a cut last row is dropped. When a
table's rows are all there, the shards are merged, with the header, into ``tables/<task>.jsonl.gz``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import multiprocessing
import os
import platform
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.tasks import TASKS, get_task
from itero.tasks._tables import FORMAT, finite_or_none, read_records

TABLES = ["digits-cnn", "friedman-mlp", "char-lm", "schedule-mlp", "diverge-mlp", "digits-aug-mlp"]
SEEDS = {"digits-cnn": 2, "friedman-mlp": 2, "schedule-mlp": 2}  # two training seeds; the others have one
DEFAULT_CONFIGS = 400
HERE = Path(__file__).resolve().parent


class SobolTrial:
    """A stand-in trial whose ``suggest_*`` calls take successive coordinates of one point of the unit cube."""

    def __init__(self, point: Sequence[float]) -> None:
        self.point = list(point)
        self.space: dict[str, Distribution] = {}

    def _take(self, name: str, dist: Distribution) -> Any:
        self.space[name] = dist
        return dist.from_unit(self.point[len(self.space) - 1])

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        return float(self._take(name, FloatDistribution(low, high, log=log)))

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        return int(self._take(name, IntDistribution(low, high, log=log)))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._take(name, CategoricalDistribution(tuple(choices)))


def draw_configs(task: str, n: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, Distribution]]:
    """``n`` configurations of ``task``'s space (the first ``n`` points of a scrambled Sobol sequence), and the
    space they were drawn from."""
    from scipy.stats import qmc

    points = qmc.Sobol(16, scramble=True, seed=seed).random(2 ** max(1, math.ceil(math.log2(n))))[:n]
    suggest = get_task(task).suggest()
    configs, space = [], {}
    for point in points:
        trial = SobolTrial(point)
        configs.append(suggest(trial))
        space = trial.space
    return configs, space


def record_row(task: str, params: dict[str, Any], config: int, seed: int, max_steps: int) -> dict[str, Any]:
    """Train one configuration with one seed to ``max_steps``; the table row (see ``itero/tasks/_tables.py``)."""
    from itero.store import dump_state, load_state

    run = get_task(task).make_run()(params, seed)
    metrics: dict[str, list[float | None]] = {}
    seconds: list[float | None] = []
    diverged_at = None
    for step in range(1, max_steps + 1):
        if diverged_at is not None:
            seconds.append(None)
            for values in metrics.values():
                values.append(None)
            continue
        t0 = time.thread_time()
        run.train_step(step)
        values = run.evaluate()
        seconds.append(finite_or_none(time.thread_time() - t0, 4))
        for name, value in values.items():
            metrics.setdefault(name, []).append(finite_or_none(value, 6))
        if not all(math.isfinite(v) for v in values.values()):
            diverged_at = step
    costs = run.costs() if hasattr(run, "costs") else {}
    t0 = time.thread_time()
    blob = dump_state(run.state_dict())
    save = time.thread_time() - t0
    t0 = time.thread_time()
    run.load_state_dict(load_state(blob))
    load = time.thread_time() - t0
    return {
        "kind": "row", "config": config, "seed": seed, "params": params, "metrics": metrics,
        "step_seconds": seconds, "diverged_at": diverged_at,
        "costs": {k: finite_or_none(float(v), 6) for k, v in costs.items() if k in ("params", "flops")},
        "save_seconds": finite_or_none(save, 4), "load_seconds": finite_or_none(load, 4),
        "checkpoint_bytes": len(blob),
    }  # fmt: skip


def header(task: str, n: int, seeds: list[int], config_seed: int, space: dict[str, Distribution],
           metrics: list[str], max_steps: int, command: str) -> dict[str, Any]:  # fmt: skip
    """The provenance record (line 1 of a table)."""
    import numpy
    import scipy
    import sklearn
    import torch

    import itero

    t = get_task(task)
    return {
        "kind": "header", "format": FORMAT, "task": task, "description": t.description,
        "objectives": t.objectives, "max_steps": max_steps, "metrics": metrics, "diverges": t.diverges,
        "n_configs": n, "seeds": seeds, "config_seed": config_seed,
        "configs_from": f"scrambled Sobol points (scipy.stats.qmc, seed {config_seed}) through {t.space}",
        "space": {name: d.to_dict() for name, d in space.items()},
        "step_seconds": "time.thread_time() of train_step + evaluate, one torch thread",
        "checkpoint_seconds": "thread time of itero.store.dump_state(state_dict()) / load_state + load_state_dict",
        "command": command,
        "versions": {"itero": getattr(itero, "__version__", "?"), "torch": torch.__version__,
                     "numpy": numpy.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__,
                     "python": platform.python_version()},
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip


def _shards(out: Path, task: str) -> list[Path]:
    return sorted(out.glob(f".{task}.shard-*.jsonl.gz"))


def _done(out: Path, task: str) -> dict[tuple[int, int], dict[str, Any]]:
    """Rows already recorded (final table and shards); cut shards are rewritten without their cut tail."""
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    final = out / f"{task}.jsonl.gz"
    sources = ([final] if final.exists() else []) + _shards(out, task)
    for path in sources:
        records, truncated = read_records(path)
        if truncated and path != final:
            _write(path, records)
        for r in records:
            if r.get("kind") == "row":
                rows[(r["config"], r["seed"])] = r
    return rows


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with gzip.open(tmp, "wt", compresslevel=9) as fh:
        for r in records:
            fh.write(json.dumps(r, separators=(",", ":")) + "\n")
    os.replace(tmp, path)


def _work(items: list[tuple[str, dict[str, Any], int, int, int]], out: str, shard: int, parent: int = 0) -> None:
    """Record ``items`` into shard ``shard``. A worker whose parent (``parent``, a pid) has died stops without
    writing: a restarted recording may already own its shard."""
    import torch

    torch.set_num_threads(1)
    for task, params, config, seed, max_steps in items:
        row = record_row(task, params, config, seed, max_steps)
        if parent and os.getppid() != parent:
            return
        with gzip.open(Path(out) / f".{task}.shard-{shard}.jsonl.gz", "ab") as fh:  # one member per row
            fh.write((json.dumps(row, separators=(",", ":")) + "\n").encode())
            fh.flush()
        print(f"{task}: config {config} seed {seed}: {sum(s or 0 for s in row['step_seconds']):.1f} s", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tasks", nargs="*", help=f"tasks to record (default with --all: {TABLES})")
    parser.add_argument("--all", action="store_true", help="record every table")
    parser.add_argument("--configs", type=int, default=DEFAULT_CONFIGS)
    parser.add_argument("--seeds", type=int, default=None, help=f"training seeds (default: {SEEDS}, else 1)")
    parser.add_argument("--config-seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=None, help="fewer steps than the task's (for tests)")
    parser.add_argument("--jobs", type=int, default=1, help="processes, one thread each, on disjoint rows")
    parser.add_argument("--out", default=str(HERE / "tables"))
    parser.add_argument("--estimate", type=int, default=0, metavar="N", help="time N configurations per task")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "benchmarks/replay/record.py", *(sys.argv[1:] if argv is None else argv)])
    tasks = TABLES if args.all else args.tasks
    unknown = [t for t in tasks if t not in TASKS or not TASKS[t].run]
    if not tasks or unknown:
        parser.error(f"name tasks among {TABLES} or pass --all (unknown: {unknown})")
    if args.estimate:
        return _estimate(tasks, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plan, todo = {}, []
    for task in tasks:
        seeds = list(range(args.seeds or SEEDS.get(task, 1)))
        steps = args.max_steps or get_task(task).max_steps
        configs, space = draw_configs(task, args.configs, args.config_seed)
        done = _done(out, task)
        plan[task] = (configs, space, seeds, steps, done)
        for config, params in enumerate(configs):
            todo += [(task, params, config, s, steps) for s in seeds if (config, s) not in done]
        print(f"{task}: {len(done)} rows recorded, {sum(1 for t in todo if t[0] == task)} to go", flush=True)
    ctx = multiprocessing.get_context("spawn")
    t0 = time.time()
    if args.jobs <= 1 or len(todo) <= 1:
        _work(todo, str(out), 0)
    else:
        jobs = [(todo[j :: args.jobs], str(out), j, os.getpid()) for j in range(args.jobs)]
        procs = [ctx.Process(target=_work, args=job) for job in jobs]
        signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated; rerun to resume"))
        try:
            for p in procs:
                p.start()
            for p in procs:
                p.join()
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
        if any(p.exitcode for p in procs):
            sys.exit(f"a recording process failed (exit codes {[p.exitcode for p in procs]}); rerun to resume")
    print(f"recorded {len(todo)} rows in {time.time() - t0:.0f} s", flush=True)
    for task, (configs, space, seeds, steps, _) in plan.items():
        if not _shards(out, task):
            continue  # nothing new: the table (if complete) is already written
        rows = _done(out, task)
        wanted = [(c, s) for c in range(len(configs)) for s in seeds]
        if any(key not in rows for key in wanted):
            continue
        ordered = [rows[key] for key in wanted]
        names = list(ordered[0]["metrics"])
        head = header(task, len(configs), seeds, args.config_seed, space, names, steps, command)
        _write(out / f"{task}.jsonl.gz", [head, *ordered])
        for shard in _shards(out, task):
            shard.unlink()
        size = (out / f"{task}.jsonl.gz").stat().st_size
        print(f"{task}: table complete, {len(ordered)} rows, {size / 1e6:.2f} MB", flush=True)


def _estimate(tasks: list[str], args: argparse.Namespace) -> None:
    """Time ``args.estimate`` configurations per task (one thread) and extrapolate to the full table."""
    import torch

    torch.set_num_threads(1)
    total = 0.0
    for task in tasks:
        configs, _ = draw_configs(task, max(args.configs, args.estimate), args.config_seed)
        step = max(1, len(configs) // args.estimate)
        steps = args.max_steps or get_task(task).max_steps
        per_row = 0.0
        for config in range(0, step * args.estimate, step):
            row = record_row(task, configs[config], config, 0, steps)
            per_row += sum(s or 0.0 for s in row["step_seconds"]) + row["save_seconds"] + row["load_seconds"]
        per_row /= args.estimate
        seeds = args.seeds or SEEDS.get(task, 1)
        minutes = per_row * args.configs * seeds / 60
        total += minutes
        print(f"{task}: {per_row / steps:.3f} s/step, {per_row:.1f} s/row -> {args.configs} configs x {seeds} "
              f"seeds x {steps} steps ~ {minutes:.0f} core-minutes", flush=True)  # fmt: skip
    print(f"total ~ {total:.0f} core-minutes", flush=True)


if __name__ == "__main__":
    main()
