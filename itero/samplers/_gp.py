"""Gaussian-process Bayesian optimisation (single objective) with log expected improvement.

    >>> import itero
    >>> study = itero.create_study("gp-demo", storage="sqlite://", sampler={"name": "gp", "seed": 0})
    >>> study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2, n_trials=15, show_progress=False)
    >>> abs(study.best_trial.params["x"] - 1) < 0.5
    True

How a trial is proposed (``sample_joint``, over the parameters every finished trial has):

- **Encoding.** Floats and ints go to the unit cube through ``dist.to_unit`` (log space for log ranges);
  categoricals are one-hot. Ints and stepped floats are snapped to their grid in every candidate, so the
  acquisition compares values that can actually be proposed.
- **Targets.** Losses (``history.loss``, lower is better) are standardised to z-scores, as Optuna's GPSampler
  does. (An earlier version compressed the bad tail logarithmically; with the prior below it did not help.)
- **Model.** Zero-mean GP, Matérn-5/2 kernel with one lengthscale per encoded dimension, a signal variance and
  a noise variance, fitted by MAP with L-BFGS-B on the log-parameters and analytical gradients. The priors are
  Optuna's: a penalty ``0.1 (u + 1/u)`` on each inverse squared lengthscale ``u`` (lengthscales near the width
  of the cube), Gamma(2, 1) on the signal variance and Gamma(1.1, 30) on the noise variance. (The
  dimension-scaled log-normal prior of Hvarfner et al. 2024, used before, favours lengthscales of 6-13 in
  2-10 D; with 100 trials that model was too smooth and got stuck in local optima of Hartmann-6 and
  Rosenbrock-10.)
- **Refits.** Hyper-parameters are refitted at *anchor* counts of finished trials — every count up to 32, then
  16 per octave (every 2 to 64, every 4 to 128, ..., every 32 from 512) — each fit warm-started from the
  previous anchor's; past 256 trials a fit uses 256 of them (the 128 best and 128 spread over the rest), so
  a refit costs the same at 500 and at 5,000 trials. They are a function of the history alone (the fit at
  anchor ``m`` uses the first ``m`` finished trials by number, and is cached under a fingerprint of those), so
  a fresh sampler in another worker proposes exactly what a long-running one would. Between anchors only the
  Cholesky factor is recomputed.
- **Acquisition.** Log expected improvement (Ament et al. 2023), scored on ``n_candidates`` (2048) points of a
  scrambled Sobol set (as in Optuna: preliminary samples, then local search). ``n_polish`` (10) local searches
  start from the best candidate, the best trial, and candidates drawn with probability proportional to EI
  (Optuna's roulette). Each is its own L-BFGS-B run (up to 200 iterations, stopping at a projected gradient of
  0.01, as Optuna) in the continuous dimensions, each rescaled by its lengthscale so the problem is well
  conditioned (discrete dimensions stay on their grid); the runs are interleaved so that the posterior is
  evaluated on all of them at once (``itero.samplers._lbfgsb``). An earlier version ran one L-BFGS-B on the
  sum of all starts: the runs then stopped together, some short of their maximum, and on fixed Hartmann-6
  histories 5 of 40 proposals missed the acquisition's maximum that Optuna found (2 of 40 now).
- **Parallel trials** are handled by a *kriging believer*: trials still running (or waiting) whose parameters
  cover the space are added as observations at the model's posterior mean, which keeps the mean and shrinks the
  variance there; a fantasy better than the best trial becomes the incumbent of the expected improvement. So the
  next proposal moves elsewhere.

Parameters outside that space (conditional ones), and every parameter during the first ``n_startup_trials``
finished trials, are sampled uniformly at random (seeded by trial and name), as Optuna's RandomSampler does. A
10-point scrambled Sobol design was tried: its columns are strongly correlated (|r| up to 0.8 in 6-D), and it
left the GP in Hartmann-6's local optimum on 8 of 10 seeds against 4 of 10 with random points.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar, cast

import numpy as np

from itero._spec import options_repr
from itero._validation import check_choice, check_int
from itero.samplers._base import BaseSampler, PerHistoryCache, intersection_space
from itero.samplers._gp_kernel import (
    Posterior,
    default_theta,
    fit_map,
    log_ei,
    log_ei_grad,
    neg_log_posterior,
    short_theta,
)
from itero.samplers._lbfgsb import batched_lbfgsb
from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History, TrialState

_JOINT_SALT = "__gp_joint__"
_MAX_GRID = 4096  # discrete ranges with more values than this are searched as continuous and rounded at the end
_PENDING_STATES = (TrialState.RUNNING, TrialState.WAITING)
_MAX_FIT = 256  # trials a hyper-parameter fit uses at most


# --------------------------------------------------------------------------------------------- encoding
class _Encoder:
    """Maps parameter dicts of one space to rows of the encoded cube, and back."""

    def __init__(self, space: dict[str, Distribution]) -> None:
        self.names = sorted(space)
        self.dists = [space[n] for n in self.names]
        self.slices: list[slice] = []
        self.grids: list[np.ndarray | None] = []  # unit positions of every value of a (small) discrete range
        cont: list[int] = []
        col = 0
        for dist in self.dists:
            if isinstance(dist, CategoricalDistribution):
                width = len(dist.choices)
                self.grids.append(None)
            else:
                width = 1
                grid = _grid(dist)
                self.grids.append(grid)
                if grid is None:
                    cont.append(col)
            self.slices.append(slice(col, col + width))
            col += width
        self.dim = col
        self.continuous = np.array(cont, dtype=np.intp)

    def encode(self, params: dict[str, Any]) -> np.ndarray | None:
        row = np.zeros(self.dim)
        for name, dist, sl in zip(self.names, self.dists, self.slices, strict=True):
            if name not in params or not dist.contains(params[name]):
                return None
            value = params[name]
            if isinstance(dist, CategoricalDistribution):
                row[sl.start + dist.index(value)] = 1.0
            else:
                row[sl.start] = dist.to_unit(value)
        return row

    def decode(self, row: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, dist, sl in zip(self.names, self.dists, self.slices, strict=True):
            if isinstance(dist, CategoricalDistribution):
                out[name] = dist.choices[int(np.argmax(row[sl]))]
            else:
                out[name] = dist.from_unit(float(row[sl.start]))
        return out

    def from_raw(self, U: np.ndarray) -> np.ndarray:
        """Encoded rows from points of the raw cube (one coordinate per parameter), snapped to the grids."""
        X = np.zeros((len(U), self.dim))
        for j, (dist, sl) in enumerate(zip(self.dists, self.slices, strict=True)):
            if isinstance(dist, CategoricalDistribution):
                n = len(dist.choices)
                idx = np.minimum((U[:, j] * n).astype(np.intp), n - 1)
                X[np.arange(len(U)), sl.start + idx] = 1.0
            else:
                X[:, sl.start] = U[:, j]
        return self.snap(X)

    def snap(self, X: np.ndarray) -> np.ndarray:
        """Discrete numeric columns moved to their nearest grid point (in place), categoricals made one-hot."""
        for dist, sl, grid in zip(self.dists, self.slices, self.grids, strict=True):
            if isinstance(dist, CategoricalDistribution):
                block = X[:, sl]
                idx = np.argmax(block, axis=1)
                block[:] = 0.0
                block[np.arange(len(X)), idx] = 1.0
            elif grid is not None:
                x = X[:, sl.start]
                mids = 0.5 * (grid[1:] + grid[:-1])
                X[:, sl.start] = grid[np.searchsorted(mids, x)]
        return X

    def categorical_blocks(self) -> list[slice]:
        return [sl for d, sl in zip(self.dists, self.slices, strict=True) if isinstance(d, CategoricalDistribution)]


def _grid(dist: Distribution) -> np.ndarray | None:
    if isinstance(dist, IntDistribution):
        count = (dist.high - dist.low) // dist.step + 1
        values: list[Any] = [dist.low + k * dist.step for k in range(count)] if count <= _MAX_GRID else []
    elif isinstance(dist, FloatDistribution) and dist.step is not None:
        count = round((dist.high - dist.low) / dist.step) + 1
        values = [dist.low + k * dist.step for k in range(count)] if count <= _MAX_GRID else []
    else:
        return None
    if not values:
        return None
    return np.array([dist.to_unit(v) for v in values])


def warp(y: np.ndarray) -> np.ndarray:
    """Standardised losses (z-scores). No tail compression: on Hartmann-6 and Rosenbrock-10 it did not help."""
    sd = float(np.std(y))
    return (y - y.mean()) / sd if sd > 0 else y - y.mean()


def _anchor(n: int) -> int:
    """The largest refit count <= n: every count below 32, then 16 per octave."""
    if n < 32:
        return n
    step = 1 << (n.bit_length() - 5)
    return n - n % step


_controller: Any = None


def _single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    """BLAS limited to one thread while the GP runs, when threadpoolctl is installed: its matrices (at most a
    few thousand rows) are too small to gain from threads, and on a busy machine threads cost up to 5x."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            _controller = ThreadpoolController()
    if _controller is False:
        return contextlib.nullcontext()
    return cast(contextlib.AbstractContextManager[Any], _controller.limit(limits=1, user_api="blas"))


