"""Plots of a study, each a ``plotly.graph_objects.Figure`` (``fig.show()``, ``fig.write_html(...)``).

    >>> import itero, itero.plot
    >>> study = itero.load_study("digits", storage="sqlite:///itero.db")          # doctest: +SKIP
    >>> itero.plot.optimization_history(study, x="energy").show()                  # doctest: +SKIP
    >>> itero.plot.learning_curves(study).write_html("curves.html")               # doctest: +SKIP

Every function also takes a :class:`Snapshot` (``itero.plot.snapshot(study)``) so that several figures share one
read of the store. A figure with nothing to show (no completed trial yet, one objective for a Pareto front, no
scikit-learn for importances) is an empty figure whose text says why; none of them raises on an empty study.
"""

from __future__ import annotations

import plotly.graph_objects as go

from itero.plot._curves import curves_figure
from itero.plot._data import Snapshot, StudyLike, snapshot
from itero.plot._history import Axis, history_figure
from itero.plot._lineage import LineageRow, lineage_figure, lineage_rows
from itero.plot._params import compute_importances, importance_figure, parallel_figure
from itero.plot._pareto import pareto_figure
from itero.plot._slices import contour_figure, edf_figure, slice_figure
from itero.plot._style import empty


def _figure(result: go.Figure | str, title: str) -> go.Figure:
    return empty(title, result) if isinstance(result, str) else result


def optimization_history(study: StudyLike, x: Axis = "steps", metric: str | None = None) -> go.Figure:
    """Best value so far of ``metric`` (default: the first objective) against the compute the whole study had
    spent when each trial completed: cumulative training steps (``x="steps"``) or energy (``x="energy"``).

        >>> itero.plot.optimization_history(study, x="energy")      # doctest: +SKIP
    """
    return _figure(history_figure(snapshot(study), x, metric), "Optimisation history")


def learning_curves(study: StudyLike, metric: str | None = None) -> go.Figure:
    """Every trial's reported ``metric`` (default: the first objective) against its step, coloured by final state,
    with markers where trials were paused or promoted and dotted links where clones took a parent's weights.

        >>> itero.plot.learning_curves(study, metric="val_loss")     # doctest: +SKIP
    """
    return _figure(curves_figure(snapshot(study), metric), "Learning curves")


def parallel_coordinates(study: StudyLike) -> go.Figure:
    """Parameters and objectives of the completed trials as parallel axes, coloured by the first objective
    (categorical choices are labelled ticks; log-scaled parameters use a log axis)."""
    return _figure(parallel_figure(snapshot(study)), "Parallel coordinates")


def param_importances(study: StudyLike) -> go.Figure:
    """How much each parameter explains each objective: impurity importance of a random forest (scikit-learn,
    fixed seed, at most 2,000 completed trials). Needs at least 5 completed trials."""
    return _figure(importance_figure(snapshot(study)), "Parameter importance")


def importances(study: StudyLike) -> dict[str, dict[str, float]] | str:
    """The numbers behind :func:`param_importances`: ``{objective: {param: share}}``, shares summing to 1, most
    important first; or a sentence saying why there are none.

        >>> itero.plot.importances(study)                         # doctest: +SKIP
        {'val_acc': {'lr': 0.52, 'width': 0.31, 'optimizer': 0.17}}
    """
    return compute_importances(snapshot(study))


def pareto_front(study: StudyLike) -> go.Figure:
    """All completed trials with the non-dominated ones highlighted (two objectives: a scatter; more: a scatter
    matrix)."""
    return _figure(pareto_figure(snapshot(study)), "Pareto front")


def slices(study: StudyLike, metric: str | None = None) -> go.Figure:
    """``metric`` (default: the first objective) against each parameter, one panel per parameter (Optuna's slice
    plot); categorical parameters on a category axis, log-scaled ones on a log axis.

        >>> itero.plot.slices(study)                                 # doctest: +SKIP
    """
    return _figure(slice_figure(snapshot(study), metric), "Slices")


def contour(study: StudyLike, x: str | None = None, y: str | None = None, metric: str | None = None) -> go.Figure:
    """``metric`` over two numeric parameters (default: the first two that vary), interpolated between completed
    trials, with the trials as dots.

        >>> itero.plot.contour(study, "lr", "weight_decay")          # doctest: +SKIP
    """
    return _figure(contour_figure(snapshot(study), x, y, metric), "Contour")


def empirical_distribution(study: StudyLike, metric: str | None = None) -> go.Figure:
    """The empirical distribution function of ``metric`` over the completed trials (Optuna's EDF plot).

    >>> itero.plot.empirical_distribution(study)                 # doctest: +SKIP
    """
    return _figure(edf_figure(snapshot(study), metric), "Empirical distribution")


def lineage(study: StudyLike) -> go.Figure:
    """Trials that started from another trial's checkpoint (PBT clones, shared-weight starts) and their parents."""
    return _figure(lineage_figure(snapshot(study)), "Warm-start lineage")


__all__ = [
    "LineageRow",
    "Snapshot",
    "contour",
    "empirical_distribution",
    "importances",
    "learning_curves",
    "lineage",
    "lineage_rows",
    "optimization_history",
    "parallel_coordinates",
    "param_importances",
    "pareto_front",
    "slices",
    "snapshot",
]
