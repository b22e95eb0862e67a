"""Warm-start lineage: which trial started from which trial's checkpoint (PBT clones, shared-weight starts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from itero.plot._data import Snapshot, lineage_kind
from itero.plot._style import STATE_COLORS, layout, scatter_class


@dataclass(frozen=True)
class LineageRow:
    """Trial ``child`` started from the checkpoint of trial ``parent`` at ``from_step``."""

    child: int
    parent: int | None
    kind: str
    from_step: int | None
    replaces: int | None
    child_state: str


def lineage_rows(snap: Snapshot) -> list[LineageRow]:
    """One row per trial that started from another trial's checkpoint, in order of trial number."""
    numbers = snap.number_of
    out = []
    for t in snap.trials:
        if t.parent_id is None:
            continue
        attrs = t.system_attrs
        parent = numbers.get(t.parent_id, attrs.get("clone_of", attrs.get("shared_from")))
        from_step = attrs.get("from_step")
        replaces = attrs.get("replaces")
        out.append(
            LineageRow(
                child=t.number,
                parent=int(parent) if parent is not None else None,
                kind=lineage_kind(attrs),
                from_step=int(from_step) if from_step is not None else None,
                replaces=int(replaces) if replaces is not None else None,
                child_state=str(t.state),
            )
        )
    return out


def lineage_figure(snap: Snapshot) -> go.Figure | str:
    """Each trial of a lineage as a bar from the step it started at to the step it reached, with a link from its
    parent at the step it took the weights from. The figure, or the reason there is none."""
    rows = lineage_rows(snap)
    if not rows:
        return "No trial started from another trial's checkpoint (no PBT clones or shared-weight starts)."
    involved = {r.child for r in rows} | {r.parent for r in rows if r.parent is not None}
    involved |= {r.replaces for r in rows if r.replaces is not None}
    start = {r.child: r.from_step or 0 for r in rows}
    by_state: dict[str, tuple[list[float], list[float]]] = {}
    for t in snap.trials:
        if t.number in involved:
            xs, ys = by_state.setdefault(str(t.state), ([], []))
            xs += [start.get(t.number, 0), max(t.step, start.get(t.number, 0)), np.nan]
            ys += [t.number, t.number, np.nan]
    trace = scatter_class(3 * len(involved))
    fig = go.Figure()
    for state, (xs, ys) in by_state.items():
        fig.add_trace(
            trace(
                x=np.array(xs, dtype=float),
                y=np.array(ys, dtype=float),
                mode="lines",
                name=f"trial ({state.lower()})",
                line={"color": STATE_COLORS.get(state, "#777"), "width": 5},
                hovertemplate="trial #%{y}: step %{x}<extra>" + state.lower() + "</extra>",
            )
        )
    lx: list[float] = []
    ly: list[float] = []
    reached = {t.number: t.step for t in snap.trials if t.number in involved}
    rx: list[float] = []
    ry: list[float] = []
    for r in rows:
        if r.parent is not None:
            step = r.from_step or 0
            lx += [step, step, np.nan]
            ly += [r.parent, r.child, np.nan]
        if r.replaces is not None and r.replaces in reached:
            rx += [reached[r.replaces]]
            ry += [r.replaces]
    fig.add_trace(
        trace(
            x=np.array(lx, dtype=float),
            y=np.array(ly, dtype=float),
            mode="lines+markers",
            name="started from the parent's checkpoint",
            line={"color": "#ff7f0e", "width": 1.2, "dash": "dot"},
            marker={"symbol": "triangle-down", "color": "#ff7f0e", "size": np.tile([0.0, 10.0, 0.0], len(lx) // 3)},
            hovertemplate="from step %{x}<extra></extra>",
        )
    )
    if rx:
        fig.add_trace(
            trace(
                x=np.array(rx, dtype=float),
                y=np.array(ry, dtype=float),
                mode="markers",
                name="replaced by the clone",
                marker={"symbol": "x", "size": 10, "color": "#d62728"},
                hovertemplate="trial #%{y} (stopped at step %{x}) replaced by a clone<extra></extra>",
            )
        )
    layout(
        fig,
        f"Warm-start lineage: {len(rows)} trials started from another trial's checkpoint",
        "Step",
        "Trial #",
        height=min(900, max(320, 60 + 14 * len(involved))),
    )
    ticks = sorted(involved)
    if len(ticks) <= 60:
        fig.update_yaxes(tickvals=ticks, ticktext=[f"#{n}" for n in ticks])
    fig.update_yaxes(autorange="reversed", zeroline=False)
    return fig
