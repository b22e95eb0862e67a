"""Throughput of peers on one store: trivial TPE trials per second with 1, 2, 4 and 8 processes, itero against
Optuna 5 with the same processes, on SQLite and PostgreSQL (and Optuna's JournalStorage on Redis).

    PYTHONPATH=. python benchmarks/scale.py --procs 1 2 4 8 --history 400 --trials 600 --seeds 3

Each measurement: a study pre-filled with ``--history`` trials of the same objective, then ``--trials`` more
run by N processes together; trials/s = trials / wall seconds of that second phase (process start included).
So the figure is at a history of ``history``..``history + trials`` trials. Results: ``results/scale.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.overhead import _optuna_history  # the same objective's history, as overhead.py pre-fills it

RESULTS = Path(__file__).with_name("results")
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
OPTUNA_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/scale_optuna"  # its own database: both use alembic
REDIS = "redis://127.0.0.1:6379"


def _values(x: float, y: int, z: str) -> float:
    return (x - 1) ** 2 + y + (z == "b")


# ------------------------------------------------------------------------------------------- itero
def itero_objective(trial: Any) -> float:
    return _values(
        trial.suggest_float("x", 1e-3, 10.0, log=True),
        trial.suggest_int("y", 0, 10),
        trial.suggest_categorical("z", ["a", "b", "c"]),
    )


def itero_run(storage: str, procs: int, history: int, trials: int, seed: int) -> float:
    import itero

    name = f"scale-{uuid.uuid4().hex[:8]}"
    study = itero.create_study(
        name, storage=storage, objectives={"value": "minimize"}, sampler={"name": "tpe", "seed": seed}, scheduler="fifo"
    )
    study.optimize(itero_objective, n_trials=history, show_progress=False, n_jobs=1)
    t0 = time.perf_counter()
    study.optimize(itero_objective, n_trials=trials, n_jobs=procs, show_progress=False)
    seconds = time.perf_counter() - t0
    assert len(study.trials) == history + trials
    return trials / seconds


# ------------------------------------------------------------------------------------------- Optuna
def optuna_objective(trial: Any) -> float:
    return _values(
        trial.suggest_float("x", 1e-3, 10.0, log=True),
        trial.suggest_int("y", 0, 10),
        trial.suggest_categorical("z", ["a", "b", "c"]),
    )


def _optuna_storage(kind: str, url: str) -> Any:
    import optuna

    if kind == "redis":
        from optuna.storages.journal import JournalRedisBackend

        return optuna.storages.JournalStorage(JournalRedisBackend(url))
    return url


def _optuna_child(kind: str, url: str, name: str, n: int, seed: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(
        study_name=name, storage=_optuna_storage(kind, url), sampler=optuna.samplers.TPESampler(seed=seed)
    )
    study.optimize(optuna_objective, n_trials=n)


def optuna_run(kind: str, url: str, procs: int, history: int, trials: int, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    name = f"scale-{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(study_name=name, storage=_optuna_storage(kind, url))
    study.add_trials(_optuna_history(history, seed))
    ctx = mp.get_context("fork")
    shares = [trials // procs + (i < trials % procs) for i in range(procs)]
    t0 = time.perf_counter()
    children = [ctx.Process(target=_optuna_child, args=(kind, url, name, n, seed + i)) for i, n in enumerate(shares)]
    for c in children:
        c.start()
    for c in children:
        c.join()
    seconds = time.perf_counter() - t0
    assert all(c.exitcode == 0 for c in children)
    return trials / seconds


def _database(url: str) -> str:
    """``url``, its database created first when missing (Optuna and itero both keep an ``alembic_version``)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return url


# ------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--history", type=int, default=400)
    parser.add_argument("--trials", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--tools",
        nargs="+",
        default=["itero-sqlite", "itero-postgresql", "optuna-sqlite", "optuna-postgresql", "optuna-redis"],
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "scale")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for tool in args.tools:
        for procs in args.procs:
            rates = []
            for seed in range(args.seeds):
                folder = tempfile.mkdtemp()
                sqlite = f"sqlite:///{folder}/scale.db"
                if tool == "itero-sqlite":
                    rate = itero_run(sqlite, procs, args.history, args.trials, seed)
                elif tool == "itero-postgresql":
                    rate = itero_run(PG, procs, args.history, args.trials, seed)
                elif tool == "optuna-sqlite":
                    rate = optuna_run("rdb", sqlite, procs, args.history, args.trials, seed)
                elif tool == "optuna-postgresql":
                    rate = optuna_run("rdb", _database(OPTUNA_PG), procs, args.history, args.trials, seed)
                else:
                    rate = optuna_run("redis", REDIS, procs, args.history, args.trials, seed)
                rates.append(rate)
            row = {
                "tool": tool,
                "procs": procs,
                "trials_per_s": round(statistics.median(rates), 1),
                "min": round(min(rates), 1),
                "max": round(max(rates), 1),
                "seeds": args.seeds,
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    command = (
        f"PYTHONPATH=. python benchmarks/scale.py --procs {' '.join(map(str, args.procs))} --history {args.history} "
        f"--trials {args.trials} --seeds {args.seeds} --tools {' '.join(args.tools)}"
    )
    import optuna

    meta = {
        "command": command,
        "optuna": optuna.__version__,
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    md = [
        "# Throughput of peers on one store (trivial TPE trials per second)",
        "",
        f"Command: `{command}` — Optuna {meta['optuna']}, Python {meta['python']}, {meta['cores']} cores, {meta['date']}.",
        "",
        f"A study pre-filled with {args.history} trials, then {args.trials} more by N processes together; trials/s ="
        " trials / wall seconds (process start included). Median over seeds, [min, max].",
        "",
        "| tool | " + " | ".join(f"{p} proc" for p in args.procs) + " |",
        "| --- | " + " | ".join("---:" for _ in args.procs) + " |",
    ]
    for tool in args.tools:
        cells = []
        for p in args.procs:
            r = next(r for r in rows if r["tool"] == tool and r["procs"] == p)
            cells.append(f"{r['trials_per_s']:.0f} [{r['min']:.0f}, {r['max']:.0f}]")
        md.append(f"| {tool} | " + " | ".join(cells) + " |")
    args.out.with_suffix(".md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
