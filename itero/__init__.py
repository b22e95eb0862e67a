"""itero: the outer loop of deep learning — hyper-parameter search that spends a fraction of the training compute.

import itero

study = itero.create_study("digits", objectives={"val_acc": "maximize"}, sampler=itero.samplers.TPE(seed=0))
study.optimize(objective, n_trials=50, n_jobs=2)
study.best_trial.params
"""

from __future__ import annotations

import logging

from itero import samplers, schedulers, tracking
from itero.exceptions import ConfigError, DataVersionWarning, IteroError, SpaceError, StudyNotFoundError, TrialPruned
from itero.executors import Trial
from itero.study import Study, create_study, load_study
from itero.tracking import track_dataset
from itero.trial import FrozenTrial, TrialState

__version__ = "0.1.0"

logging.getLogger("itero").addHandler(logging.NullHandler())

__all__ = [
    "ConfigError",
    "DataVersionWarning",
    "FrozenTrial",
    "IteroError",
    "SpaceError",
    "Study",
    "StudyNotFoundError",
    "Trial",
    "TrialPruned",
    "TrialState",
    "__version__",
    "create_study",
    "load_study",
    "samplers",
    "schedulers",
    "track_dataset",
    "tracking",
]
