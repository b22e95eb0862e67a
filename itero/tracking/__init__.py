"""Tracking: dataset versions, the environment a worker runs in, and the energy and carbon of each trial run.

>>> import itero, numpy as np
>>> v = itero.track_dataset("toy", np.arange(10))     # outside a trial: recorded on the trials run next
>>> v.kind, len(v.digest)
('array', 64)
>>> itero.tracking.clear_session_datasets()
"""

from itero.tracking._codecarbon import Intensity, intensity
from itero.tracking._datasets import (
    DatasetVersion,
    clear_session_datasets,
    compare_versions,
    current_trial,
    session_datasets,
    track_dataset,
    version_of,
)
from itero.tracking._energy import CpuPower, EnergyMeter, Sample, cpu_power
from itero.tracking._environment import capture as capture_environment
from itero.tracking._environment import git_state
from itero.tracking._hashing import DatasetError, hash_data

__all__ = [
    "CpuPower",
    "DatasetError",
    "DatasetVersion",
    "EnergyMeter",
    "Intensity",
    "Sample",
    "capture_environment",
    "clear_session_datasets",
    "compare_versions",
    "cpu_power",
    "current_trial",
    "git_state",
    "hash_data",
    "intensity",
    "session_datasets",
    "track_dataset",
    "version_of",
]
