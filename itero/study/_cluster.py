"""Peers on a cluster engine: each peer is a Ray task (reserving one trial's CPUs and GPUs) or a task of a
dask.distributed client, running the same worker loop against the same store as local worker processes.

    study.optimize(objective, n_trials=200, n_jobs=16, executor="ray")                 # ray.init() as set up
    study.optimize(objective, n_jobs=8, executor={"name": "ray", "address": "10.0.0.5:6379", "gpus_per_trial": 1})
    study.optimize(objective, n_jobs=8, executor={"name": "dask", "address": "tcp://10.0.0.5:8786"})

The parent only watches: it shows progress, starts a replacement when a peer dies while work is left, and on
Ctrl-C (or an error) ends the optimize run, which peers see at their next heartbeat: each gives its running
trial back as WAITING and stops.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from itero.exceptions import ConfigError, IteroError
from itero.executors import Budget, Worker
from itero.executors._worker import HEARTBEAT_SECONDS

logger = logging.getLogger("itero")

EXECUTORS = ("local", "ray", "dask")
_NOT_MAIN = object()
EARLY_SECONDS = 10.0  # a peer that fails sooner than this after its start did not get to work


@dataclass(frozen=True)
class ExecutorSpec:
    """Where the peers run: ``local`` processes, ``ray`` tasks or ``dask`` tasks (``address`` of the cluster, or
    a ``dask.distributed.Client``; None: Ray's and Dask's own defaults, e.g. ``RAY_ADDRESS``)."""

    name: str = "local"
    address: str | None = None
    client: Any = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0


def parse_executor(executor: Any, gpus_per_trial: float = 0.0) -> ExecutorSpec:
    """``"local"``, ``"ray"``, ``"dask"``, ``{"name": ..., "address": ..., "cpus_per_trial": ..., "gpus_per_trial":
    ...}`` or a ``dask.distributed.Client``; a clear ConfigError otherwise."""
    if type(executor).__name__ == "Client" and type(executor).__module__.startswith("distributed"):
        return ExecutorSpec("dask", client=executor, gpus_per_trial=gpus_per_trial)
    options: Any = {"name": executor} if isinstance(executor, str) else executor
    if not isinstance(options, Mapping) or options.get("name") not in EXECUTORS:
        raise ConfigError(
            f"executor: got {executor!r}; expected one of {', '.join(EXECUTORS)}, "
            "a mapping {name: ray, address: ...} or a dask.distributed.Client"
        )
    unknown = set(options) - {"name", "address", "cpus_per_trial", "gpus_per_trial"}
    if unknown:
        raise ConfigError(
            f"executor: unknown option(s) {sorted(unknown)}; allowed: address, cpus_per_trial, gpus_per_trial"
        )
    spec = ExecutorSpec(
        name=str(options["name"]),
        address=options.get("address"),
        cpus_per_trial=options.get("cpus_per_trial", 1.0),
        gpus_per_trial=options.get("gpus_per_trial", gpus_per_trial),
    )
    for option in ("cpus_per_trial", "gpus_per_trial"):
        value = getattr(spec, option)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"executor.{option} must be a number >= 0, got {value!r}")
    return spec


@dataclass(frozen=True)
class Peer:
    """What a peer needs to join the run, sent to the cluster (picklable): the store, the study, the run's
    budget and where this machine's checkpoints are."""

    url: str
    mount: str | None
    study: str
    budget: Budget
    open_study: Callable[..., Any]  # itero.load_study (sent by reference)


def run_peer(peer: Peer, objective: Callable[..., Any]) -> int:
    """In a Ray or Dask task: open the study, run trials until nothing is left or the run is stopped; the number
    of trial runs made."""
    study = peer.open_study(peer.study, storage=peer.url, artifacts=peer.mount)
    worker = Worker(study._context(study.store, study._cache, peer.budget), objective)
    try:
        return worker.run()
    except KeyboardInterrupt:  # the run was stopped: the trial is back to WAITING
        return worker.runs
    finally:
        study.store.dispose()


