"""Learning curves of every trial, with pauses, promotions (resumes) and warm starts (clones, shared starts).

One trace per final state holds the curves of all trials in that state, separated by gaps, so that a study of
10,000 trials draws a handful of traces rather than 10,000.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go

from itero.plot._data import Snapshot, lineage_kind
from itero.plot._style import BEST_COLOR, STATE_COLORS, label, layout, log_axis, scatter_class
from itero.trial import FrozenTrial


def default_metric(snap: Snapshot) -> str | None:
    """The first objective if trials report it, else the first metric any trial reported."""
    first = snap.objectives[0]
    seen: set[str] = set()
    for t in snap.trials:
        for values in t.reports.values():
            if first in values:
                return first
            seen.update(values)
    return min(seen) if seen else None


def _curve(t: FrozenTrial, metric: str) -> tuple[list[int], list[float]]:
    steps = sorted(s for s, v in t.reports.items() if metric in v)
    return steps, [float(t.reports[s][metric]) for s in steps]


def _value_at(t: FrozenTrial, metric: str, step: int) -> float | None:
    """The trial's ``metric`` at ``step``, or at the last reported step before it."""
    best: int | None = None
    for s, v in t.reports.items():
        if s <= step and metric in v and (best is None or s > best):
            best = s
    return None if best is None else float(t.reports[best][metric])


def curves_figure(snap: Snapshot, metric: str | None = None) -> go.Figure | str:
    """The figure, or the reason there is none."""
    metric = metric or default_metric(snap)
    if metric is None:
        return "No trial has reported a metric yet (trial.report(step, {...})): there are no learning curves."
    curves: dict[int, tuple[list[int], list[float]]] = {}
    for t in snap.trials:
        steps, values = _curve(t, metric)
        if steps:
            curves[t.id] = (steps, values)
    if not curves:
        return f"No trial has reported {metric!r} yet: there are no learning curves."
    many = len(curves) > MANY
    group = _grouping(snap, metric, curves, many)
    lines: dict[str, tuple[list[float], list[float], list[float]]] = {}
    for t in snap.trials:
        if t.id in curves:
            steps, values = curves[t.id]
            xs, ys, ns = lines.setdefault(group(t), ([], [], []))
            xs.extend([*steps, np.nan])
            ys.extend([*values, np.nan])
            ns.extend([t.number] * (len(steps) + 1))
    trace = scatter_class(sum(len(v[0]) for v in lines.values()))
    fig = go.Figure()
    for key in _GROUP_ORDER:
        if key not in lines:
            continue
        xs, ys, ns = lines[key]
        name, color, opacity, width = _style(key, many, int(np.isnan(np.asarray(xs, dtype=float)).sum()))
        fig.add_trace(
            trace(
                x=np.array(xs, dtype=float),
                y=np.array(ys, dtype=float),
                mode="lines" if many else "lines+markers",
                name=name,
                line={"color": color, "width": width},
                marker={"size": 4},
                opacity=opacity,
                customdata=np.array(ns),
                hovertemplate="trial #%{customdata}<br>step %{x}<br>%{y:.5g}<extra>"
                + key.split("-")[0].lower()
                + "</extra>",
                connectgaps=False,
            )
        )
    _add_best(fig, snap, metric, curves, trace)
    _add_events(fig, snap, metric, curves, trace)
    _add_warm_starts(fig, snap, metric, curves, trace)
    _add_predictions(fig, snap, metric, many, trace)
    all_values = [v for _, vs in curves.values() for v in vs]
    direction = snap.directions.get(metric)
    y_title = label(metric) + (f" ({'higher' if direction == 'maximize' else 'lower'} is better)" if direction else "")
    title = f"Learning curves: {label(metric)} per step ({len(curves):,} trials)"
    layout(fig, title, "Step (of each trial)", y_title, height=480, showlegend=True)
    if max(s for steps, _ in curves.values() for s in steps) <= 12:
        fig.update_xaxes(dtick=1)
    if log_axis(all_values):
        fig.update_yaxes(type="log")
    return fig


MANY = 200  # trials above which curves are thin and faint, and completed ones split into the best 10% and the rest
_GROUP_ORDER = ("PRUNED", "FAILED", "WAITING", "RUNNING", "PAUSED", "COMPLETE-rest", "COMPLETE", "COMPLETE-top")


