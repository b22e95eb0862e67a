"""Replay a learning-curve table through itero's real engine on simulated time.

    table = load_table("benchmarks/replay/tables/friedman-mlp.jsonl.gz")
    trace = run_itero(table, "asha", seed=0, n_workers=4, budget=100)    # compute of 100 full trainings
    trace.completions[-1]          # the last trial that trained to max_steps: when, after how much compute, ...

Everything but the objective is itero's own code: ``Study``, the store (in memory), the workers' decisions, the
schedulers and samplers, driven by ``itero.study.simulate`` on a ``FakeClock``. The objective suggests the
table's own space; each proposal is answered by a recorded configuration (``RowIndex``) trained with one of the
recorded training seeds (drawn per trial from the run's seed, so a resumed trial keeps its seed); each step
sleeps its recorded CPU seconds on the clock, a restore the checkpoint's recorded load seconds, a checkpoint the
recorded save seconds. So one worker's simulated time is the compute it spent, and N workers interleave as N
real workers would.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.tasks._tables import Table

# itero's methods on the replay: a sampler and a scheduler spec each (``max_steps`` is the table's).
ITERO_METHODS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "itero-tpe": ({"name": "tpe"}, {"name": "fifo"}),
    "itero-random": ({"name": "random"}, {"name": "fifo"}),
    "itero-asha": ({"name": "tpe"}, {"name": "asha", "min_steps": 1, "eta": 3}),
    "itero-hyperband": ({"name": "tpe"}, {"name": "hyperband", "min_steps": 1, "eta": 3}),
    "itero-bohb": ({"name": "tpe"}, {"name": "bohb", "min_steps": 1, "eta": 3}),
    "itero-median": ({"name": "tpe"}, {"name": "median"}),
    "itero-auto": ({"name": "tpe"}, {"name": "auto"}),
    "itero-auto-random": ({"name": "random"}, {"name": "auto"}),
}
DEFAULT_METHOD = "itero-tpe"  # what create_study gives without options: TPE, FIFO


class RowIndex:
    """Answers a proposed configuration with a recorded one: the same configuration when it was recorded, else
    its nearest neighbour in the unit cube (numeric parameters by their unit encoding, log-scaled where the
    space is; a categorical parameter adds 1 when it differs). Ties go to the lowest row."""

    def __init__(self, table: Table) -> None:
        self.names = list(table.space)
        self.space = table.space
        self._numeric = [n for n in self.names if not isinstance(table.space[n], CategoricalDistribution)]
        self._categorical = [n for n in self.names if isinstance(table.space[n], CategoricalDistribution)]
        self._u = np.array([[self.space[n].to_unit(p[n]) for n in self._numeric] for p in table.params], dtype=float)
        self._c = [[p[n] for n in self._categorical] for p in table.params]
        self._cat = np.array([[self._cat_code(n, p[n]) for n in self._categorical] for p in table.params], dtype=float)
        self._exact = {_key(p, self.names): i for i, p in reversed(list(enumerate(table.params)))}

    def _cat_code(self, name: str, value: Any) -> int:
        dist = self.space[name]
        assert isinstance(dist, CategoricalDistribution)
        return dist.choices.index(value)

    def row(self, params: Mapping[str, Any]) -> int:
        missing = [n for n in self.names if n not in params]
        if missing:
            raise ValueError(f"the table cannot answer a proposal without parameter {missing[0]!r}: {dict(params)}")
        exact = self._exact.get(_key(params, self.names))
        if exact is not None:
            return exact
        for name in self.names:
            if not self.space[name].contains(params[name]):
                raise ValueError(f"proposal {name}={params[name]!r} is outside the table's space ({self.space[name]})")
        d = np.zeros(len(self._u))
        if self._numeric:
            u = np.array([self.space[n].to_unit(params[n]) for n in self._numeric])
            d += ((self._u - u) ** 2).sum(axis=1)
        if self._categorical:
            c = np.array([self._cat_code(n, params[n]) for n in self._categorical], dtype=float)
            d += (self._cat != c).sum(axis=1)
        return int(np.argmin(d))


def _key(params: Mapping[str, Any], names: list[str]) -> tuple[Any, ...]:
    return tuple(repr(params.get(n)) for n in names)


def suggest(trial: Any, space: Mapping[str, Distribution]) -> dict[str, Any]:
    """The table's space through ``trial.suggest_*`` (an itero or Optuna trial)."""
    out: dict[str, Any] = {}
    for name, dist in space.items():
        if isinstance(dist, FloatDistribution):
            if dist.step is not None:
                out[name] = trial.suggest_float(name, dist.low, dist.high, step=dist.step)
            else:
                out[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
        elif isinstance(dist, IntDistribution):
            out[name] = trial.suggest_int(name, int(dist.low), int(dist.high), log=dist.log, step=int(dist.step))
        elif isinstance(dist, CategoricalDistribution):
            out[name] = trial.suggest_categorical(name, list(dist.choices))
        else:  # pragma: no cover - every kind is above
            raise TypeError(f"parameter {name!r}: unsupported distribution {dist!r}")
    return out


@dataclass(frozen=True)
class Completion:
    """A trial trained to ``max_steps``: when (simulated wall seconds since the start), after how much compute
    (steps and CPU seconds of all workers), which table row and seed, and its final validation and test values
    (one per objective)."""

    time: float
    steps: int
    seconds: float
    row: int
    seed: int
    values: tuple[float, ...]
    tests: tuple[float, ...]


@dataclass
class Trace:
    """The compute a run spent and the trials it completed, in simulated-time order."""

    steps: int = 0
    seconds: float = 0.0
    completions: list[Completion] = field(default_factory=list)
    rows: dict[int, tuple[int, int]] = field(default_factory=dict)  # trial key -> (row, seed index)

    def charge(self, seconds: float, steps: int = 0) -> None:
        self.steps += steps
        self.seconds += seconds if math.isfinite(seconds) else 0.0


class Replay:
    """One table prepared for replay: its row index, objectives, and per-trial training seeds.

    ``objective_metrics`` are the table's objectives (validation metrics and costs such as ``flops``);
    ``seed`` picks each trial's training seed, so that two runs with the same seed replay the same curves."""

    def __init__(self, table: Table, seed: int) -> None:
        self.table = table
        self.index = RowIndex(table)
        self.seed = seed
        self.metrics = list(table.objectives)
        self.tests = [table.test_metric(m) for m in self.metrics]
        self.report_names = list(dict.fromkeys([*self.metrics, *self.tests]))

    def seed_of(self, key: int) -> int:
        """The training seed (index into the table's seeds) of trial ``key``: a function of the run's seed."""
        n = len(self.table.seeds)
        if n == 1:
            return 0
        digest = hashlib.blake2b(f"{self.seed}:{key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") % n

    def values(self, row: int, seed: int, step: int, names: list[str]) -> tuple[float, ...]:
        return tuple(float(self.table.curves[m][row, seed, step - 1]) for m in names)

    def step_seconds(self, row: int, seed: int, step: int) -> float:
        s = float(self.table.step_seconds[row, seed, step - 1])
        return s if math.isfinite(s) else 0.0

    def complete(self, trace: Trace, now: float, row: int, seed: int) -> None:
        t = self.table.max_steps
        trace.completions.append(
            Completion(now, trace.steps, trace.seconds, row, seed, self.values(row, seed, t, self.metrics),
                       self.values(row, seed, t, self.tests))
        )  # fmt: skip


def itero_objective(
    replay: Replay, clock: Any, trace: Trace, oracle: np.ndarray | None = None
) -> Callable[[Any], None]:
    """The objective an itero study runs on ``replay``: real suggestions, recorded curves, simulated seconds.
    ``oracle`` (configs x seeds, bool): a clairvoyant stopping rule for ``floor.py`` — a trial whose row and seed
    are not marked ends after its first step, as if every decision were right and taken as early as possible."""
    table = replay.table

    def objective(trial: Any) -> None:
        params = suggest(trial, table.space)
        row, seed = replay.index.row(params), replay.seed_of(trial.number)
        trace.rows[trial.number] = (row, seed)
        if trial.restore() is not None:
            clock.sleep(float(table.load_seconds[row, seed]))
            trace.charge(float(table.load_seconds[row, seed]))
        last = trial.start_step
        for step in trial.steps(max_steps=table.max_steps):
            seconds = replay.step_seconds(row, seed, step)
            clock.sleep(seconds)
            trace.charge(seconds, steps=1)
            metrics = dict(zip(replay.report_names, replay.values(row, seed, step, replay.report_names), strict=True))
            trial.report(step, metrics, state=lambda step=step: _save(clock, trace, table, row, seed, step))
            last = step
            if oracle is not None and not oracle[row, seed]:
                break
        if last == table.max_steps:
            replay.complete(trace, clock.now, row, seed)

    return objective


def _save(clock: Any, trace: Trace, table: Table, row: int, seed: int, step: int) -> dict[str, int]:
    """A checkpoint is only ever asked for when the scheduler needs one: charge its recorded save seconds."""
    seconds = float(table.save_seconds[row, seed])
    clock.sleep(seconds)
    trace.charge(seconds)
    return {"row": row, "step": step}


def run_itero(
    table: Table,
    method: str,
    *,
    seed: int,
    n_workers: int,
    budget: float,
    sources: Mapping[str, tuple[dict[str, str], list[tuple[dict[str, Any], float]]]] | None = None,
    oracle: np.ndarray | None = None,
) -> Trace:
    """Run itero's ``method`` (a key of ``ITERO_METHODS``) on ``table`` with ``n_workers`` simulated workers
    until it has spent ``budget`` full trainings' worth of steps (or has nothing left to run). ``sources``:
    earlier studies to warm-start from, by name: their objectives and their complete trials' (params, value),
    stored beside the study before it starts (their compute is not counted). ``oracle``: see
    ``itero_objective``."""
    import itero
    from itero.executors import FakeClock
    from itero.store import Store
    from itero.study import simulate

    sampler, scheduler = ITERO_METHODS[method]
    clock = FakeClock(start=0.0)
    store = Store("sqlite://", clock=clock)
    for name, (objectives, rows) in (sources or {}).items():
        source = itero.create_study(name, storage=store, objectives=objectives, scheduler="fifo", tracking=False)
        for params, value in rows:
            trial = source.ask(fixed=params)
            suggest(trial, table.space)
            source.tell(trial, value)
    directions = table.objectives
    study = itero.create_study(
        f"replay-{table.task}-{method}-{seed}",
        storage=store,
        objectives=directions,
        sampler={**sampler, "seed": seed},
        scheduler={**scheduler, "max_steps": table.max_steps},
        tracking=False,
        warm_start_from=list(sources or ()),
    )
    trace = Trace()
    replay = Replay(table, seed)
    simulate(
        study,
        itero_objective(replay, clock, trace, oracle),
        n_workers=n_workers,
        max_steps_total=int(budget * table.max_steps),
    )
    return trace