def run_on_cluster(
    spec: ExecutorSpec,
    peer: Peer,
    objective: Callable[..., Any],
    n_jobs: int,
    work_left: Callable[[], bool],
    poll: Callable[[], None],
    stop_run: Callable[[], None],
    max_restarts: int,
) -> None:
    """Run ``n_jobs`` peers on Ray or Dask until all end; replace those that die while ``work_left()``. On an
    exception here (Ctrl-C, an error of the poll) ``stop_run()`` ends the run and the peers are given time to
    give their trials back."""
    engine = _RayEngine(spec) if spec.name == "ray" else _DaskEngine(spec)
    jobs: list[Any] = []
    started: dict[int, float] = {}  # id(job) -> when it was submitted

    def submit() -> None:
        job = engine.submit(peer, objective)
        jobs.append(job)
        started[id(job)] = time.time()

    ctrl_c = threading.Event()
    previous = _on_ctrl_c(ctrl_c.set)
    try:
        for _ in range(n_jobs):
            submit()
        restarts = early = 0
        while jobs:
            time.sleep(0.2)
            if ctrl_c.is_set():
                raise KeyboardInterrupt
            poll()
            for job in [j for j in jobs if engine.done(j)]:
                jobs.remove(job)
                error = engine.error(job)
                if error is None:
                    continue
                if isinstance(error, IteroError):  # the user's mistake (a config error): stop the run
                    raise error
                cause = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"  # not a traceback
                logger.warning("a peer on %s ended with %s", spec.name, cause)
                early = early + 1 if time.time() - started[id(job)] < EARLY_SECONDS else 0
                if early >= 2 * n_jobs:  # peers fail as they start: replacing them would fail the same way
                    raise ConfigError(
                        f"peers on {spec.name} fail as they start ({cause}); check that "
                        "the cluster's workers can import the objective's module and itero, and reach the store"
                    ) from error
                if work_left() and restarts < max_restarts:
                    restarts += 1
                    submit()
            if not jobs and work_left() and restarts < max_restarts:
                restarts += 1  # trials were given back since: finish them
                submit()
    except BaseException:
        stop_run()
        deadline = time.time() + 3 * HEARTBEAT_SECONDS + 10
        while time.time() < deadline and not all(engine.done(j) for j in jobs):
            time.sleep(0.2)
        engine.cancel(jobs)
        raise
    finally:
        engine.close()
        if previous is not _NOT_MAIN:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _on_ctrl_c(action: Callable[[], None]) -> Any:
    """Make Ctrl-C (SIGINT) call ``action`` instead of raising KeyboardInterrupt wherever it lands — inside a Ray
    or Dask call it may be swallowed — so the watch loop raises it itself; returns the previous handler
    (``_NOT_MAIN`` outside the main thread, where signals cannot be handled)."""
    if threading.current_thread() is not threading.main_thread():
        return _NOT_MAIN
    return signal.signal(signal.SIGINT, lambda _signum, _frame: action())


def _send_file_module(objective: Callable[..., Any], pickler: Any) -> None:
    """An objective loaded from a file (``task: train.py:objective``) lives in a module only this process can
    import by name: have the engine's cloudpickle send that module's code with the task instead."""
    name = getattr(objective, "__module__", None) or ""
    if name.startswith("itero_user_") and name in sys.modules:
        pickler.register_pickle_by_value(sys.modules[name])


class _RayEngine:
    def __init__(self, spec: ExecutorSpec) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("executor 'ray' needs Ray: pip install 'itero[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():  # "local" (or None without RAY_ADDRESS): a Ray cluster in this process
            ray.init(address=None if spec.address == "local" else spec.address, log_to_driver=False)
        self.task = ray.remote(num_cpus=spec.cpus_per_trial, num_gpus=spec.gpus_per_trial, max_retries=0)(run_peer)

    def submit(self, peer: Peer, objective: Callable[..., Any]) -> Any:
        from ray import cloudpickle

        _send_file_module(objective, cloudpickle)
        return self.task.remote(peer, objective)

    def done(self, job: Any) -> bool:
        ready, _ = self.ray.wait([job], timeout=0)
        return bool(ready)

    def error(self, job: Any) -> BaseException | None:
        try:
            self.ray.get(job)
        except self.ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            return cause if isinstance(cause, BaseException) else exc
        except self.ray.exceptions.RayError as exc:  # the worker process or its node died
            return exc
        return None

    def cancel(self, jobs: list[Any]) -> None:
        for job in jobs:
            self.ray.cancel(job, force=True)

    def close(self) -> None:
        pass  # a Ray session belongs to the program that started it


class _DaskEngine:
    def __init__(self, spec: ExecutorSpec) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError("executor 'dask' needs dask.distributed: pip install 'itero[dask]'") from None
        self.own = spec.client is None
        self.client = spec.client if spec.client is not None else Client(spec.address)
        self.resources = {"GPU": spec.gpus_per_trial} if spec.gpus_per_trial else None

    def submit(self, peer: Peer, objective: Callable[..., Any]) -> Any:
        import cloudpickle

        _send_file_module(objective, cloudpickle)
        return self.client.submit(run_peer, peer, objective, pure=False, resources=self.resources, retries=0)

    def done(self, job: Any) -> bool:
        return bool(job.done())

    def error(self, job: Any) -> BaseException | None:
        if job.status == "finished":
            return None
        try:
            exc = job.exception()
        except Exception as lost:  # the task was lost with its worker
            return lost
        return exc if isinstance(exc, BaseException) else RuntimeError(f"dask task {job.key} {job.status}")

    def cancel(self, jobs: list[Any]) -> None:
        if jobs:
            self.client.cancel(jobs, force=True)

    def close(self) -> None:
        if self.own:
            self.client.close()