def _grouping(
    snap: Snapshot, metric: str, curves: dict[int, tuple[list[int], list[float]]], many: bool
) -> Callable[[FrozenTrial], str]:
    """A trial's trace: its final state; in a big study, completed trials by whether they are in the best 10%."""
    if not many:
        return lambda t: str(t.state)
    sign = snap.sign(metric)
    done = [t for t in snap.trials if t.id in curves and str(t.state) == "COMPLETE"]
    done.sort(key=lambda t: sign * curves[t.id][1][-1])
    top = {t.id for t in done[: max(1, len(done) // 10)]}

    def group(t: FrozenTrial) -> str:
        state = str(t.state)
        if state == "COMPLETE":
            return "COMPLETE-top" if t.id in top else "COMPLETE-rest"
        return state

    return group


def _style(key: str, many: bool, count: int) -> tuple[str, str, float, float]:
    """``(legend name, colour, opacity, line width)`` of a trace of curves."""
    if key == "COMPLETE-top":
        return f"complete, best 10% by final value ({count:,})", STATE_COLORS["COMPLETE"], 0.6, 1.2
    if key == "COMPLETE-rest":
        return f"complete, the others ({count:,})", "#9ecae1", 0.15, 0.8
    color = STATE_COLORS.get(key, "#777")
    if many:
        return f"{key.lower()} ({count:,})", color, 0.2, 0.8
    return f"{key.lower()} ({count:,})", color, 0.8, 1.5


def _add_best(fig: go.Figure, snap: Snapshot, metric: str, curves: dict[int, Any], trace: Any) -> None:
    """The best completed trial's curve, on top (one objective only: with several there is no single best)."""
    if metric not in snap.directions or len(snap.directions) > 1 or not snap.completed:
        return
    sign = snap.sign(metric)
    best = min(snap.completed, key=lambda t: (sign * t.metrics[metric], t.number))
    if best.id not in curves:
        return
    steps, values = curves[best.id]
    fig.add_trace(
        trace(
            x=np.array(steps, dtype=float),
            y=np.array(values, dtype=float),
            mode="lines",
            name=f"best trial #{best.number}",
            line={"color": BEST_COLOR, "width": 3},
            hovertemplate=f"best trial #{best.number}<br>step %{{x}}<br>%{{y:.5g}}<extra></extra>",
        )
    )


def _add_events(fig: go.Figure, snap: Snapshot, metric: str, curves: dict[int, Any], trace: Any) -> None:
    """Markers where a trial was paused and later resumed (promoted), and where it was paused and still waits."""
    by_id = {t.id: t for t in snap.trials}
    promoted: tuple[list[float], list[float], list[int]] = ([], [], [])
    waiting: tuple[list[float], list[float], list[int]] = ([], [], [])
    for trial_id, runs in snap.runs_by_trial().items():
        t = by_id.get(trial_id)
        if t is None or trial_id not in curves:
            continue
        for i, run in enumerate(runs):
            if run.outcome != "PAUSED":
                continue
            value = _value_at(t, metric, run.end_step)
            if value is None:
                continue
            resumed = any(r.start_step >= run.end_step > 0 for r in runs[i + 1 :])
            xs, ys, ns = promoted if resumed else waiting
            xs.append(run.end_step)
            ys.append(value)
            ns.append(t.number)
    for (xs, ys, ns), name, symbol, color in (
        (promoted, "paused, then promoted (resumed)", "triangle-up", "#2ca02c"),
        (waiting, "paused (not resumed)", "circle-open", "#9467bd"),
    ):
        if xs:
            fig.add_trace(
                trace(
                    x=np.array(xs, dtype=float),
                    y=np.array(ys, dtype=float),
                    mode="markers",
                    name=f"{name} ({len(xs)})",
                    marker={"symbol": symbol, "size": 8, "color": color, "line": {"width": 1.5, "color": color}},
                    customdata=np.array(ns),
                    hovertemplate=f"trial #%{{customdata}} {name} at step %{{x}}<br>%{{y:.5g}}<extra></extra>",
                )
            )


def _add_predictions(fig: go.Figure, snap: Snapshot, metric: str, many: bool, trace: Any) -> None:
    """Where each trial stopped or paused early would have ended (``itero.curves.predicted_finals``: the line the
    completed trials' curves give, with its 80% interval), at the final step; hidden until clicked when many."""
    if metric not in snap.directions:
        return
    from itero.curves import predicted_finals

    result = predicted_finals(snap.trials, metric, snap.directions[metric] == "maximize", level=0.8)
    if result is None or not result[1]:
        return
    final_step, predicted = result
    numbers = {t.id: t.number for t in snap.trials}
    ids = list(predicted)
    mean = np.array([predicted[i][0] for i in ids])
    low = np.array([predicted[i][1] for i in ids])
    high = np.array([predicted[i][2] for i in ids])
    fig.add_trace(
        trace(
            x=np.full(len(ids), float(final_step)),
            y=mean,
            mode="markers",
            name=f"predicted final, 80% interval ({len(ids):,})",
            marker={"symbol": "diamond-open", "size": 7, "color": "#7f7f7f"},
            error_y={"type": "data", "array": high - mean, "arrayminus": mean - low, "thickness": 1, "width": 3},
            customdata=np.stack([[numbers[i] for i in ids], low, high], axis=-1),
            hovertemplate="trial #%{customdata[0]}: predicted final %{y:.5g}<br>80%: %{customdata[1]:.5g} to "
            "%{customdata[2]:.5g}<extra></extra>",
            visible="legendonly" if many else True,
        )
    )


def _add_warm_starts(fig: go.Figure, snap: Snapshot, metric: str, curves: dict[int, Any], trace: Any) -> None:
    """A dashed link from the parent's value at the step a clone (or shared start) took its weights from."""
    by_id = {t.id: t for t in snap.trials}
    xs: list[float] = []
    ys: list[float] = []
    ns: list[float] = []
    kinds: set[str] = set()
    for t in snap.trials:
        parent = by_id.get(t.parent_id) if t.parent_id is not None else None
        if parent is None or t.id not in curves:
            continue
        from_step = int(t.system_attrs.get("from_step", 0) or 0)
        start = _value_at(parent, metric, from_step)
        first_step, first_value = curves[t.id][0][0], curves[t.id][1][0]
        if start is None:
            continue
        kinds.add(lineage_kind(t.system_attrs))
        xs.extend([from_step, first_step, np.nan])
        ys.extend([start, first_value, np.nan])
        ns.extend([t.number, t.number, np.nan])
    if xs:
        fig.add_trace(
            trace(
                x=np.array(xs, dtype=float),
                y=np.array(ys, dtype=float),
                mode="lines+markers",
                name=f"{' / '.join(sorted(kinds))} from a parent's checkpoint ({len(xs) // 3})",
                line={"dash": "dot", "color": "#ff7f0e", "width": 1.5},
                marker={"symbol": "star", "size": np.tile([10.0, 0.0, 0.0], len(xs) // 3), "color": "#ff7f0e"},
                customdata=np.array(ns, dtype=float),
                hovertemplate="trial #%{customdata} starts from its parent's weights at step %{x}<extra></extra>",
            )
        )
