"""Optimisation history: the best value so far against the compute spent (cumulative steps or energy)."""

from __future__ import annotations

import bisect
from typing import Literal

import numpy as np
import plotly.graph_objects as go

from itero.plot._data import Snapshot
from itero.plot._style import (
    BEST_COLOR,
    direction_word,
    energy_unit,
    label,
    layout,
    log_axis,
    padded_range,
    scatter_class,
)

Axis = Literal["steps", "energy"]


def completion_compute(snap: Snapshot) -> tuple[dict[int, tuple[float, float]], float, float]:
    """``({trial id: (steps, joules) spent by the whole study when it finished}, total steps, total joules)``.

    Runs are ordered by their end; a trial finishes with its last run. A finished trial without runs (told
    through ``study.tell``) is placed by its completion time.
    """
    runs = sorted(snap.runs, key=lambda r: r.ended_at)
    steps = np.cumsum([max(0, r.end_step - r.start_step) for r in runs], dtype=float)
    joules = np.cumsum([r.energy_j or 0.0 for r in runs], dtype=float)
    ends = [r.ended_at for r in runs]
    out: dict[int, tuple[float, float]] = {}
    for i, r in enumerate(runs):
        out[r.trial_id] = (float(steps[i]), float(joules[i]))
    for t in snap.completed:
        if t.id not in out:
            when = t.datetime_complete.timestamp() if t.datetime_complete else float("inf")
            i = bisect.bisect_right(ends, when) - 1
            out[t.id] = (float(steps[i]), float(joules[i])) if i >= 0 else (0.0, 0.0)
    total = (float(steps[-1]), float(joules[-1])) if len(runs) else (0.0, 0.0)
    return out, total[0], total[1]


def history_figure(snap: Snapshot, x: Axis = "steps", metric: str | None = None) -> go.Figure | str:
    """The figure, or the reason there is none."""
    if x not in ("steps", "energy"):
        raise ValueError(f"x must be 'steps' or 'energy', got {x!r}")
    metric = metric or snap.objectives[0]
    if metric not in snap.directions:
        raise ValueError(f"metric {metric!r} is not an objective of study {snap.name!r}: {', '.join(snap.directions)}")
    if not snap.completed:
        return "No trial has completed yet: the history starts with the first completed trial."
    at, total_steps, total_j = completion_compute(snap)
    if x == "energy" and total_j <= 0:
        return "No energy was recorded for this study (tracking off), so there is no history against energy."
    per, unit = energy_unit(total_j) if x == "energy" else (1.0, "")
    pos = 0 if x == "steps" else 1
    sign = snap.sign(metric)
    order = sorted(snap.completed, key=lambda t: (at[t.id][pos], t.number))
    xs = np.array([at[t.id][pos] / per for t in order])
    ys = np.array([float(t.metrics[metric]) for t in order])
    numbers = np.array([t.number for t in order])
    best = sign * np.minimum.accumulate(sign * ys)
    best_idx = np.array([0] * len(ys))
    for i in range(1, len(ys)):
        best_idx[i] = i if sign * ys[i] < sign * ys[best_idx[i - 1]] else best_idx[i - 1]
    end_x = (total_steps if x == "steps" else total_j / per) or float(xs[-1])
    xlabel = "Cumulative training steps (all trials)" if x == "steps" else f"Cumulative energy ({unit}, all trials)"
    fmt = ",.0f" if x == "steps" else ".3~g"
    fig = go.Figure()
    trace = scatter_class(len(xs))
    fig.add_trace(
        trace(
            x=xs,
            y=ys,
            mode="markers",
            name="completed trial",
            marker={"size": 6 if len(xs) < 500 else 4, "color": "#1f77b4", "opacity": 0.6},
            customdata=numbers,
            hovertemplate=f"trial #%{{customdata}}<br>%{{x:{fmt}}} {unit or 'steps'}<br>%{{y:.5g}}<extra></extra>",
        )
    )
    fig.add_trace(
        trace(
            x=np.append(xs, end_x),
            y=np.append(best, best[-1]),
            mode="lines",
            line={"shape": "hv", "color": BEST_COLOR, "width": 2.5},
            name="best so far",
            customdata=np.append(numbers[best_idx], numbers[best_idx[-1]]),
            hovertemplate=f"best so far: %{{y:.5g}} (trial #%{{customdata}})<br>%{{x:{fmt}}} {unit or 'steps'}"
            "<extra></extra>",
        )
    )
    title = f"Best {label(metric)} so far vs {'steps' if x == 'steps' else 'energy'}"
    layout(fig, title, xlabel, f"{label(metric)} ({direction_word(snap.directions[metric])})")
    if log_axis(list(ys)):
        fig.update_yaxes(type="log")
    else:
        fig.update_yaxes(range=padded_range(list(ys)))
    return fig
