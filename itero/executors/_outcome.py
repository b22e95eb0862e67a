"""How a trial run ends: the state, final metrics and error that follow from what the objective did.

>>> end_state(None, "PAUSE", budget_stop=False, step=3, max_steps=9, has_checkpoint=True)
(<TrialState.PAUSED: 'PAUSED'>, None)
>>> final_metrics(0.25, {"loss": 0.3}, ["loss"], energy_kwh=lambda: 0.0)
(<TrialState.COMPLETE: 'COMPLETE'>, {'loss': 0.25}, None)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from itero.exceptions import TrialPruned
from itero.trial import TrialState

ENERGY_METRIC = "energy_kwh"  # an objective of this name is filled with the trial's measured energy


def end_state(
    exc: BaseException | None,
    decision: str,
    *,
    budget_stop: bool,
    step: int,
    max_steps: int | None,
    has_checkpoint: bool,
    reason: str | None = None,
) -> tuple[TrialState, str | None] | None:
    """The state of a run that did not complete normally, with its error (``reason``: why it was stopped, when a
    person stopped it); None when the objective's result decides (``final_metrics``)."""
    if exc is not None:
        if isinstance(exc, TrialPruned):
            return TrialState.PRUNED, str(exc) or None
        return TrialState.FAILED, f"{type(exc).__name__}: {exc}"
    if decision == "PAUSE":
        return TrialState.PAUSED, None
    if decision == "STOP":
        return TrialState.PRUNED, reason
    if budget_stop and step < (max_steps or 0):
        return (
            TrialState.PAUSED if has_checkpoint else TrialState.PRUNED,
            "stopped when the study's budget ran out",
        )
    return None


def final_metrics(
    result: Any, reported: Mapping[str, float], names: Sequence[str], energy_kwh: Callable[[], float]
) -> tuple[TrialState, dict[str, float] | None, str | None]:
    """COMPLETE with the final metrics (the last reports, updated by what the objective returned), or FAILED
    with the reason: a result of the wrong kind, a missing or non-finite objective metric. ``energy_kwh`` is
    called only when an objective is the trial's energy."""
    if result is None:
        metrics = dict(reported)
    elif isinstance(result, Mapping):
        try:
            metrics = {**reported, **clean_metrics(result, where="returned metrics")}
        except (TypeError, ValueError) as exc:
            return TrialState.FAILED, None, str(exc)
    elif (isinstance(result, (int, float)) and not isinstance(result, bool)) or is_scalar_tensor(result):
        if len(names) != 1:
            return (
                TrialState.FAILED,
                None,
                f"the objective returned a single number but the study has {len(names)} objectives "
                f"({', '.join(names)}); return a dict of metrics",
            )
        metrics = {**reported, names[0]: float(result)}
    else:
        return (
            TrialState.FAILED,
            None,
            f"the objective returned {type(result).__name__} {short(result)}; expected None (its last "
            f"reports count), a dict of metrics, or a number (single objective)",
        )
    if ENERGY_METRIC in names and ENERGY_METRIC not in metrics:
        metrics[ENERGY_METRIC] = energy_kwh()
    missing = [n for n in names if n not in metrics]
    if missing:
        return (
            TrialState.FAILED,
            metrics,
            f"objective metric {missing[0]!r} was neither reported nor returned (got {sorted(metrics) or 'no metrics'})",
        )
    bad = [n for n in names if not math.isfinite(metrics[n])]
    if bad:
        return TrialState.FAILED, metrics, f"objective metric {bad[0]!r} is {metrics[bad[0]]}"
    return TrialState.COMPLETE, metrics, None


def clean_metrics(metrics: Mapping[str, Any], where: str) -> dict[str, float]:
    """``{name: float}``; a TypeError names the first metric that is not a number."""
    out = {}
    for key, value in metrics.items():
        if not isinstance(key, str):
            raise TypeError(f"{where}: metric names must be strings, got {key!r}")
        if isinstance(value, bool) or not (isinstance(value, (int, float)) or is_scalar_tensor(value)):
            raise TypeError(f"{where}: metric {key!r} must be a number, got {type(value).__name__} {short(value)}")
        out[key] = float(value)
    return out


def is_scalar_tensor(x: Any) -> bool:
    return hasattr(x, "item") and getattr(x, "ndim", 1) == 0


def short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."
