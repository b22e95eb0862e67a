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
- **Targets.** Losses (``history.loss``, lower is better) are centred on their median and scaled by
  ``1.4826 * MAD`` (the standard deviation when the MAD is zero), values more than one scale *above* the median
  are compressed doubly logarithmically (``z -> 1 + log(1 + log z)``: continuous, monotone, slope 1 at the
  joint; ``z = 10`` becomes 2.2 and ``z = 1e6`` becomes 3.7) so that a few
  diverged runs do not flatten the model near the optimum, and the result is standardised.
- **Model.** Zero-mean GP, Matérn-5/2 kernel with one lengthscale per encoded dimension, a signal variance and
  a noise variance, fitted by MAP (log-normal priors; the lengthscale prior is the dimension-scaled one of
  Hvarfner et al. 2024) with L-BFGS-B on the log-parameters and analytical gradients.
- **Refits.** Hyper-parameters are refitted at *anchor* counts of finished trials — every count up to 32, then
  16 per octave (every 2 to 64, every 4 to 128, ..., every 32 from 512) — each fit warm-started from the
  previous anchor's; past 256 trials a fit uses 256 of them (the 128 best and 128 spread over the rest), so
  a refit costs the same at 500 and at 5,000 trials. They are a function of the history alone (the fit at anchor ``m`` uses the first ``m``
  finished trials by number, and is cached under a fingerprint of those), so a fresh sampler in another worker
  proposes exactly what a long-running one would. Between anchors only the Cholesky factor is recomputed.
- **Acquisition.** Log expected improvement (Ament et al. 2023), scored on ``n_candidates`` points: a scrambled
  Sobol set plus Gaussian perturbations of the best trials; the best ``n_polish`` are then polished jointly by
  L-BFGS-B in their continuous dimensions (discrete dimensions stay at their grid values).
- **Parallel trials** are handled by a *kriging believer*: trials still running (or waiting) whose parameters
  cover the space are added as observations at the model's posterior mean, which keeps the mean and shrinks the
  variance there; a fantasy better than the best trial becomes the incumbent of the expected improvement. So the
  next proposal moves elsewhere.

Parameters outside that space (conditional ones), and every parameter during the first ``n_startup_trials``
finished trials (a scrambled Sobol sequence), are sampled without the model.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import weakref
from typing import Any, ClassVar, cast

import numpy as np

from itero.exceptions import ConfigError
from itero.samplers._base import BaseSampler, intersection_space
from itero.samplers._gp_kernel import (
    Posterior,
    default_theta,
    fit_map,
    log_ei,
    log_ei_grad,
    neg_log_posterior,
    short_theta,
)
from itero.samplers._sobol import Sobol
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
    """Robustly standardised losses: median/MAD scaling, log-log compression of the bad tail, then z-scores."""
    med = float(np.median(y))
    scale = 1.4826 * float(np.median(np.abs(y - med)))
    if not scale > 0:
        scale = float(np.std(y))
    if not scale > 0:
        return np.zeros_like(y)
    z = (y - med) / scale
    big = z > 1.0
    z[big] = 1.0 + np.log1p(np.log(z[big]))
    sd = float(np.std(z))
    return (z - z.mean()) / sd if sd > 0 else z - z.mean()


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
class GP(BaseSampler):
    """Gaussian-process BO with log expected improvement; see the module docstring for the method.

    Options:

    - ``seed``: makes every proposal a function of (seed, trial number, history).
    - ``n_startup_trials`` (>= 0): finished trials proposed by a scrambled Sobol sequence before the GP starts.
    - ``n_candidates`` (>= 16): points on which log EI is evaluated (the largest power of two up to three
      quarters of them from a Sobol sequence, the rest around the best trials).
    - ``n_polish`` (>= 0): best candidates polished by L-BFGS-B in their continuous dimensions.
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
        n_candidates: int = 1024,
        n_polish: int = 4,
        pending: str = "believer",
    ) -> None:
        super().__init__(seed)
        _check_int("n_startup_trials", n_startup_trials, 0)
        _check_int("n_candidates", n_candidates, 16)
        _check_int("n_polish", n_polish, 0)
        if pending not in ("believer", "ignore"):
            raise ConfigError(f"gp option 'pending' must be 'believer' or 'ignore', got {pending!r}")
        self.n_startup_trials = n_startup_trials
        self.n_candidates = n_candidates
        self.n_polish = n_polish
        self.pending = pending
        self._init_caches()

    def _init_caches(self) -> None:
        self._states: weakref.WeakKeyDictionary[History, _State] = weakref.WeakKeyDictionary()
        self._lock = threading.RLock()
        self._sobol = Sobol(seed=self.seed)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("_states", "_lock", "_sobol"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_caches()

    def __repr__(self) -> str:
        parts = [f"seed={self.seed!r}"]
        for key, param in inspect.signature(GP.__init__).parameters.items():
            if key not in ("self", "seed") and getattr(self, key) != param.default:
                parts.append(f"{key}={getattr(self, key)!r}")
        return f"GP({', '.join(parts)})"

    # --- the contract
    def sample(self, history: History, trial: FrozenTrial, name: str, dist: Distribution) -> Any:
        if len(history.completed()) < self.n_startup_trials:
            with self._lock:
                return self._sobol.sample(history, trial, name, dist)
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

        m = max(int(self.n_candidates * 0.75).bit_length() - 1, 3)  # Sobol points come in powers of two
        n_local = max(self.n_candidates - (1 << m), 1)
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
        starts = C[order[: self.n_polish]].copy()
        polished = _polish(gp, starts, enc.continuous, best)
        pmu, pvar = gp.predict(polished)
        pscore = log_ei(pmu, np.sqrt(pvar), best)
        j = int(np.argmax(pscore))
        return polished[j] if pscore[j] > score[i_best] else C[i_best]


def _polish(gp: Posterior, starts: np.ndarray, cont: np.ndarray, best: float) -> np.ndarray:
    """Maximise the summed log EI of ``starts`` jointly over their continuous columns (bounds [0, 1])."""
    k, c = len(starts), len(cont)
    base = starts.copy()

    def f(v: np.ndarray) -> tuple[float, np.ndarray]:
        Xs = base.copy()
        Xs[:, cont] = v.reshape(k, c)
        mu, var, dmu, dvar = gp.predict_grad(Xs)
        sigma = np.sqrt(var)
        val, dval_dmu, dval_dsigma = log_ei_grad(mu, sigma, best)
        grad = dval_dmu[:, None] * dmu + (dval_dsigma / (2.0 * sigma))[:, None] * dvar
        return -float(val.sum()), -grad[:, cont].ravel()

    import scipy.optimize  # imported when first needed: ~0.3 s

    res = scipy.optimize.minimize(
        f,
        base[:, cont].ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * (k * c),
        options={"maxiter": 20, "maxfun": 30},
    )
    out = base.copy()
    v = np.asarray(res.x, dtype=float)
    if np.all(np.isfinite(v)):
        out[:, cont] = np.clip(v.reshape(k, c), 0.0, 1.0)
    return out


def _check_int(key: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"gp option {key!r} must be an integer >= {low}, got {value!r}")


__all__ = ["GP", "warp"]
