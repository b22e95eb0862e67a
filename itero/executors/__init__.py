"""Where workers run: in this process (``n_jobs=1``) or as local peer processes (``n_jobs=N``)."""

from itero.executors._context import Budget, RunContext
from itero.executors._local import run_processes
from itero.executors._worker import Worker

__all__ = ["Budget", "RunContext", "Worker", "run_processes"]
