"""What the store's reads return: frozen records, one per kind of row, with JSON columns already decoded.

Times are Unix seconds (``time.time()``); energy in joules, CO₂ in grams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class StudyRecord:
    """A study's row: its objectives and its stored settings (sampler, scheduler, params, space, ...)."""

    id: int
    name: str
    directions: dict[str, str]
    config: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class StudyBudget:
    """A study's budget, shared by every process and machine that works on the study (None: no limit), and how
    much of it is taken: ``trials_started`` counts every trial the study has, ``steps_taken`` the steps granted
    while a step limit is set.

    >>> StudyBudget(max_trials=20, max_seconds=1800.0).minutes
    30.0
    """

    max_trials: int | None = None
    max_steps: int | None = None
    max_seconds: float | None = None
    max_energy_j: float | None = None
    trials_started: int = 0
    steps_taken: int = 0

    @property
    def minutes(self) -> float | None:
        return None if self.max_seconds is None else self.max_seconds / 60

    @property
    def energy_kwh(self) -> float | None:
        return None if self.max_energy_j is None else self.max_energy_j / 3.6e6

    @property
    def limited(self) -> bool:
        """Whether any limit is set."""
        return any(v is not None for v in (self.max_trials, self.max_steps, self.max_seconds, self.max_energy_j))

    def describe(self) -> str:
        """``trials 12/20 · steps 340/1000 · 30 min · 0.5 kWh`` (limits only; ``none`` without)."""
        parts = []
        if self.max_trials is not None:
            parts.append(f"trials {self.trials_started}/{self.max_trials}")
        if self.max_steps is not None:
            parts.append(f"steps {self.steps_taken}/{self.max_steps}")
        if self.minutes is not None:
            parts.append(f"{self.minutes:g} min")
        if self.energy_kwh is not None:
            parts.append(f"{self.energy_kwh:g} kWh")
        return " · ".join(parts) or "none"


@dataclass(frozen=True)
class OptimizeRunRecord:
    """One ``study.optimize`` call (an optimize run) and the budget its peers share."""

    id: int
    study_id: int
    n_trials: int | None
    started: int
    max_steps: int | None
    steps_at_start: int
    steps_taken: int
    deadline: float | None
    max_energy_j: float | None
    energy_at_start: float
    created_at: float
    ended_at: float | None


@dataclass(frozen=True)
class TrialRunRecord:
    """One run of a trial: from a fresh start or a resume (``start_step``) to a stop, pause, crash or end
    (``end_step``, ``outcome``), with what it cost."""

    id: int
    study_id: int
    trial_id: int
    worker_id: int | None
    start_step: int
    end_step: int
    wall_seconds: float
    cpu_seconds: float
    energy_j: float
    co2_g: float
    energy_method: str
    started_at: float
    ended_at: float
    outcome: str


@dataclass(frozen=True)
class CheckpointRecord:
    """One checkpoint a trial kept: the step it was taken at, its content digest (SHA-256) and size in bytes."""

    id: int
    trial_id: int
    step: int
    digest: str
    size: int
    created_at: float


@dataclass(frozen=True)
class DatasetVersionRecord:
    """One version (``digest``) of a dataset a study's trials tracked, first recorded at ``created_at``."""

    name: str
    digest: str
    kind: str
    info: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class WorkerEnvironmentRecord:
    """One environment (``itero.tracking.capture_environment``) and the ids of the study's workers that ran in
    it."""

    id: int
    info: dict[str, Any]
    worker_ids: tuple[int, ...]


@dataclass(frozen=True)
class ActionRecord:
    """One thing a person did to a study by hand (``kind``: enqueue, stop, pause, resume, note, tag, untag, narrow,
    widen, ...), when, who (the OS user, or the label of the dashboard token that acted), on which trial (None: the
    study) and its ``details``: for a stop, pause or resume the trial's ``state`` then and the ``result``; for a
    narrow or widen the ``param``, its ``old`` and ``new`` range and the trials it ``retired``.

    >>> ActionRecord(1, 1, 0.0, "ana", "stop", 3, {"state": "RUNNING", "result": "stops at its next report"}).describe()
    'stop trial 3 (RUNNING): stops at its next report'
    >>> ActionRecord(2, 1, 0.0, "ana", "narrow", None, {"param": "x", "old": "int[1, 9]", "new": "int[2, 4]"}).describe()
    'narrow x: int[1, 9] -> int[2, 4]'
    """

    id: int
    study_id: int
    created_at: float
    who: str
    kind: str
    trial_number: int | None
    details: dict[str, Any]

    def describe(self) -> str:
        """The action in one line, without when and who."""
        d = self.details
        text = self.kind if self.trial_number is None else f"{self.kind} trial {self.trial_number}"
        if "state" in d:
            text += f" ({d['state']})"
        if "params" in d:
            text += ": " + (" ".join(f"{k}={v!r}" for k, v in d["params"].items()) or "every parameter sampled")
        if "result" in d:
            text += f": {d['result']}"
        if "tag" in d:
            text += f": {d['tag']}"
        if "note" in d:
            text += f": {d['note']!r}" if d["note"] else ": note cleared"
        if "param" in d:  # narrow, widen
            text += f" {d['param']}: {d.get('old')} -> {d.get('new')}"
        if d.get("retired"):
            text += f" (retired paused or waiting trials {', '.join(map(str, d['retired']))})"
        return text


class TrialRow(NamedTuple):
    """A trial's row as ``read_changes`` returns it (JSON columns still text: the study cache decodes them)."""

    id: int
    study_id: int
    number: int
    state: str
    params: str
    distributions: str
    metrics: str
    step: int
    parent_id: int | None
    checkpoint_id: int | None
    worker_id: int | None
    retries: int
    error: str | None
    user_attrs: str
    system_attrs: str
    steps_run: int
    wall_seconds: float
    cpu_seconds: float
    energy_j: float
    co2_g: float
    datasets: str
    n_runs: int
    started_at: float | None
    completed_at: float | None
    version: int
    request: str | None


class ReportRow(NamedTuple):
    """One report as ``read_changes`` returns it (``metrics`` as JSON text)."""

    trial_id: int
    step: int
    metrics: str
