"""The Pareto front of a multi-objective study among all its completed trials."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from itero.plot._data import Snapshot
from itero.plot._style import BEST_COLOR, TEMPLATE, label, layout, log_axis, scatter_class
from itero.trial import FrozenTrial


def _axis_title(snap: Snapshot, m: str) -> str:
    return f"{label(m)} ({'higher' if snap.directions[m] == 'maximize' else 'lower'} is better)"


def pareto_figure(snap: Snapshot) -> go.Figure | str:
    """The figure, or the reason there is none."""
    objectives = snap.objectives
    if len(objectives) < 2:
        return "The study has one objective: there is no Pareto front (see the optimisation history)."
    if not snap.completed:
        return "No trial has completed yet: there is no Pareto front."
    front_ids = {t.id for t in snap.front}
    others = [t for t in snap.completed if t.id not in front_ids]
    front = sorted(snap.front, key=lambda t: t.metrics[objectives[0]])
    if len(objectives) > 2:
        return _matrix(snap, others, front)
    a, b = objectives
    trace = scatter_class(len(snap.completed))
    fig = go.Figure()
    hover = f"trial #%{{customdata}}<br>{label(a)} %{{x:.5g}}<br>{label(b)} %{{y:.5g}}<extra></extra>"
    fig.add_trace(
        trace(
            x=np.array([t.metrics[a] for t in others], dtype=float),
            y=np.array([t.metrics[b] for t in others], dtype=float),
            mode="markers",
            name=f"dominated ({len(others)})",
            marker={"color": "#9aa5b1", "size": 6, "opacity": 0.6},
            customdata=np.array([t.number for t in others]),
            hovertemplate=hover,
        )
    )
    fig.add_trace(
        trace(
            x=np.array([t.metrics[a] for t in front], dtype=float),
            y=np.array([t.metrics[b] for t in front], dtype=float),
            mode="lines+markers",
            name=f"Pareto front ({len(front)})",
            line={"color": BEST_COLOR, "width": 1.5, "dash": "dot"},
            marker={"color": BEST_COLOR, "size": 9, "line": {"width": 1, "color": "white"}},
            customdata=np.array([t.number for t in front]),
            hovertemplate=hover,
        )
    )
    title = f"Pareto front: {len(front)} of {len(snap.completed)} completed trials are not dominated"
    layout(fig, title, _axis_title(snap, a), _axis_title(snap, b))
    for metric, axis in ((a, fig.update_xaxes), (b, fig.update_yaxes)):
        if log_axis([t.metrics[metric] for t in snap.completed]):  # e.g. FLOPs over decades: else squashed
            axis(type="log", title_text=_axis_title(snap, metric) + ", log scale")
    return fig


def _matrix(snap: Snapshot, others: list[FrozenTrial], front: list[FrozenTrial]) -> go.Figure:
    """More than two objectives: a scatter matrix with the front highlighted."""
    fig = go.Figure()
    for trials, name, color, size in (
        (others, f"dominated ({len(others)})", "#9aa5b1", 4),
        (front, f"Pareto front ({len(front)})", BEST_COLOR, 7),
    ):
        fig.add_trace(
            go.Splom(
                dimensions=[
                    {"label": label(m), "values": np.array([t.metrics[m] for t in trials], dtype=float)}
                    for m in snap.objectives
                ],
                name=name,
                marker={"color": color, "size": size, "opacity": 0.7},
                customdata=np.array([t.number for t in trials]),
                hovertemplate="trial #%{customdata}<extra></extra>",
                diagonal_visible=False,
            )
        )
    n = len(snap.objectives)
    fig.update_layout(
        title={"text": f"Pareto front over {n} objectives: {len(front)} non-dominated trials", "x": 0.01},
        template=TEMPLATE,
        height=max(450, 200 * n),
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
    )
    return fig
