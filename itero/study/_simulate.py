"""Run a study on simulated time: N workers of the real engine, interleaved on a ``FakeClock``.

    >>> import itero
    >>> from itero.executors import FakeClock
    >>> from itero.store import Store
    >>> clock = FakeClock()
    >>> study = itero.create_study("sim", storage=Store("sqlite://", clock=clock), scheduler="fifo", tracking=False)
    >>> def objective(trial):
    ...     x = trial.suggest_float("x", 0.0, 1.0)
    ...     for step in trial.steps(max_steps=4):
    ...         clock.sleep(10.0)                      # where real training would spend 10 s
    ...         trial.report(step, {"value": x / step})
    >>> simulate(study, objective, n_workers=2, n_trials=6)    # simulated seconds it took
    120.0

Every report is written when it is made, so the store holds the run exactly as it unfolded in simulated time.
The store must have been opened with the same clock (``Store(url, clock=clock)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from itero.exceptions import ConfigError
from itero.executors import FakeClock, Simulation, Trial, Worker
from itero.store._cache import StudyCache
from itero.study._optimize import Study, check_limits, open_run


def simulate(
    study: Study,
    objective: Callable[[Trial], Any],
    *,
    n_workers: int = 1,
    n_trials: int | None = None,
    max_steps_total: int | None = None,
    timeout: float | None = None,
) -> float:
    """Run ``objective`` with ``n_workers`` simulated workers until the limits (as in ``Study.optimize``; the
    ``timeout`` in simulated seconds) or the scheduler end the run; returns the simulated seconds it took."""
    clock = study.store.clock
    if not isinstance(clock, FakeClock):
        raise ConfigError("simulate needs a study whose store runs on a FakeClock: Store(url, clock=FakeClock())")
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ConfigError(f"n_workers must be an integer >= 1, got {n_workers!r}")
    check_limits(n_trials, max_steps_total, timeout)
    budget = open_run(study, n_trials, max_steps_total, timeout)
    assert budget.run_id is not None
    start = clock.now
    sim = Simulation(clock)
    for _ in range(n_workers):
        cache = StudyCache(study.store, study.id, study.name, study.directions)
        sim.add(Worker(study._context(study.store, cache, budget, simulated=True), objective))
    try:
        sim.run()
    finally:
        study.store.end_run(budget.run_id)
        study._cache.refresh()
    return clock.now - start
