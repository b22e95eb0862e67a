"""Order loss vectors best first: the smallest values for one objective, non-dominated rank and crowding
distance for several. Used by TPE (to split good from bad trials) and by the schedulers (rungs, quantiles).

>>> import numpy as np
>>> select_best(np.array([[3.0], [1.0], [2.0]]), 2).tolist()
[1, 2]
>>> rank_order(np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0]])).tolist()[-1]
2
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Largest (grid cells x front rows) for which hssp_select computes exact hypervolume gains.
_HSSP_BUDGET = 2e6


def smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest values; ties go to the lowest position (the oldest trial)."""
    if k >= len(values):
        return np.arange(len(values))
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    thr = np.partition(values, k - 1)[k - 1]
    lt = np.flatnonzero(values < thr)
    eq = np.flatnonzero(values == thr)
    return np.sort(np.concatenate([lt, eq[: k - len(lt)]]))


def nondominated_mask(points: np.ndarray) -> np.ndarray:
    """Mask of the non-dominated rows of ``points`` (losses to minimise)."""
    n, m = points.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    if m == 2:
        order = np.lexsort((points[:, 1], points[:, 0]))
        f0 = points[order, 0]
        f1 = points[order, 1]
        before = np.concatenate([[np.inf], np.minimum.accumulate(f1)[:-1]])  # min f1 over earlier rows
        start = np.searchsorted(f0, f0, side="left")  # first row of the same f0
        dominated = (before[start] <= f1) | (f1[start] < f1)
        mask = np.empty(n, dtype=bool)
        mask[order] = ~dominated
        return mask
    mask = np.empty(n, dtype=bool)
    chunk = max(1, 2_000_000 // max(1, n * m))
    for lo in range(0, n, chunk):
        p = points[lo : lo + chunk, None, :]
        le = np.all(points[None, :, :] <= p, axis=2)
        lt = np.any(points[None, :, :] < p, axis=2)
        mask[lo : lo + chunk] = ~np.any(le & lt, axis=1)
    return mask


def crowding_distance(points: np.ndarray) -> np.ndarray:
    n, m = points.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(points[:, j], kind="stable")
        f = points[order, j]
        span = f[-1] - f[0]
        d = np.zeros(n)
        d[0] = d[-1] = np.inf
        if span > 0:
            d[1:-1] = (f[2:] - f[:-2]) / span
        dist[order] += d
    return dist


def _hv_gains(selected: np.ndarray, cand: np.ndarray, lo: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Exact hypervolume gain ``HV(selected + {c}) - HV(selected)`` of every candidate row, inside the box
    ``[lo, ref]``: the grid of the selected points' coordinates splits the box into cells, each dominated by
    ``selected`` or not, and a candidate's gain is the sum over free cells of their overlap with its box, a
    product over the objectives."""
    m = cand.shape[1]
    edges = [np.unique(np.concatenate([[lo[d]], selected[:, d], [ref[d]]])) for d in range(m)]
    shape = tuple(len(e) - 1 for e in edges)
    dominated = np.zeros(shape, dtype=bool)
    if len(selected):
        pos = tuple(np.searchsorted(edges[d], selected[:, d]) for d in range(m))
        dominated[pos] = True
        for d in range(m):
            dominated = np.logical_or.accumulate(dominated, axis=d)
    free = (~dominated).astype(float)
    overlap = [np.maximum(0.0, e[None, 1:] - np.maximum(e[None, :-1], cand[:, d, None])) for d, e in enumerate(edges)]
    acc = np.tensordot(free, overlap[-1], axes=([m - 1], [1]))  # cells of the first m - 1 axes x candidates
    for d in range(m - 2, -1, -1):
        acc = np.einsum("...az,za->...z", acc, overlap[d])
    return np.asarray(acc)


def hssp_select(points: np.ndarray, k: int) -> np.ndarray:
    """Positions (sorted) of ``k`` rows of a front chosen by greedy hypervolume subset selection, as Optuna 5's
    multi-objective TPE breaks ties in its last front: each step adds the row of largest exact hypervolume gain
    (ties to the lower position), on losses normalised to ``[0, 1]`` over the front with reference point 1.1 in
    every objective. When the exact computation would be large (grid cells x rows over ``_HSSP_BUDGET``: many
    objectives or a large ``k``), falls back to crowding distance."""
    n, m = points.shape
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    if float(k + 1) ** m * n > _HSSP_BUDGET:
        return np.sort(np.lexsort((np.arange(n), -crowding_distance(points)))[:k])
    lo = points.min(axis=0)
    span = points.max(axis=0) - lo
    span[~(span > 0)] = 1.0
    z = (points - lo) / span
    ref = np.full(m, 1.1)
    left = np.ones(n, dtype=bool)
    chosen: list[int] = []
    gains = np.prod(ref - z, axis=1)
    for _ in range(k):
        j = int(np.argmax(np.where(left, gains, -1.0)))
        chosen.append(j)
        left[j] = False
        if len(chosen) < k:
            gains = _hv_gains(z[chosen], z, np.zeros(m), ref)
    return np.sort(np.asarray(chosen, dtype=np.intp))


def mo_select(points: np.ndarray, k: int, tiebreak: str = "crowding") -> np.ndarray:
    """Positions of ``k`` rows by non-dominated rank, the last front cut by crowding distance (``tiebreak``
    ``"crowding"``) or by greedy hypervolume subset selection (``"hssp"``, see :func:`hssp_select`)."""
    n = len(points)
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    remaining = np.arange(n)
    if n > 4 * k:
        # A row dominated by k others is never needed. Rows >= the componentwise max M of k pivot rows (and
        # > M somewhere) are dominated by every pivot: drop them. Every dominator of a kept row is kept, so
        # the fronts of kept rows do not change. Pivots: the k rows with the smallest normalised max-loss.
        cols = [np.ascontiguousarray(points[:, j]) for j in range(points.shape[1])]
        norm = np.zeros(n)
        for c in cols:
            lo = c.min()
            np.maximum(norm, (c - lo) / max(c.max() - lo, 1e-300), out=norm)
        top = points[smallest(norm, k)].max(axis=0)
        geq = np.ones(n, dtype=bool)
        gt = np.zeros(n, dtype=bool)
        for c, t in zip(cols, top, strict=True):
            geq &= c >= t
            gt |= c > t
        remaining = np.flatnonzero(~(geq & gt))
    chosen: list[np.ndarray] = []
    need = k
    while need > 0 and len(remaining):
        front_mask = nondominated_mask(points[remaining])
        front = remaining[front_mask]
        if len(front) <= need:
            chosen.append(front)
            need -= len(front)
            remaining = remaining[~front_mask]
        elif tiebreak == "hssp":
            chosen.append(front[hssp_select(points[front], need)])
            need = 0
        else:
            cd = crowding_distance(points[front])
            order = np.lexsort((front, -cd))
            chosen.append(front[order[:need]])
            need = 0
    return np.sort(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.intp)


def select_best(points: np.ndarray, k: int) -> np.ndarray:
    """Positions (sorted) of the ``k`` best rows of ``points`` (n x m losses to minimise)."""
    if points.shape[1] == 1:
        return smallest(points[:, 0], k)
    return mo_select(points, k)


def rank_order(points: np.ndarray) -> np.ndarray:
    """All positions, best first: by loss for one objective (ties to the lower position); by non-dominated
    front, then larger crowding distance, for several."""
    n = len(points)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    if points.shape[1] == 1:
        return np.argsort(points[:, 0], kind="stable")
    out: list[np.ndarray] = []
    remaining = np.arange(n)
    while len(remaining):
        mask = nondominated_mask(points[remaining])
        front = remaining[mask]
        cd = crowding_distance(points[front])
        out.append(front[np.lexsort((front, -cd))])
        remaining = remaining[~mask]
    return np.concatenate(out)


def constrained_rank_order(points: np.ndarray, violation: np.ndarray) -> np.ndarray:
    """:func:`rank_order` under constrained domination (Deb et al. 2002): feasible rows (``violation <= 0``)
    first, ranked by their losses; then infeasible ones by total violation, ascending (ties: lower position)."""
    feasible = np.flatnonzero(violation <= 0)
    infeasible = np.flatnonzero(violation > 0)
    order = feasible[rank_order(points[feasible])]
    return np.concatenate([order, infeasible[np.argsort(violation[infeasible], kind="stable")]])


def constrained_select(points: np.ndarray, violation: np.ndarray, k: int) -> np.ndarray:
    """Positions (sorted) of the ``k`` best rows under constrained domination: :func:`select_best` among the
    feasible rows, topped up with the infeasible rows of least violation."""
    feasible = np.flatnonzero(violation <= 0)
    if k <= len(feasible):
        return feasible[select_best(points[feasible], k)]
    infeasible = np.flatnonzero(violation > 0)
    extra = infeasible[np.argsort(violation[infeasible], kind="stable")[: k - len(feasible)]]
    return np.sort(np.concatenate([feasible, extra]))


def total_violation(constraints: Sequence[float]) -> float:
    """Sum of the positive constraint values (0 for a feasible trial, as in Optuna: feasible when all <= 0)."""
    return float(sum(c for c in constraints if c > 0))
