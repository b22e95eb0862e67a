"""The ``friedman-mlp`` task: MLP regression on Friedman's #1 function, a continuous error metric.

Data are generated, not downloaded: ``sklearn.datasets.make_friedman1`` with 3,000 samples, 10 features (5 of
them noise) and Gaussian noise of standard deviation 1, from a fixed seed; split 60/20/20 and standardised with
the training statistics. The objective is the validation RMSE (the noise floor is 1.0); the test RMSE is
recorded beside it. Unlike the digits' accuracy on 360 validation images, the RMSE separates configurations
finely, and the hyper-parameters move it a lot (from near the noise floor to several times it).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from itero.tasks._mlp import Data, run_objective, split_standardise

_DATA_SEED = 0
_DEFAULT_MAX_STEPS = 27


def friedman_mlp(trial: Any) -> None:
    """Train an MLP regressor for up to ``trial.max_steps`` (default 27) epochs; reports ``val_rmse`` (the
    objective) and ``test_rmse`` after every epoch. Same search space and state as ``digits-mlp``."""
    run_objective(trial, friedman_data, "regression", _DEFAULT_MAX_STEPS, dataset="friedman1")


@functools.lru_cache(maxsize=1)
def friedman_data() -> Data:
    """(x_train, y_train, x_val, y_val, x_test, y_test), all float32; generated once per process."""
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=3000, n_features=10, noise=1.0, random_state=_DATA_SEED)
    return split_standardise(x, y, _DATA_SEED, stratify=False, y_dtype=np.float32)


def friedman_run(params: dict[str, Any], number: int) -> Any:
    """The framework-agnostic run of ``friedman-mlp`` (an ``MLPRun``)."""
    from itero.tasks._mlp import MLPRun

    return MLPRun(params, number, friedman_data(), "regression")
