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


class ReportRow(NamedTuple):
    """One report as ``read_changes`` returns it (``metrics`` as JSON text)."""

    trial_id: int
    step: int
    metrics: str
