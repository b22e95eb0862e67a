"""One parameter, or two, against the objective, and how the objective's values are distributed:
slice plots, a contour of two parameters, and the empirical distribution function (EDF)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from itero.plot._data import Snapshot
from itero.plot._params import ParamColumn, param_columns
from itero.plot._style import TEMPLATE, label, layout, padded_range, scatter_class
from itero.trial import FrozenTrial

MAX_SLICES = 12  # parameters drawn side by side; the others are named in the title
GRID = 60  # contour resolution per axis


def _objective(snap: Snapshot, metric: str | None) -> str | None:
    m = metric or snap.objectives[0]
    return m if any(m in t.metrics for t in snap.completed) else None


def _finite(trials: Sequence[FrozenTrial], m: str) -> list[FrozenTrial]:
    return [t for t in trials if m in t.metrics and math.isfinite(float(t.metrics[m]))]


def _axis(col: ParamColumn) -> dict[str, object]:
    if col.categorical:
        return {"type": "category"}
    return {"type": "log"} if col.log else {}


def slice_figure(snap: Snapshot, metric: str | None = None) -> go.Figure | str:
    """The objective against each parameter (one panel per parameter), dots coloured by trial number."""
    m = _objective(snap, metric)
    if m is None:
        return "No trial has completed yet: slice plots need completed trials."
    done = _finite(snap.completed, m)
    cols = param_columns(done)
    if not cols:
        return "The completed trials do not differ in any parameter: there is nothing to slice."
    shown = cols[:MAX_SLICES]
    fig = make_subplots(rows=1, cols=len(shown), shared_yaxes=True, horizontal_spacing=0.02)
    trace = scatter_class(len(done) * len(shown))
    for i, col in enumerate(shown, start=1):
        have = [t for t in done if col.name in t.params]
        xs = [t.params[col.name] if not col.categorical else label(t.params[col.name]) for t in have]
        fig.add_trace(
            trace(
                x=xs,
                y=[float(t.metrics[m]) for t in have],
                mode="markers",
                marker={
                    "size": 5,
                    "color": [t.number for t in have],
                    "colorscale": "Blues",
                    "showscale": i == len(shown),
                    "colorbar": {"title": {"text": "trial"}, "thickness": 12},
                    "opacity": 0.8,
                },
                text=[f"#{t.number}" for t in have],
                hovertemplate="%{text}<br>%{x}<br>" + label(m) + "=%{y}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(title_text=label(col.name), row=1, col=i, **_axis(col))
    more = f" (first {MAX_SLICES} of {len(cols)} parameters)" if len(cols) > MAX_SLICES else ""
    fig.update_yaxes(title_text=label(m), row=1, col=1)
    fig.update_layout(
        title={"text": f"Slices: {label(m)} against each parameter{more}", "x": 0.01},
        template=TEMPLATE,
        margin={"l": 64, "r": 24, "t": 48, "b": 48},
    )
    return fig


def contour_figure(
    snap: Snapshot, x: str | None = None, y: str | None = None, metric: str | None = None
) -> go.Figure | str:
    """The objective over two numeric parameters (default: the first two that vary), interpolated between the
    completed trials (linear, on log scales for log parameters), with the trials as dots."""
    m = _objective(snap, metric)
    if m is None:
        return "No trial has completed yet: a contour needs completed trials."
    done = _finite(snap.completed, m)
    numeric = {c.name: c for c in param_columns(done) if not c.categorical}
    names = [n for n in (x, y) if n is not None] or list(numeric)[:2]
    missing = [n for n in names if n not in numeric]
    if missing:
        return f"{missing[0]!r} is not a numeric parameter that varies among the completed trials."
    if len(names) < 2:
        return "A contour needs two numeric parameters that vary among the completed trials."
    cx, cy = numeric[names[0]], numeric[names[1]]
    have = [t for t in done if cx.name in t.params and cy.name in t.params]
    px = np.array([cx.encode(t.params[cx.name]) for t in have])
    py = np.array([cy.encode(t.params[cy.name]) for t in have])
    pz = np.array([float(t.metrics[m]) for t in have])
    fig = go.Figure()
    if len(have) >= 4 and np.ptp(px) > 0 and np.ptp(py) > 0:
        from scipy.interpolate import griddata

        gx = np.linspace(px.min(), px.max(), GRID)
        gy = np.linspace(py.min(), py.max(), GRID)
        try:
            gz = griddata((px, py), pz, tuple(np.meshgrid(gx, gy)), method="linear")
        except Exception:  # collinear points: no triangulation
            gz = None
        if gz is not None:
            zrange = padded_range(list(pz)) or [0.0, 1.0]
            fig.add_trace(
                go.Contour(
                    x=10**gx if cx.log else gx,
                    y=10**gy if cy.log else gy,
                    z=gz,
                    colorscale="Viridis",
                    reversescale=snap.directions.get(m) == "minimize",
                    zmin=zrange[0],
                    zmax=zrange[1],
                    colorbar={"title": {"text": label(m)}, "thickness": 12},
                    connectgaps=False,
                    hoverinfo="skip",
                )
            )
    fig.add_trace(
        go.Scatter(
            x=[t.params[cx.name] for t in have],
            y=[t.params[cy.name] for t in have],
            mode="markers",
            marker={"size": 5, "color": "#1d2330", "line": {"width": 1, "color": "#fff"}},
            text=[f"#{t.number}: {label(m)}={float(t.metrics[m]):.4g}" for t in have],
            hovertemplate="%{text}<extra></extra>",
            name="completed trial",
        )
    )
    layout(fig, f"Contour of {label(m)} over {label(cx.name)} and {label(cy.name)}", label(cx.name), label(cy.name))
    fig.update_xaxes(**_axis(cx))
    fig.update_yaxes(**_axis(cy))
    return fig


def edf_figure(snap: Snapshot, metric: str | None = None) -> go.Figure | str:
    """The share of completed trials whose objective is at most (or, maximised, at least) each value: how much
    of the space is good, and how the search's trials spread."""
    m = _objective(snap, metric)
    if m is None:
        return "No trial has completed yet: the empirical distribution needs completed trials."
    values = np.sort(np.array([float(t.metrics[m]) for t in _finite(snap.completed, m)]))
    maximize = snap.directions.get(m) == "maximize"
    share = np.arange(len(values), 0, -1) / len(values) if maximize else np.arange(1, len(values) + 1) / len(values)
    fig = go.Figure(
        go.Scatter(x=values, y=share, mode="lines", line={"shape": "hv", "color": "#1f77b4"}, name=label(m))
    )
    word = "at least" if maximize else "at most"
    layout(fig, f"Empirical distribution of {label(m)} ({len(values):,} completed trials)", label(m), f"share {word}")
    fig.update_yaxes(range=[0, 1.02])
    return fig
