"""Local peer workers: ``n_jobs`` processes on this machine, each running the same worker loop.

The parent only watches: when a child dies (segfault, ``kill -9``, out of memory) it gives that child's RUNNING
trial back to the store at once, so another worker resumes or retries it, and starts a replacement while work
remains. Children are forked so that objectives defined in a notebook or a test need not be importable.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from itero.exceptions import ArtifactUnavailableError

logger = logging.getLogger("itero")
EXIT_UNAVAILABLE = 75  # a child's exit code when the artifact store cannot be written: the run stops (EX_TEMPFAIL)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM (``kill``, a scheduler's job cancel) acts as Ctrl-C: the running trial goes back to
    WAITING and worker processes are stopped the same way, instead of the process dying with its work half
    written or leaving its workers behind. Only in the main thread (elsewhere signals cannot be handled)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, _frame: Any) -> None:
    logger.warning("received signal %d: giving the running trials back", signum)
    raise KeyboardInterrupt


def _exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # the worker gives its trial back as WAITING, then the process ends


def _child(make_worker: Callable[[], Any], n_jobs: int, env: dict[str, str]) -> None:
    signal.signal(signal.SIGTERM, _exit)  # the parent stops its children with SIGTERM
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops the children
    os.environ.update(env)  # this worker's devices (CUDA_VISIBLE_DEVICES), before anything initialises CUDA
    threads = max(1, (os.cpu_count() or 1) // n_jobs)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    try:
        make_worker().run()
    except ArtifactUnavailableError as exc:  # its trial is back to WAITING; no replacement would do better
        logger.error("%s", exc)
        raise SystemExit(EXIT_UNAVAILABLE) from None


def run_processes(
    n_jobs: int,
    make_worker: Callable[[], Any],
    release_process: Callable[[int], list[int]],
    work_left: Callable[[], bool],
    poll: Callable[[], None] | None = None,
    max_restarts: int = 100,
    envs: list[dict[str, str]] | None = None,
) -> None:
    """Run ``n_jobs`` worker processes until all exit; replace those that die while ``work_left()``.

    ``make_worker`` is called in the child (after fork) and must build its own store connection.
    ``release_process(pid)`` gives back the trials of a dead child. ``poll`` runs about every 0.2 s (progress).
    ``envs[i]``: environment variables of the i-th worker (and of the one that replaces it).
    """
    ctx: Any = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    procs: list[Any] = []
    slots: dict[int, int] = {}  # pid -> worker slot, so a replacement gets the dead worker's devices

    def spawn(slot: int) -> None:
        env = envs[slot] if envs else {}
        p = ctx.Process(target=_child, args=(make_worker, n_jobs, env), daemon=False)
        p.start()
        procs.append(p)
        slots[p.pid] = slot

    for i in range(n_jobs):
        spawn(i)
    restarts = 0
    try:
        while procs:
            time.sleep(0.2)
            if poll is not None:
                poll()
            for p in list(procs):
                if p.is_alive():
                    continue
                p.join()
                procs.remove(p)
                if p.exitcode == EXIT_UNAVAILABLE:
                    raise ArtifactUnavailableError(
                        f"worker process {p.pid} could not write checkpoints (its message is above); the run "
                        "stopped and running trials were given back"
                    )
                if p.exitcode != 0:
                    released = release_process(p.pid)
                    logger.warning(
                        "worker process %d died (exit code %s); gave back trial(s) %s",
                        p.pid,
                        p.exitcode,
                        released,
                    )
                    if work_left() and restarts < max_restarts:
                        restarts += 1
                        spawn(slots[p.pid])
            if not procs and work_left() and restarts < max_restarts:
                restarts += 1  # every child ended normally but trials were given back since: finish them
                spawn(0)
    except BaseException:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=10)
            release_process(p.pid)
        raise
    finally:
        if poll is not None:
            poll()


def device_slots(n_jobs: int, gpus_per_trial: int, devices: list[str] | None = None) -> list[dict[str, str]]:
    """``CUDA_VISIBLE_DEVICES`` for each of ``n_jobs`` local workers, ``gpus_per_trial`` devices each, taken in
    order from ``devices`` (default: this process's ``CUDA_VISIBLE_DEVICES``, else every device torch sees).

    >>> device_slots(2, 2, devices=["3", "5", "7", "9"])
    [{'CUDA_VISIBLE_DEVICES': '3,5'}, {'CUDA_VISIBLE_DEVICES': '7,9'}]
    """
    from itero.exceptions import ConfigError

    if gpus_per_trial == 0:
        return []
    if devices is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            devices = [d.strip() for d in visible.split(",") if d.strip()]
        else:
            devices = [str(i) for i in range(_torch_devices())]
    if len(devices) < n_jobs * gpus_per_trial:
        raise ConfigError(
            f"gpus_per_trial={gpus_per_trial} with n_jobs={n_jobs} needs {n_jobs * gpus_per_trial} GPU(s); "
            f"this machine shows {len(devices)} ({', '.join(devices) or 'none'}): lower n_jobs or gpus_per_trial"
        )
    return [
        {"CUDA_VISIBLE_DEVICES": ",".join(devices[i * gpus_per_trial : (i + 1) * gpus_per_trial])}
        for i in range(n_jobs)
    ]


def _torch_devices() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count())
