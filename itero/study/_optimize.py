"""``Study.optimize``: check the limits, open an optimize run in the store, and run its workers.

One worker runs in this process (``n_jobs=1``); with ``n_jobs=N`` as many peer processes share the run's budget
through the store, and this process restarts those that die while work is left.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from itero.exceptions import ConfigError
from itero.executors import (
    Budget,
    RunContext,
    Trial,
    Worker,
    device_slots,
    next_work,
    run_processes,
    sigterm_as_interrupt,
)
from itero.samplers import BaseSampler
from itero.schedulers import BaseScheduler
from itero.space import Distribution, check_names, named_settings
from itero.store import Store
from itero.store._cache import StudyCache
from itero.study._cluster import Peer, parse_executor, run_on_cluster
from itero.study._progress import StudyProgress
from itero.trial import FrozenTrial, TrialState


class Study(Protocol):
    """What ``optimize`` needs of a study (``itero.Study`` has it)."""

    name: str
    id: int
    directions: dict[str, str]
    store: Store
    sampler: BaseSampler
    scheduler: BaseScheduler
    tracking: bool
    params: dict[str, Any]
    space: dict[str, Distribution]
    _cache: StudyCache
    _reopen: Callable[..., Any] | None

    def _context(self, store: Store, cache: StudyCache, budget: Budget, simulated: bool = False) -> RunContext: ...


def optimize(
    study: Study,
    objective: Callable[[Trial], Any],
    n_trials: int | None = None,
    max_steps_total: int | None = None,
    timeout: float | None = None,
    n_jobs: int = 1,
    show_progress: bool | None = None,
    callbacks: Sequence[Callable[[FrozenTrial], None]] = (),
    max_energy_kwh: float | None = None,
    executor: Any = "local",
    gpus_per_trial: int = 0,
) -> None:
    """Run trials until ``n_trials`` more have been started (and finished), ``max_steps_total`` steps have been
    spent in this call, ``max_energy_kwh`` of energy has been used (measured as in ``itero.tracking``; trials
    running when it is reached stop at their next step), or ``timeout`` seconds have passed — the first
    reached. ``n_jobs`` peer worker processes share the work (``-1``: one per core). With no limit at
    all it runs until interrupted.

    Whatever ``n_trials`` says, a run first finishes what the study has started: trials given back as WAITING
    (Ctrl-C, a dead worker) and paused trials its scheduler resumes (or a person did: ``resume_trial``);
    ``n_trials`` counts only new trials, enqueued ones (``enqueue``) included, so ``n_trials=0`` starts none and
    only finishes those.

    ``executor``: where the ``n_jobs`` peers run — ``"local"`` processes (default), ``"ray"`` tasks or ``"dask"``
    tasks (``{"name": "ray", "address": ..., "cpus_per_trial": 1, "gpus_per_trial": 1}``, or a
    ``dask.distributed.Client``), all against the same store. ``gpus_per_trial``: GPUs each peer reserves (Ray,
    Dask resources) or is given (local processes: its own ``CUDA_VISIBLE_DEVICES``)."""
    check_limits(n_trials, max_steps_total, timeout)
    if max_energy_kwh is not None:
        check_positive("max_energy_kwh", max_energy_kwh)
        if not study.tracking:
            raise ConfigError("max_energy_kwh needs energy tracking, but this study has tracking=False")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(f"n_jobs must be an integer >= 1 (or -1 for one per core), got {n_jobs!r}")
    if isinstance(gpus_per_trial, bool) or not isinstance(gpus_per_trial, int) or gpus_per_trial < 0:
        raise ConfigError(f"gpus_per_trial must be an integer >= 0, got {gpus_per_trial!r}")
    where = parse_executor(executor, gpus_per_trial)
    if where.name != "local" and study.store.in_memory:
        raise ConfigError(
            f"executor {where.name!r} needs a store its peers can reach; {study.store.url!r} is in memory: use "
            "a database they all reach, such as PostgreSQL (or SQLite on a shared disk for one machine)"
        )
    if where.name == "local" and where.gpus_per_trial != int(where.gpus_per_trial):
        raise ConfigError(f"local workers take whole GPUs: gpus_per_trial={where.gpus_per_trial!r}")
    envs = device_slots(n_jobs, int(where.gpus_per_trial)) if where.name == "local" else []
    if n_jobs > 1 and study.store.in_memory:
        raise ConfigError(
            f"n_jobs={n_jobs} needs a store the worker processes can share; {study.store.url!r} is in memory: "
            "use a file such as 'sqlite:///itero.db'"
        )
    if not callable(objective):
        raise ConfigError(f"objective must be callable, got {type(objective).__name__}")
    study.store.artifacts_for(study.id).check()  # at start-up, not at the first checkpoint: a clear error
    cache = study._cache
    budget = open_run(study, n_trials, max_steps_total, timeout, max_energy_kwh)
    run_id = budget.run_id
    assert run_id is not None
    progress = StudyProgress(cache, study.name, n_trials, max_steps_total, timeout, enabled=show_progress)
    names = NameCheck(study)
    if callbacks and (n_jobs > 1 or where.name != "local" or envs):
        raise ConfigError("callbacks run in this process only: with local workers, n_jobs=1 and no gpus_per_trial")

    def poll() -> None:
        progress.update()
        names()

    try:
        with progress, sigterm_as_interrupt():
            if where.name != "local":
                if study._reopen is None:
                    raise ConfigError(f"executor {where.name!r}: open the study with itero.create_study or load_study")
                peer = Peer(study.store.url, study.store.mount, study.name, budget, study._reopen)
                run_on_cluster(
                    where,
                    peer,
                    objective,
                    n_jobs,
                    lambda: _work_left(study, budget),
                    poll,
                    lambda: study.store.end_run(run_id),
                    max_restarts=3 * n_jobs + 100,
                )
            elif n_jobs == 1 and not envs:

                def on_end(t: FrozenTrial) -> None:
                    poll()
                    for cb in callbacks:
                        cb(t)

                watch = on_end if (progress.enabled or callbacks or not names.done) else None
                Worker(study._context(study.store, cache, budget), objective, watch).run()
            else:
                _run_parallel(study, objective, n_jobs, budget, poll, envs)
    finally:
        study.store.end_run(run_id)
        cache.refresh()


class NameCheck:
    """Once a trial of the study has run (not failed), names under ``params``/``space`` that no trial suggested
    stop the run with a ConfigError naming them: a misspelt name would otherwise be ignored."""

    def __init__(self, study: Study) -> None:
        self.named = named_settings(study.params, study.space)
        self.cache = study._cache
        self.done = not self.named

    def __call__(self) -> None:
        if self.done:
            return
        ran = [t for t in self.cache.refresh().trials if t.state in _RAN]
        if ran:
            self.done = True
            check_names(self.named, set().union(*(t.params for t in ran)), "the objective")


_RAN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.PAUSED)


def open_run(
    study: Study,
    n_trials: int | None,
    max_steps_total: int | None,
    timeout: float | None,
    max_energy_kwh: float | None = None,
) -> Budget:
    """Record a new optimize run of ``study`` in the store, with its limits; its budget counts from now."""
    cache = study._cache
    cache.refresh()
    deadline = study.store.clock.time() + timeout if timeout is not None else None
    max_energy_j = None if max_energy_kwh is None else float(max_energy_kwh) * 3.6e6
    run_id = study.store.create_run(
        study.id, n_trials, max_steps_total, cache.steps_spent, deadline, max_energy_j, cache.energy_j
    )
    return Budget(
        run_id=run_id,
        max_steps=max_steps_total,
        deadline=deadline,
        max_energy_j=max_energy_j,
        energy_at_start=cache.energy_j,
        n_trials=n_trials,
    )


def check_limits(n_trials: int | None, max_steps_total: int | None, timeout: float | None) -> None:
    """Validate the limits of a run, naming the bad one."""
    check_count("n_trials", n_trials, minimum=0)
    check_count("max_steps_total", max_steps_total)
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0 or not math.isfinite(timeout)
    ):
        raise ConfigError(f"timeout must be a positive number of seconds or None, got {timeout!r}")


def _run_parallel(
    study: Study,
    objective: Callable[[Trial], Any],
    n_jobs: int,
    budget: Budget,
    poll: Callable[[], None],
    envs: list[dict[str, str]],
) -> None:
    url, mount = study.store.url, study.store.mount

    def make_worker() -> Worker:
        store = Store(url, artifacts=mount)  # a fresh connection pool in the child process
        child_cache = StudyCache(store, study.id, study.name, study.directions)
        return Worker(study._context(store, child_cache, budget), objective)

    def release(pid: int) -> list[int]:
        released: list[int] = []
        for wid in study.store.workers_of_process(study.id, pid):
            released += study.store.release_trials(study.id, worker_id=wid)
        return released

    study.store.engine.dispose()  # children must not share the parent's connections
    run_processes(
        n_jobs, make_worker, release, lambda: _work_left(study, budget), poll, max_restarts=3 * n_jobs + 100, envs=envs
    )


def _work_left(study: Study, budget: Budget) -> bool:
    cache = study._cache
    return next_work(study._context(study.store, cache, budget), cache.refresh()).suggestion is not None


def check_count(name: str, value: Any, minimum: int = 1) -> None:
    """``value`` is None or an integer >= ``minimum``; a ConfigError naming ``name`` otherwise."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise ConfigError(f"{name} must be an integer >= {minimum} or None, got {value!r}")


def check_positive(name: str, value: Any) -> None:
    """``value`` is None or a finite number > 0; a ConfigError naming ``name`` otherwise."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value))
    ):
        raise ConfigError(f"{name} must be a positive number or None, got {value!r}")
