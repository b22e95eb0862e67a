"""What a study reports about itself: its totals, the dataset versions and environments its trials used."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StudyTotals:
    """What a study has spent so far, over all its optimize runs."""

    trials: int
    finished: int
    steps: int
    wall_seconds: float
    cpu_seconds: float
    run_seconds: float
    checkpoint_bytes: int
    energy_j: float = 0.0
    co2_g: float = 0.0
    region: str = "world"

    @property
    def energy_kwh(self) -> float:
        return self.energy_j / 3.6e6

    @property
    def co2_kg(self) -> float:
        return self.co2_g / 1e3

    @property
    def cpu_hours(self) -> float:
        return self.cpu_seconds / 3600


@dataclass(frozen=True)
class DatasetRecord:
    """One version of a dataset the study's trials used."""

    name: str
    digest: str
    kind: str
    info: dict[str, Any]
    first_seen: float
    trials: list[int]


@dataclass(frozen=True)
class EnvironmentRecord:
    """One environment (Python, packages, git commit, host, CPU, GPU) the study's workers ran in."""

    id: int
    info: dict[str, Any]
    workers: int
    trials: list[int]
