"""The ``digits-mlp`` task: an MLP on scikit-learn's 8x8 handwritten digits, one step per epoch.

The data ship with scikit-learn (no download) and are split once, the same way everywhere: stratified
60/20/20 train/validation/test with a fixed seed, standardised with the training statistics. Training is
seeded from the trial number and the epoch (see ``itero.tasks._mlp``), so a resumed trial continues exactly
where an uninterrupted one would be.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from itero.tasks._mlp import Data, run_objective, split_standardise

_SPLIT_SEED = 0
_DEFAULT_MAX_STEPS = 20


def digits_mlp(trial: Any) -> None:
    """Train an MLP classifier on the digits for up to ``trial.max_steps`` (default 20) epochs.

    Searches ``lr``, ``weight_decay``, ``width``, ``depth``, ``dropout``, ``batch_size`` and ``optimizer``
    (SGD with momentum 0.9, or Adam). Reports ``val_acc`` (the objective), ``val_loss`` and ``test_acc``
    (recorded beside it, never used for selection) after every epoch; the state it saves is
    ``{"model": ..., "opt": ...}``.
    """
    run_objective(trial, digits_data, "classification", _DEFAULT_MAX_STEPS, dataset="sklearn-digits")


@functools.lru_cache(maxsize=1)
def digits_data() -> Data:
    """(x_train, y_train, x_val, y_val, x_test, y_test): float32 features, int64 labels; loaded once per
    process."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return split_standardise(x, y, _SPLIT_SEED, stratify=True, y_dtype=np.int64)


def digits_run(params: dict[str, Any], number: int) -> Any:
    """The framework-agnostic run of ``digits-mlp`` (an ``MLPRun``)."""
    from itero.tasks._mlp import MLPRun

    return MLPRun(params, number, digits_data(), "classification")