def _fit_subset(y: np.ndarray, cap: int = _MAX_FIT) -> np.ndarray:
    """Indices of the trials a hyper-parameter fit uses: all of them up to ``cap``, else the ``cap / 2`` best and
    ``cap / 2`` spread evenly over the rest in trial order (the model itself always conditions on every trial)."""
    n = len(y)
    if n <= cap:
        return np.arange(n)
    order = np.argsort(y, kind="stable")
    best = order[: cap // 2]
    rest = np.sort(order[cap // 2 :])
    spread = rest[(np.arange(cap - cap // 2) * len(rest)) // (cap - cap // 2)]
    return np.sort(np.concatenate([best, spread]))


# --------------------------------------------------------------------------------------------- the cache
class _State:
    """Per-history cache: the intersection space, encoded rows by trial, and fitted hyper-parameters."""

    def __init__(self) -> None:
        self.version = -1
        self.space: dict[str, Distribution] = {}
        self.encoder: _Encoder | None = None
        self.rows: dict[int, tuple[FrozenTrial, np.ndarray | None]] = {}
        self.thetas: dict[int, tuple[int, np.ndarray]] = {}  # anchor -> (fingerprint of its data, theta)

    def refresh(self, history: History) -> None:
        if history.version == self.version:
            return
        space = intersection_space(history)
        if self.encoder is None or space != self.space:
            self.space = space
            self.encoder = _Encoder(space) if space else None
            self.rows.clear()
            self.thetas.clear()
        self.version = history.version

    def encode(self, t: FrozenTrial) -> np.ndarray | None:
        assert self.encoder is not None
        hit = self.rows.get(t.number)
        if hit is not None and hit[0] is t:
            return hit[1]
        row = self.encoder.encode(t.params)
        self.rows[t.number] = (t, row)
        return row

    def theta(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Hyper-parameters for the first ``_anchor(len(X))`` rows, by the warm-started chain of anchor fits."""
        n = len(X)
        anchors: list[int] = []
        m = _anchor(n)
        while m >= 1:
            anchors.append(m)
            m = _anchor(m - 1)
        anchors.reverse()
        theta: np.ndarray | None = None
        start = 0
        prints: dict[int, int] = {}
        for i in range(len(anchors) - 1, -1, -1):  # the longest valid prefix of the chain
            m = anchors[i]
            prints[i] = hash((X[:m].tobytes(), y[:m].tobytes()))
            hit = self.thetas.get(m)
            if hit is not None and hit[0] == prints[i]:
                theta, start = hit[1], i + 1
                break
        for i in range(start, len(anchors)):
            m = anchors[i]
            keep = _fit_subset(y[:m])
            Xm, ym = X[keep], warp(y[keep])
            if theta is None:  # the first fit: from the better of two starting points
                cands = [default_theta(X.shape[1]), short_theta(X.shape[1])]
                theta = min(cands, key=lambda t: neg_log_posterior(t, Xm, ym)[0])
                theta = fit_map(Xm, ym, theta, maxiter=200)
            else:
                alt = short_theta(X.shape[1])
                if neg_log_posterior(alt, Xm, ym)[0] < neg_log_posterior(theta, Xm, ym)[0]:
                    theta = alt
                theta = fit_map(Xm, ym, theta, maxiter=25 if m > 128 else 50)
            self.thetas[m] = (prints[i], theta)
        assert theta is not None
        return theta


# --------------------------------------------------------------------------------------------- the sampler
class GP(PerHistoryCache, BaseSampler):
    """Gaussian-process BO with log expected improvement; see the module docstring for the method.

    Options:

    - ``seed``: makes every proposal a function of (seed, trial number, history).
    - ``n_startup_trials`` (>= 0): finished trials proposed uniformly at random before the GP starts.
    - ``n_candidates`` (>= 16): points on which log EI is evaluated (the largest power of two of them from a
      Sobol sequence, the rest around the best trials).
    - ``n_polish`` (>= 0): starts of the L-BFGS-B local search in the continuous dimensions (the best candidate,
      the best trial, the rest drawn in proportion to EI).
    - ``pending`` (``"believer"`` or ``"ignore"``): how running trials enter the model.

        >>> GP(seed=0, n_startup_trials=5)
        GP(seed=0, n_startup_trials=5)

    References: Snoek, Larochelle & Adams (2012), *Practical Bayesian optimization of machine learning
    algorithms*; Ament et al. (2023), *Unexpected improvements to expected improvement*; Ginsbourger, Le Riche &
    Carraro (2010), *Kriging is well-suited to parallelize optimization* (kriging believer).
    """

    name = "gp"
    supports_multi_objective: ClassVar[bool] = False

    def __init__(
        self,
        seed: int | None = None,
        n_startup_trials: int = 10,
        n_candidates: int = 2048,
        n_polish: int = 10,
        pending: str = "believer",
    ) -> None:
        super().__init__(seed)
        check_int("gp", "n_startup_trials", n_startup_trials, 0)
        check_int("gp", "n_candidates", n_candidates, 16)
        check_int("gp", "n_polish", n_polish, 0)
        check_choice("gp", "pending", pending, ("believer", "ignore"))
        self.n_startup_trials = n_startup_trials
        self.n_candidates = n_candidates
        self.n_polish = n_polish
        self.pending = pending
        self._init_caches()

    def __repr__(self) -> str:
        return options_repr(self)

    # --- the contract
    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        return dist.from_unit(float(self.rng(trial, name).random()))

    def sample_joint(self, history: History, trial: FrozenTrial) -> dict[str, Any]:
        completed = history.completed()
        if not completed or len(completed) < self.n_startup_trials:
            return {}
        with _single_threaded_blas():
            return self._propose(history, trial, completed)

    def _propose(self, history: History, trial: FrozenTrial, completed: list[FrozenTrial]) -> dict[str, Any]:
        with self._lock:
            state = self._states.get(history)
            if state is None:
                state = self._states[history] = _State()
            state.refresh(history)
            enc = state.encoder
            if enc is None:
                return {}
            rows, losses = [], []
            for t in completed:
                row = state.encode(t)
                if row is not None:
                    rows.append(row)
                    losses.append(history.loss(t))
            if not rows:
                return {}
            X = np.array(rows)
            y_raw = np.array(losses)
            theta = state.theta(X, y_raw)
            pending: list[np.ndarray] = []
            if self.pending == "believer":
                for t in history.with_state(*_PENDING_STATES):
                    if t.number != trial.number:
                        row = enc.encode(t.params)
                        if row is not None:
                            pending.append(row)
        y = warp(y_raw.copy())
        gp = Posterior(X, y, theta)
        incumbent = float(y.min())
        if pending:  # kriging believer: the fantasies count as observations, in the incumbent too
            P = np.array(pending)
            mu_p, _ = gp.predict(P)
            gp = Posterior(np.vstack([X, P]), np.concatenate([y, mu_p]), theta)
            incumbent = min(incumbent, float(mu_p.min()))
        best = self._maximise(gp, enc, X, y, incumbent, self.rng(trial, _JOINT_SALT))
        return enc.decode(best)

    # --- the acquisition
    def _maximise(
        self, gp: Posterior, enc: _Encoder, X: np.ndarray, y: np.ndarray, best: float, rng: np.random.Generator
    ) -> np.ndarray:
        from scipy.stats import qmc  # imported here: scipy.stats costs ~0.5 s at import

        m = self.n_candidates.bit_length() - 1  # Sobol points come in powers of two
        n_local = self.n_candidates - (1 << m)
        raw = qmc.Sobol(len(enc.names), scramble=True, seed=rng).random_base2(m)
        cands = [enc.from_raw(raw)]
        top = X[np.argsort(y, kind="stable")[: min(5, len(X))]]
        centre = top[rng.integers(0, len(top), n_local)]
        scale = np.where(rng.random((n_local, 1)) < 0.5, 0.02, 0.1)
        local = np.clip(centre + scale * rng.standard_normal(centre.shape), 0.0, 1.0)
        for sl in enc.categorical_blocks():  # switch a category now and then
            flip = rng.random(n_local) < 1.0 / max(len(enc.names), 2)
            local[flip, sl] = rng.random((int(flip.sum()), sl.stop - sl.start))
        cands.append(enc.snap(local))
        C = np.vstack(cands)
        mu, var = gp.predict(C)
        score = log_ei(mu, np.sqrt(var), best)
        order = np.argsort(-score, kind="stable")
        i_best = int(order[0])
        if self.n_polish == 0 or len(enc.continuous) == 0:
            return C[i_best]
        # Starts: the best candidate, the best trial, and the rest drawn with probability proportional to EI.
        probs = np.exp(score - score[i_best])
        probs[i_best] = 0.0
        extra = min(self.n_polish - 2, int(np.count_nonzero(probs > 0)))
        idx = [i_best]
        if extra > 0:
            idx += [int(i) for i in rng.choice(len(C), size=extra, replace=False, p=probs / probs.sum())]
        starts = np.vstack([C[idx], X[np.argsort(y, kind="stable")[:1]]])
        polished = _polish(gp, starts, enc.continuous, best)
        pmu, pvar = gp.predict(polished)
        pscore = log_ei(pmu, np.sqrt(pvar), best)
        j = int(np.argmax(pscore))
        return polished[j] if pscore[j] > score[i_best] else C[i_best]


def _polish(gp: Posterior, starts: np.ndarray, cont: np.ndarray, best: float, maxiter: int = 200) -> np.ndarray:
    """Maximise log EI from each of ``starts`` over their continuous columns (bounds [0, 1]): independent
    L-BFGS-B runs, in coordinates divided by the lengthscales (well conditioned), evaluated in batches."""
    ls = 1.0 / gp.inv_ls[cont]

    def fg(V: np.ndarray, runs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Xs = starts[runs]
        Xs[:, cont] = V * ls
        mu, var, dmu, dvar = gp.predict_grad(Xs)
        sigma = np.sqrt(var)
        val, dval_dmu, dval_dsigma = log_ei_grad(mu, sigma, best)
        grad = dval_dmu[:, None] * dmu + (dval_dsigma / (2.0 * sigma))[:, None] * dvar
        return -val, -(grad[:, cont] * ls)

    # A run whose log EI stays 10 nats (a factor 22,000) below the best run's is given up: it cannot win; of two
    # runs that meet (within 0.01 lengthscale), the worse stops: they were climbing the same hill.
    v = batched_lbfgsb(
        fg, starts[:, cont] / ls, [(0.0, float(u)) for u in 1.0 / ls], maxiter=maxiter, give_up=10.0, merge=0.01
    )
    out = starts.copy()
    if np.all(np.isfinite(v)):
        out[:, cont] = np.clip(v * ls, 0.0, 1.0)
    return out


__all__ = ["GP", "warp"]
