"""Parameters against the objective: parallel coordinates and a random-forest importance of each parameter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go

from itero.plot._data import Snapshot
from itero.plot._style import TEMPLATE, label, layout, padded_range
from itero.space import CategoricalDistribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial

MIN_TRIALS_FOR_IMPORTANCE = 5
MAX_TRIALS_FOR_IMPORTANCE = 2_000  # a random subsample (fixed seed) beyond this keeps the forest fast


@dataclass
class ParamColumn:
    """One parameter as numbers: categorical choices become their index, log-scaled numbers their log10."""

    name: str
    categorical: bool
    log: bool = False
    choices: list[Any] = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    integer: bool = False

    def encode(self, value: Any) -> float:
        if value is None:
            return math.nan
        if self.categorical:
            return float(self.choices.index(value)) if value in self.choices else math.nan
        v = float(value)
        return math.log10(v) if self.log and v > 0 else v


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def param_columns(trials: Sequence[FrozenTrial], min_share: float = 0.0) -> list[ParamColumn]:
    """The parameters that vary among ``trials`` (and appear in at least ``min_share`` of them), in order of first
    appearance."""
    values: dict[str, list[Any]] = {}
    for t in trials:
        for name, v in t.params.items():
            values.setdefault(name, []).append(v)
    out = []
    for name, vs in values.items():
        if len(vs) < min_share * len(trials) or len({repr(v) for v in vs}) < 2:
            continue
        dist = next((t.distributions[name] for t in trials if name in t.distributions), None)
        if isinstance(dist, CategoricalDistribution) or not all(_is_number(v) for v in vs):
            choices = list(dist.choices) if isinstance(dist, CategoricalDistribution) else []
            for v in vs:
                if v not in choices:
                    choices.append(v)
            out.append(ParamColumn(name, True, choices=choices))
        else:
            log = bool(isinstance(dist, (FloatDistribution, IntDistribution)) and dist.log and min(vs) > 0)
            low = float(dist.low) if isinstance(dist, (FloatDistribution, IntDistribution)) else float(min(vs))
            high = float(dist.high) if isinstance(dist, (FloatDistribution, IntDistribution)) else float(max(vs))
            integer = isinstance(dist, IntDistribution) or all(isinstance(v, int) for v in vs)
            out.append(ParamColumn(name, False, log=log, low=low, high=high, integer=integer))
    return out


def _dimension(col: ParamColumn, trials: Sequence[FrozenTrial]) -> dict[str, Any]:
    values = np.array([col.encode(t.params.get(col.name)) for t in trials], dtype=float)
    dim: dict[str, Any] = {"values": values, "label": label(col.name)}
    if col.categorical:
        dim.update(
            tickvals=list(range(len(col.choices))),
            ticktext=[label(c)[:20] for c in col.choices],
            range=[-0.25, len(col.choices) - 0.75],
        )
    elif col.log:  # values are log10-encoded; the axis spans the data, not the whole search range
        span = padded_range(list(values))
        if span is not None:
            ticks = np.linspace(span[0], span[1], 5)
            dim.update(range=span, tickvals=ticks, ticktext=[f"{10**v:.3g}" for v in ticks])
        dim["label"] += " (log)"
    else:
        span = padded_range(list(values))
        if span is not None:
            dim["range"] = span
        lo, hi = np.nanmin(values), np.nanmax(values)
        if col.integer and np.isfinite(lo) and hi - lo <= 12:
            dim["tickvals"] = list(range(int(lo), int(hi) + 1))
    return dim


MAX_PARALLEL = 2_000  # lines drawn by parallel coordinates; beyond, the best quarter of them and a random rest


def _sample(trials: list[FrozenTrial], snap: Snapshot) -> list[FrozenTrial]:
    """At most ``MAX_PARALLEL`` of ``trials``: the best ``MAX_PARALLEL // 4`` on the first objective and a random
    (fixed seed) sample of the others, in their original order."""
    if len(trials) <= MAX_PARALLEL:
        return trials
    m = snap.objectives[0]
    ranked = sorted(trials, key=lambda t: (snap.sign(m) * t.metrics[m], t.number))
    best = ranked[: MAX_PARALLEL // 4]
    rest = ranked[MAX_PARALLEL // 4 :]
    picked = np.random.default_rng(0).choice(len(rest), MAX_PARALLEL - len(best), replace=False)
    keep = {t.id for t in best} | {rest[i].id for i in picked}
    return [t for t in trials if t.id in keep]


def parallel_figure(snap: Snapshot) -> go.Figure | str:
    """The figure, or the reason there is none."""
    done = snap.completed
    if not done:
        return "No trial has completed yet: parallel coordinates need completed trials."
    cols = param_columns(done, min_share=0.5)
    if not cols:
        return "The completed trials do not differ in any parameter: there is nothing to compare."
    trials = [t for t in done if all(c.name in t.params for c in cols)]
    complete_rows = len(trials)
    trials = _sample(trials, snap)
    dims = [_dimension(c, trials) for c in cols]
    for m, d in snap.directions.items():
        values = np.array([t.metrics[m] for t in trials], dtype=float)
        dims.append({"values": values, "label": f"{label(m)} ({d[:3]})", "range": padded_range(list(values))})
    first = snap.objectives[0]
    color = dims[len(cols)]["values"]
    crange = padded_range(list(color)) or [0.0, 1.0]
    fig = go.Figure(
        go.Parcoords(
            dimensions=dims,
            line={
                "color": color,
                "cmin": crange[0],
                "cmax": crange[1],
                "colorscale": "Viridis",
                "reversescale": snap.directions[first] == "minimize",
                "showscale": True,
                "colorbar": {"title": {"text": label(first), "side": "right"}, "thickness": 14},
            },
            labelangle=-20 if len(dims) > 6 else 0,
            labelside="top",
            unselected={"line": {"opacity": 0.05}},
        )
    )
    dropped = len(done) - complete_rows
    note = f"; {dropped} trials without every parameter left out" if dropped else ""
    if len(trials) < complete_rows:
        note += (
            f"; a sample of {len(trials):,} of {complete_rows:,}: the best {MAX_PARALLEL // 4:,}, the rest at random"
        )
    fig.update_layout(
        title={"text": f"Parameters and objectives of {len(trials):,} completed trials{note}", "x": 0.01},
        template=TEMPLATE,
        margin={"l": 70, "r": 40, "t": 110, "b": 30},
    )
    return fig


def compute_importances(snap: Snapshot) -> dict[str, dict[str, float]] | str:
    """``{objective: {param: share of the forest's impurity decrease}}`` (sorted, summing to 1), or the reason
    there are none: too few completed trials, no varying parameter, or scikit-learn missing."""
    done = snap.completed
    if len(done) < MIN_TRIALS_FOR_IMPORTANCE:
        return (
            f"Parameter importance needs at least {MIN_TRIALS_FOR_IMPORTANCE} completed trials "
            f"(this study has {len(done)})."
        )
    try:
        from sklearn.ensemble import RandomForestRegressor
    except ImportError:
        return "Parameter importance needs scikit-learn (pip install scikit-learn), which is not installed."
    if len(done) > MAX_TRIALS_FOR_IMPORTANCE:
        keep = np.random.default_rng(0).choice(len(done), MAX_TRIALS_FOR_IMPORTANCE, replace=False)
        done = [done[i] for i in sorted(keep)]
    cols = param_columns(done)
    if not cols:
        return "The completed trials do not differ in any parameter: there is no importance to estimate."
    x = np.array([[c.encode(t.params.get(c.name)) for c in cols] for t in done], dtype=float)
    for j in range(x.shape[1]):  # a parameter a trial did not use: a value of its own, below the others
        missing = np.isnan(x[:, j])
        if missing.any():
            x[missing, j] = np.nanmin(x[:, j]) - 1.0 if (~missing).any() else 0.0
    out: dict[str, dict[str, float]] = {}
    for m in snap.objectives:
        y = np.array([t.metrics[m] for t in done], dtype=float)
        if np.ptp(y) == 0:
            out[m] = {c.name: 0.0 for c in cols}
            continue
        forest = RandomForestRegressor(n_estimators=64, min_samples_leaf=2, random_state=0, n_jobs=1).fit(x, y)
        shares = forest.feature_importances_
        out[m] = dict(sorted(zip((c.name for c in cols), map(float, shares), strict=True), key=lambda kv: -kv[1]))
    return out


def importance_figure(snap: Snapshot) -> go.Figure | str:
    """The figure, or the reason there is none."""
    result = compute_importances(snap)
    if isinstance(result, str):
        return result
    first = snap.objectives[0]
    names = list(result[first])[::-1]  # most important at the top
    fig = go.Figure()
    for m, shares in result.items():
        values = [shares[n] for n in names]
        fig.add_trace(
            go.Bar(
                x=values,
                y=[label(n) for n in names],
                orientation="h",
                name=label(m),
                text=[f"{v:.0%}" for v in values],
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{y}: %{x:.1%} of the forest's impurity decrease<extra>" + label(m) + "</extra>",
            )
        )
    n = len(snap.completed)
    if n > MAX_TRIALS_FOR_IMPORTANCE:
        basis = f"a sample of {MAX_TRIALS_FOR_IMPORTANCE:,} of {n:,} trials"
    else:
        basis = f"{n} trials" + ("; a rough estimate with so few" if n < 20 else "")
    layout(
        fig,
        f"Parameter importance for {', '.join(label(m) for m in result)} (random forest, {basis})",
        "Importance (share of the forest's impurity decrease)",
        "",
        height=max(220, 120 + 30 * len(names) * max(1, len(result))),
        showlegend=len(result) > 1,
        barmode="group",
    )
    top = max((v for shares in result.values() for v in shares.values()), default=0.0)
    fig.update_xaxes(tickformat=".0%", range=[0, max(top, 0.01) * 1.15])
    return fig
