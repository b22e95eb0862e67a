"""Independent L-BFGS-B runs whose function evaluations are batched: one call of ``fg`` per round evaluates the
current point of every run that has not stopped.

    >>> import numpy as np
    >>> fg = lambda X, runs: (((X - 0.3) ** 2).sum(axis=1), 2 * (X - 0.3))
    >>> xs = batched_lbfgsb(fg, np.array([[0.0, 1.0], [1.0, 0.0]]), [(0.0, 1.0)] * 2)
    >>> np.allclose(xs, 0.3, atol=1e-4)
    True

Each run is scipy's L-BFGS-B with its own memory and stopping test, as if run alone; the runs are interleaved
with ``greenlet`` (as Optuna's GP sampler does) so that a GP posterior is evaluated on all of them at once,
which costs about what one evaluation costs. Without ``greenlet`` the runs go one after another (and run to
their own end: ``give_up`` and ``merge`` need the runs side by side).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

FG = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def batched_lbfgsb(
    fg: FG,
    x0: np.ndarray,
    bounds: list[tuple[float, float]],
    maxiter: int = 200,
    gtol: float = 1e-2,
    give_up: float | None = None,
    merge: float | None = None,
) -> np.ndarray:
    """Minimise from every row of ``x0``; ``fg(X, runs)`` returns the values ``(k,)`` and gradients ``(k, d)``
    at the rows of ``X``, which are the current points of the runs numbered ``runs`` (rows of ``x0``). A run
    stops when its projected gradient is below ``gtol``, after ``maxiter`` iterations, or (with ``give_up``)
    when the best value it has seen is worse than the best any run has seen by more than ``give_up``, or (with
    ``merge``) when its current point is within ``merge`` (Euclidean) of another run's and its best value is
    the worse of the two: it then ends at the best point it evaluated. Returns the end point of each run."""
    import scipy.optimize  # imported when first needed: ~0.3 s

    try:
        from greenlet import greenlet
    except ImportError:  # pragma: no cover - greenlet is a dependency; this is a safety net
        greenlet = None

    out = np.array(x0, dtype=float, copy=True)
    options = {"maxiter": maxiter, "gtol": gtol}

    if greenlet is None:  # pragma: no cover
        for i in range(len(out)):
            which = np.array([i])

            def one(x: np.ndarray, which: np.ndarray = which) -> tuple[float, np.ndarray]:
                f, g = fg(x[None, :], which)
                return float(f[0]), g[0]

            out[i] = scipy.optimize.minimize(one, out[i], jac=True, method="L-BFGS-B", bounds=bounds, options=options).x
        return out

    def run(i: int) -> None:
        parent = greenlet.getcurrent().parent

        def one(x: np.ndarray) -> tuple[float, np.ndarray]:
            f, g = parent.switch(i, x)  # hand the point to the driver, get its value back
            return f, g

        res = scipy.optimize.minimize(one, out[i], jac=True, method="L-BFGS-B", bounds=bounds, options=options)
        out[i] = res.x
        parent.switch(i, None)

    runs = [greenlet(run) for _ in range(len(out))]
    best_f = np.full(len(out), np.inf)  # the best value each run has evaluated, and where
    best_x = out.copy()
    pending: list[tuple[Any, int, np.ndarray]] = []
    for i, g in enumerate(runs):
        _, x = g.switch(i)
        if x is not None:
            pending.append((g, i, x))
    while pending:
        X = np.array([x for _, _, x in pending])
        f, grad = fg(X, np.array([i for _, i, _ in pending]))
        for (_, i, _), fi, xi in zip(pending, f, X, strict=True):
            if fi < best_f[i]:
                best_f[i], best_x[i] = fi, xi
        cutoff = np.inf if give_up is None else float(best_f.min()) + give_up
        stop = best_f[[i for _, i, _ in pending]] > cutoff  # hopeless
        if merge is not None and len(X) > 1:  # runs that met: keep the better one
            ids = np.array([i for _, i, _ in pending])
            close = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)) < merge
            worse = (best_f[ids][:, None] > best_f[ids][None, :]) | (
                (best_f[ids][:, None] == best_f[ids][None, :]) & (ids[:, None] > ids[None, :])
            )
            stop |= np.any(close & worse, axis=1)
        nxt = []
        for (g, i, _), fi, gi, s in zip(pending, f, grad, stop, strict=True):
            if s:  # stop it where it did best (the greenlet is discarded)
                out[i] = best_x[i]
                continue
            _, x = g.switch((float(fi), np.array(gi, dtype=float)))
            if x is not None:
                nxt.append((g, i, x))
        pending = nxt
    return out
