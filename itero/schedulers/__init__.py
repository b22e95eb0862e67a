"""Fidelity and warm start: which trial runs next, how far, and from which checkpoint.

``scheduler=`` accepts an instance, a name (``"fifo"``) or a dict (``{"name": "fifo", "max_steps": 20}``).
"""

from __future__ import annotations

from typing import Any

from itero._spec import build_from_spec
from itero.schedulers._auto import Auto
from itero.schedulers._base import BaseScheduler, Decision, Suggestion
from itero.schedulers._bohb import BOHB
from itero.schedulers._fifo import FIFO
from itero.schedulers._halving import ASHA, Hyperband
from itero.schedulers._median import MedianStopping
from itero.schedulers._pbt import PBT
from itero.schedulers._sh import SuccessiveHalving

SCHEDULERS: dict[str, type[BaseScheduler]] = {
    "fifo": FIFO,
    "median": MedianStopping,
    "sh": SuccessiveHalving,
    "asha": ASHA,
    "hyperband": Hyperband,
    "bohb": BOHB,
    "pbt": PBT,
    "auto": Auto,
}


def make_scheduler(spec: Any, where: str = "scheduler") -> BaseScheduler:
    """A scheduler from an instance, a name or a ``{"name": ..., **options}`` mapping."""
    return build_from_spec(spec, SCHEDULERS, BaseScheduler, where)


__all__ = [
    "ASHA",
    "BOHB",
    "FIFO",
    "PBT",
    "SCHEDULERS",
    "Auto",
    "BaseScheduler",
    "Decision",
    "Hyperband",
    "MedianStopping",
    "SuccessiveHalving",
    "Suggestion",
    "make_scheduler",
]
