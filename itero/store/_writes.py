"""What a running trial writes to the store, as one frozen record per write.

    >>> w = TrialWrite(7, step=3, reports=((3, {"loss": 0.5}),), metrics={"loss": 0.5}, cost=CostDelta(steps=1))
    >>> w.finished
    False

A write carries only what changed since the trial's last write (None: unchanged); the store applies it in one
transaction, and stores the checkpoint's bytes (content-addressed) before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

FINISHED_STATES = ("COMPLETE", "PRUNED", "FAILED")


@dataclass(frozen=True)
class CostDelta:
    """What a trial spent since its last write; added to its totals."""

    steps: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    energy_j: float = 0.0
    co2_g: float = 0.0


@dataclass(frozen=True)
class RunCost:
    """One run of a trial (from a fresh start or a resume to a stop, pause, crash or end)."""

    start_step: int
    end_step: int
    wall_seconds: float
    cpu_seconds: float
    started_at: float
    outcome: str
    energy_j: float = 0.0
    co2_g: float = 0.0
    energy_method: str = ""


@dataclass(frozen=True)
class WarmStart:
    """The trial started from another trial's checkpoint (shared weights); ``attrs`` go into its system_attrs."""

    parent_id: int
    checkpoint_id: int
    attrs: Mapping[str, Any]


@dataclass(frozen=True)
class CheckpointData:
    """A serialised state (``dump_state``) taken at ``step``."""

    step: int
    data: bytes


@dataclass(frozen=True)
class TrialWrite:
    """One write of a trial. ``params``, ``distributions`` (as dicts), ``metrics``, ``user_attrs``, ``datasets``
    replace the stored ones when given; ``system_attrs`` (and the warm start's) are merged key by key;
    ``reports`` are appended; ``cost`` is added to the trial's totals; ``run`` records a finished run of it."""

    trial_id: int
    step: int | None = None
    state: str | None = None
    params: Mapping[str, Any] | None = None
    distributions: Mapping[str, Any] | None = None
    metrics: Mapping[str, float] | None = None
    reports: tuple[tuple[int, Mapping[str, float]], ...] = ()
    error: str | None = None
    user_attrs: Mapping[str, Any] | None = None
    cost: CostDelta | None = None
    run: RunCost | None = None
    datasets: Mapping[str, str] | None = None
    worker_id: int | None = None
    checkpoint: CheckpointData | None = None
    warm_start: WarmStart | None = None
    system_attrs: Mapping[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


@dataclass(frozen=True)
class HandRequest:
    """What a person asked of a running trial (``Study.stop_trial``, ``pause_trial``), read back by its worker with
    the trial's next write: ``action`` is ``"stop"`` or ``"pause"``.

    >>> HandRequest("stop", "ana").reason
    'stopped by hand by ana'
    """

    action: str
    who: str

    @property
    def reason(self) -> str:
        done = {"stop": "stopped", "pause": "paused", "resume": "resumed"}.get(self.action, self.action)
        return f"{done} by hand by {self.who}"


class Written(NamedTuple):
    """What ``Store.write_trial`` returns: the trial's checkpoint id when the write stored a checkpoint or a warm
    start (else None), and the request a person made of the trial and that it has not carried out yet (else None)."""

    checkpoint_id: int | None = None
    request: HandRequest | None = None
