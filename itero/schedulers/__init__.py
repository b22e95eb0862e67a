"""Fidelity and warm start: which trial runs next, how far, and from which checkpoint.

``scheduler=`` accepts an instance, a name (``"fifo"``) or a dict (``{"name": "fifo", "max_steps": 20}``).
"""

from __future__ import annotations

from typing import Any

from itero._spec import build_from_spec
from itero.schedulers._base import BaseScheduler, Decision, Suggestion
from itero.schedulers._fifo import FIFO

SCHEDULERS: dict[str, type[BaseScheduler]] = {"fifo": FIFO}


def make_scheduler(spec: Any, where: str = "scheduler") -> BaseScheduler:
    """A scheduler from an instance, a name or a ``{"name": ..., **options}`` mapping."""
    return build_from_spec(spec, SCHEDULERS, BaseScheduler, where)


__all__ = ["FIFO", "SCHEDULERS", "BaseScheduler", "Decision", "Suggestion", "make_scheduler"]
