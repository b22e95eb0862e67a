"""A static SVG of a line-and-dot figure, drawn by the server, shown until plotly.js (4.8 MB to parse) has drawn
the interactive figure in its place: the best-so-far curve is on screen as soon as its numbers arrive.

    >>> import plotly.graph_objects as go
    >>> svg = svg_preview(go.Figure(go.Scatter(x=[0, 1, 2], y=[3.0, 2.0, 2.5], mode="lines")))
    >>> svg.startswith('<svg class="preview"')
    True
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from itero.report._format import esc
from itero.report._format import number as fmt

WIDTH, HEIGHT = 560, 320
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 34, 40
MAX_DOTS = 3_000  # dots drawn per trace (evenly subsampled beyond)


def _values(v: object) -> np.ndarray:
    return np.asarray([] if v is None else v, dtype=float)


def _steps(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The corners of a horizontal-then-vertical ("hv") step line through the points."""
    sx = np.repeat(xs, 2)[1:]
    sy = np.repeat(ys, 2)[:-1]
    return sx, sy


def svg_preview(fig: go.Figure) -> str:
    """The scatter traces of ``fig`` (lines and markers) as an SVG; "" when it has none with finite values."""
    traces = [t for t in fig.data if t.type in ("scatter", "scattergl")]
    log_y = fig.layout.yaxis.type == "log"
    parts: list[tuple[go.Scatter, np.ndarray, np.ndarray]] = []
    for t in traces:
        xs, ys = _values(t.x), _values(t.y)
        if log_y:
            ys = np.where(ys > 0, np.log10(np.where(ys > 0, ys, 1.0)), np.nan)
        ok = np.isfinite(xs) & np.isfinite(ys)
        if ok.any():
            parts.append((t, xs[ok], ys[ok]))
    if not parts:
        return ""
    all_x = np.concatenate([p[1] for p in parts])
    all_y = np.concatenate([p[2] for p in parts])
    x0, x1 = float(all_x.min()), float(all_x.max())
    y0, y1 = float(all_y.min()), float(all_y.max())
    x1, y1 = (x1 if x1 > x0 else x0 + 1.0), (y1 if y1 > y0 else y0 + 1.0)
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad

    def px(v: np.ndarray) -> np.ndarray:
        return LEFT + (v - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT)

    def py(v: np.ndarray) -> np.ndarray:
        return HEIGHT - BOTTOM - (v - y0) / (y1 - y0) * (HEIGHT - TOP - BOTTOM)

    shapes = []
    for t, xs, ys in parts:
        mode = t.mode or "lines"
        if "lines" in mode:
            lx, ly = _steps(xs, ys) if (t.line and t.line.shape == "hv") else (xs, ys)
            color = (t.line.color if t.line else None) or "#e4572e"
            points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px(lx), py(ly), strict=True))
            shapes.append(f'<polyline fill="none" stroke="{esc(color)}" stroke-width="2" points="{points}"/>')
        if "markers" in mode:
            keep = np.linspace(0, len(xs) - 1, min(len(xs), MAX_DOTS)).astype(int)
            color = (t.marker.color if t.marker and isinstance(t.marker.color, str) else None) or "#1f77b4"
            dots = "".join(
                f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2"/>' for a, b in zip(px(xs[keep]), py(ys[keep]), strict=True)
            )
            shapes.append(f'<g fill="{esc(color)}" fill-opacity="0.5">{dots}</g>')

    def ylabel(v: float) -> str:
        return fmt(10**v if log_y else v, 3)

    title = html.unescape(fig.layout.title.text or "")
    xtitle = html.unescape(fig.layout.xaxis.title.text or "")
    axes = (
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" fill="none" '
        'stroke="#d0d5dd"/>'
        + _text(LEFT, HEIGHT - BOTTOM + 16, _tick(x0), "start")
        + _text(WIDTH - RIGHT, HEIGHT - BOTTOM + 16, _tick(x1), "end")
        + _text(LEFT - 6, HEIGHT - BOTTOM, ylabel(y0), "end")
        + _text(LEFT - 6, TOP + 10, ylabel(y1), "end")
        + _text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 8, xtitle, "middle")
        + _text(LEFT, 20, title, "start", size=14)
    )
    return (
        f'<svg class="preview" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{esc(title)}" '
        f'preserveAspectRatio="xMidYMid meet">{axes}{"".join(shapes)}</svg>'
    )


def _tick(v: float) -> str:
    return f"{round(v):,}" if abs(v) >= 1 and v == round(v) else fmt(v, 3)


def _text(x: float, y: float, text: str, anchor: str, size: int = 11) -> str:
    return f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}" font-size="{size}" fill="#5b6475">{esc(text)}</text>'
