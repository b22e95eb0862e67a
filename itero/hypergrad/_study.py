"""The hybrid: the study's sampler picks the discrete hyper-parameters of a trial, hypergradients tune the
continuous ones inside it, and the trial records them like any other parameter.

    def objective(trial):
        width = trial.suggest_int("width", 32, 512, log=True)       # the outer sampler's choice
        wd = LogWeightDecay(model, per="global", init=1e-4)           # tuned inside the trial
        for epoch in trial.steps(20):
            ...train, then a hypergradient step on wd.log_wd...
            tuned = record_hparams(trial, {"weight_decay": wd.values()["all"]})
            trial.report(epoch, {"val_acc": acc, **tuned})            # the trajectory, step by step
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIX = "hp."


def record_hparams(
    trial: Any, values: Mapping[str, float], distributions: Mapping[str, Any] | None = None
) -> dict[str, float]:
    """Record the tuned ``values`` as the trial's parameters (their latest value counts) and return them as
    metrics ``{"hp.<name>": value}`` to merge into the step's report, which keeps their trajectory."""
    for name, value in values.items():
        trial.record_param(name, float(value), (distributions or {}).get(name))
    return {PREFIX + name: float(value) for name, value in values.items()}
