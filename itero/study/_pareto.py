"""Non-dominated sorting of loss vectors (all objectives minimised)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def non_dominated(losses: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates, in input order.

    >>> non_dominated([[1, 2], [2, 1], [2, 2], [1, 2]])
    [0, 1, 3]
    """
    if len(losses) == 0:
        return []
    pts = np.asarray(losses, dtype=float)
    if pts.shape[1] == 1:
        best = pts[:, 0].min()
        return [i for i in range(len(pts)) if pts[i, 0] == best]
    order = np.lexsort(pts.T[::-1])  # sort by first objective, then the next ones
    front: list[int] = []
    for i in order:
        p = pts[i]
        dominated = False
        for j in front:
            q = pts[j]
            if np.all(q <= p) and np.any(q < p):
                dominated = True
                break
        if not dominated:
            front.append(int(i))
    return sorted(front)
