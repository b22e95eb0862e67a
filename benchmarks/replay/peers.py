"""The peers on the same tables, each through its own public API, on the same simulated clock as itero.

- Optuna 5: TPE with the SuccessiveHalvingPruner, TPE with the HyperbandPruner, and full-fidelity TPE
  (``optuna-tpe-sh``, ``optuna-tpe-hb``, ``optuna-tpe``), each worker asking and telling one in-memory study, as
  parallel Optuna workers share one storage;
- the one-epoch baseline of Egele et al. (2024), ``i-epoch``: random configurations trained one step for half the
  budget, then the best three trained to ``max_steps``.

Workers are functions in greenlets (``itero.executors.Stepper``) stepped by itero's own ``Simulation`` in
simulated-time order: a worker runs until its objective sleeps on the clock, and the worker due first goes on. Syne Tune and DEHB need numpy < 2 and run in their own environment
(see the replay README).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.replay.simulate import Replay, Trace, suggest
from itero.executors import FakeClock, Simulation, Stepper
from itero.tasks._tables import Table

PEER_METHODS = ("optuna-tpe", "optuna-tpe-sh", "optuna-tpe-hb", "i-epoch")


def _simulate(clock: FakeClock, fns: list[Callable[[], Any]]) -> None:
    """Run each function as a simulated worker on ``clock``, in simulated-time order, until all return."""
    sim = Simulation(clock)
    for fn in fns:
        sim.add(Stepper(fn))
    sim.run()


def run_optuna(table: Table, method: str, *, seed: int, n_workers: int, budget: float) -> Trace:
    """Optuna's TPE (``method``: ``optuna-tpe``, ``-sh`` or ``-hb`` for its pruners) with ``n_workers`` workers
    until ``budget`` full trainings' worth of steps are spent."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    clock = FakeClock(start=0.0)
    replay, trace = Replay(table, seed), Trace()
    budget_steps = int(budget * table.max_steps)
    multi = len(replay.metrics) > 1
    pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
    if method == "optuna-tpe-sh" and not multi:
        pruner = optuna.pruners.SuccessiveHalvingPruner()
    elif method == "optuna-tpe-hb" and not multi:
        pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=table.max_steps)
    directions = [table.objectives[m] for m in replay.metrics]
    study = optuna.create_study(  # a fixed name: Hyperband assigns brackets by a hash of it
        study_name=f"replay-{table.task}-{seed}",
        directions=directions,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner,
    )
    done = False

    def objective(trial: Any) -> Any:
        nonlocal done
        params = suggest(trial, table.space)
        row, s = replay.index.row(params), replay.seed_of(trial.number)
        trace.rows[trial.number] = (row, s)
        for step in range(1, table.max_steps + 1):
            if trace.steps >= budget_steps:
                done = True
                raise optuna.TrialPruned("budget spent")
            seconds = replay.step_seconds(row, s, step)
            clock.sleep(seconds)
            trace.charge(seconds, steps=1)
            values = replay.values(row, s, step, replay.metrics)
            if not multi:
                trial.report(values[0], step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        replay.complete(trace, clock.now, row, s)
        return values if multi else values[0]

    def worker() -> None:  # ask and tell: optimize() refuses to run twice in one thread, and greenlets share one
        while not done:
            trial = study.ask()
            try:
                value = objective(trial)
            except optuna.TrialPruned:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, value)

    _simulate(clock, [worker for _ in range(n_workers)])
    return trace


def run_iepoch(table: Table, *, seed: int, n_workers: int, budget: float) -> Trace:
    """i-Epoch: random configurations trained one step until half the budget is spent, then the best three
    (by their one-step validation value) trained on to ``max_steps`` from their checkpoints."""
    clock = FakeClock(start=0.0)
    replay, trace = Replay(table, seed), Trace()
    budget_steps = int(budget * table.max_steps)
    rng = np.random.default_rng(seed)
    metric = replay.metrics[0]
    sign = -1.0 if table.objectives[metric] == "maximize" else 1.0
    names = list(table.space)
    first: list[tuple[float, int, int, int]] = []  # (loss after one step, order, row, seed)
    counter = itertools.count()

    def one_step_worker() -> None:
        while trace.steps < budget_steps // 2:
            params = {n: table.space[n].from_unit(float(rng.random())) for n in names}
            key = next(counter)
            row, s = replay.index.row(params), replay.seed_of(key)
            seconds = replay.step_seconds(row, s, 1) + float(table.save_seconds[row, s])
            clock.sleep(seconds)
            trace.charge(seconds, steps=1)
            value = replay.values(row, s, 1, [metric])[0]
            loss = sign * value if math.isfinite(value) else math.inf
            first.append((loss, key, row, s))

    _simulate(clock, [one_step_worker for _ in range(n_workers)])
    best = sorted(first)[:3]

    def finish(row: int, s: int) -> Callable[[], None]:
        def run() -> None:
            load = float(table.load_seconds[row, s])
            clock.sleep(load)
            trace.charge(load)
            for step in range(2, table.max_steps + 1):
                seconds = replay.step_seconds(row, s, step)
                clock.sleep(seconds)
                trace.charge(seconds, steps=1)
            replay.complete(trace, clock.now, row, s)

        return run

    jobs = deque(finish(row, s) for _, _, row, s in best)

    def pull() -> None:  # each free worker takes the next of the three
        while jobs:
            jobs.popleft()()

    _simulate(clock, [pull for _ in range(min(n_workers, len(jobs)))])
    return trace


def run_peer(table: Table, method: str, *, seed: int, n_workers: int, budget: float) -> Trace:
    if method.startswith("optuna-"):
        return run_optuna(table, method, seed=seed, n_workers=n_workers, budget=budget)
    if method == "i-epoch":
        return run_iepoch(table, seed=seed, n_workers=n_workers, budget=budget)
    raise ValueError(f"unknown peer method {method!r}; known: {PEER_METHODS}")
