"""Shared look of itero's figures: colours per trial state, units, escaping of user text, empty figures."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

TEMPLATE = "plotly_white"
GL_THRESHOLD = 2_000  # points above which scatter traces use WebGL
STATE_COLORS = {
    "COMPLETE": "#1f77b4",
    "PRUNED": "#9aa5b1",
    "PAUSED": "#9467bd",
    "RUNNING": "#2ca02c",
    "WAITING": "#bcbd22",
    "FAILED": "#d62728",
}
BEST_COLOR = "#e4572e"


def label(text: Any) -> str:
    """User text (names, values) made safe for plotly labels, which read a subset of HTML."""
    return html.escape(str(text), quote=False)


def scatter_class(n_points: int) -> type[go.Scatter] | type[go.Scattergl]:
    """SVG for small plots (crisp, no WebGL needed), WebGL when there are many points."""
    return go.Scattergl if n_points > GL_THRESHOLD else go.Scatter


def layout(fig: go.Figure, title: str, x: str, y: str, **extra: Any) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"},
        template=TEMPLATE,
        xaxis_title=x,
        yaxis_title=y,
        margin={"l": 64, "r": 24, "t": 48, "b": 40},
        legend={"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom", "xanchor": "left", "x": 0.0},
        hoverlabel={"namelength": -1},
        **extra,
    )
    return fig


def empty(title: str, message: str) -> go.Figure:
    """A figure that says why there is nothing to plot (the public functions never fail on an empty study)."""
    fig = go.Figure()
    fig.add_annotation(text=label(message), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    fig.update_layout(title={"text": title, "x": 0.01}, template=TEMPLATE, xaxis_visible=False, yaxis_visible=False)
    return fig


def energy_unit(total_j: float) -> tuple[float, str]:
    """``(joules per unit, unit)`` that shows ``total_j`` as a readable number: kWh, Wh or J."""
    if total_j >= 3.6e5:  # 0.1 kWh
        return 3.6e6, "kWh"
    if total_j >= 360.0:  # 0.1 Wh
        return 3600.0, "Wh"
    return 1.0, "J"


def log_axis(values: Sequence[float]) -> bool:
    """Whether positive values spread over more than three decades (then a log axis reads better)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite or min(finite) <= 0:
        return False
    return max(finite) / min(finite) > 1e3


def padded_range(values: Sequence[float]) -> list[float] | None:
    """An axis range around ``values`` with a 5% margin — also when they are all equal, where plotly's own
    autorange would span a meaningless ±0.5 (accuracy axes up to 1.5). None when there is no finite value."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    lo, hi = min(finite), max(finite)
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi) * 0.01, 1e-3)
    return [lo - pad, hi + pad]


def direction_word(direction: str) -> str:
    return "higher is better" if direction == "maximize" else "lower is better"
