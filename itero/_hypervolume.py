"""Hypervolume of a set of loss vectors (all objectives minimised) with respect to a reference point.

The hypervolume is the measure of the region dominated by the points and bounded by the reference point; a
larger value means a better front. Points not strictly better than the reference in every objective add
nothing and are ignored.

    >>> hypervolume([[1.0, 2.0], [2.0, 1.0]], [3.0, 3.0])
    3.0

Exact in every dimension: a sort and sweep for 2 objectives (O(n log n)), a sweep over the third objective
with 2-D slices for 3 (O(n^2 log n)), and the WFG algorithm for 4 or more (While, Bradstreet and Barone,
"A Fast Way of Calculating Exact Hypervolumes", IEEE TEVC 2012), which is exponential in the worst case but
quick for the fronts of a few hundred points a study produces in 4-5 objectives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from itero._ranking import nondominated_mask


def hypervolume(points: Sequence[Sequence[float]] | np.ndarray, reference: Sequence[float] | np.ndarray) -> float:
    """The hypervolume that ``points`` (n x m losses) dominate inside the box bounded by ``reference``."""
    ref = np.asarray(reference, dtype=float)
    if ref.ndim != 1 or len(ref) == 0 or not np.all(np.isfinite(ref)):
        raise ValueError(f"reference must be a non-empty vector of finite numbers, got {reference!r}")
    pts = np.asarray(points, dtype=float).reshape(-1, len(ref)) if len(points) else np.empty((0, len(ref)))
    pts = pts[np.all(pts < ref, axis=1)]  # NaN rows fail the comparison too
    if len(pts) == 0:
        return 0.0
    return _hv(_front(pts), ref)


def _front(pts: np.ndarray) -> np.ndarray:
    """The distinct non-dominated rows, sorted by the first objective (then the next ones)."""
    pts = np.unique(pts, axis=0)  # sorted lexicographically
    return pts[nondominated_mask(pts)]


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    n, m = pts.shape
    if n == 1 or m == 1:
        return float(np.prod(ref - pts.min(axis=0)))
    if m == 2:
        return _hv2(pts, ref)
    if m == 3:
        return _hv3(pts, ref)
    return _wfg(pts, ref)


def _hv2(pts: np.ndarray, ref: np.ndarray) -> float:
    """2-D front sorted by f0 ascending (so f1 descending): a sum of rectangles."""
    widths = np.diff(np.append(pts[:, 0], ref[0]))
    return float(np.sum(widths * (ref[1] - pts[:, 1])))


def _hv3(pts: np.ndarray, ref: np.ndarray) -> float:
    """Sweep over f2: each slab between consecutive f2 values has the 2-D area of the points below it."""
    order = np.argsort(pts[:, 2], kind="stable")
    p = pts[order]
    z = np.append(p[:, 2], ref[2])
    total = 0.0
    for i in range(len(p)):
        depth = z[i + 1] - z[i]
        if depth <= 0:
            continue
        xy = p[: i + 1, :2]
        if i:
            xy = xy[np.lexsort((xy[:, 1], xy[:, 0]))]
            xy = xy[nondominated_mask(xy)]
        total += depth * _hv2(xy, ref[:2])
    return total


def _wfg(pts: np.ndarray, ref: np.ndarray) -> float:
    """WFG: the sum over points of their exclusive hypervolume, each computed against the limited set of the
    points after it. ``pts`` is a front sorted by the first objective."""
    n = len(pts)
    if n == 1:
        return float(np.prod(ref - pts[0]))
    if n == 2:
        both = np.maximum(pts[0], pts[1])
        return float(np.prod(ref - pts[0]) + np.prod(ref - pts[1]) - np.prod(ref - both))
    total = 0.0
    for i in range(n):
        p = pts[i]
        inclusive = float(np.prod(ref - p))
        rest = pts[i + 1 :]
        if len(rest) == 0:
            total += inclusive
            continue
        limited = np.maximum(rest, p)
        limited = limited[np.all(limited < ref, axis=1)]
        if len(limited) == 0:
            total += inclusive
            continue
        total += inclusive - _hv(_front(limited), ref)
    return total
