"""The numerics of the GP sampler: a Matérn-5/2 ARD Gaussian process, its MAP fit, and log expected improvement.

Everything is numpy float64 with analytical gradients (no autograd), so that one marginal-likelihood evaluation
at 500 points costs a Cholesky factor, its inverse and a few ``n x n`` element-wise passes.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((20, 2)); y = np.sin(6 * X[:, 0]) + X[:, 1]
    >>> theta = fit_map(X, (y - y.mean()) / y.std(), default_theta(2), maxiter=100)
    >>> gp = Posterior(X, (y - y.mean()) / y.std(), theta)
    >>> mu, var = gp.predict(X[:3])
    >>> bool(np.all(var >= 0))
    True

References:

- Rasmussen & Williams (2006), *Gaussian Processes for Machine Learning*, ch. 4-5 (Matérn kernel, gradients
  of the log marginal likelihood).
- Hvarfner, Hellsten & Nardi (2024), *Vanilla Bayesian optimization performs great in high dimensions*
  (the dimension-scaled log-normal lengthscale prior used here).
- Ament, Daulton, Eriksson, Balandat & Bakshy (2023), *Unexpected improvements to expected improvement for
  Bayesian optimization* (the numerically stable ``log_h`` behind :func:`log_ei`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
from scipy.linalg import lapack
from scipy.special import erfcx, log_ndtr, ndtr

_SQRT5 = math.sqrt(5.0)
_LOG_2PI = math.log(2.0 * math.pi)
_C1 = 0.5 * math.log(2.0 * math.pi)
_C2 = 0.5 * math.log(math.pi / 2.0)
_INV_SQRT_EPS = 1.0 / math.sqrt(np.finfo(float).eps)
_JITTER = 1e-9

# Priors on the log hyper-parameters (theta = [log lengthscales..., log signal variance, log noise variance]).
_LOG_S2_PRIOR = (0.0, 1.0)
_LOG_NOISE_PRIOR = (-4.0, 1.5)
_LOG_LS_SD = math.sqrt(3.0)
_BOUNDS_LS = (math.log(1e-3), math.log(1e3))
_BOUNDS_S2 = (math.log(1e-2), math.log(1e2))
_BOUNDS_NOISE = (math.log(1e-6), math.log(1.0))


def _ls_prior_mean(d: int) -> float:
    return math.sqrt(2.0) + 0.5 * math.log(d)


def default_theta(d: int) -> np.ndarray:
    """A starting point: lengthscales at the prior's median, unit signal variance, noise variance 1e-3."""
    return np.concatenate([np.full(d, _ls_prior_mean(d)), [0.0, math.log(1e-3)]])


def short_theta(d: int) -> np.ndarray:
    """A second starting point, with short lengthscales (0.2): wiggly functions fit from here."""
    return np.concatenate([np.full(d, math.log(0.2)), [0.0, math.log(1e-3)]])


def bounds(d: int) -> list[tuple[float, float]]:
    return [_BOUNDS_LS] * d + [_BOUNDS_S2, _BOUNDS_NOISE]


# --------------------------------------------------------------------------------------------- the kernel
def _sqdist(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of A and B (already divided by the lengthscales)."""
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    return np.maximum(d2, 0.0, out=d2)


def matern52(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Matérn-5/2 correlation at distances ``r``, and ``m(r) = (5/3)(1 + sqrt5 r) exp(-sqrt5 r)``, with which
    ``d k / d log l_i = m(r) (x_i - x'_i)^2 / l_i^2`` and ``d k / d x_i = -m(r) (x_i - x'_i) / l_i^2``."""
    s = _SQRT5 * r
    e = np.exp(-s)
    m = (5.0 / 3.0) * (1.0 + s) * e
    return (1.0 + s + s * s / 3.0) * e, m


def matern52_corr(r: np.ndarray) -> np.ndarray:
    """The Matérn-5/2 correlation alone, computed in place of ``r`` (fewer temporaries than :func:`matern52`)."""
    r *= _SQRT5
    e = np.exp(-r)
    out = r * r
    out *= 1.0 / 3.0
    out += r
    out += 1.0
    out *= e
    return out


def _cholesky(K: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor, adding jitter to the diagonal until it succeeds."""
    jitter = 0.0
    scale = float(np.mean(np.diag(K))) or 1.0
    for _ in range(8):
        L, info = lapack.dpotrf(K + jitter * np.eye(len(K)) if jitter else K, lower=1, clean=1)
        if info == 0:
            return L
        jitter = max(jitter * 10.0, 1e-8 * scale)
    raise np.linalg.LinAlgError("kernel matrix is not positive definite")


def _inverse_from_cholesky(L: np.ndarray) -> np.ndarray:
    inv, info = lapack.dpotri(L, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("dpotri failed")
    inv = np.tril(inv)
    inv += np.tril(inv, -1).T
    return inv


# --------------------------------------------------------------------------------------------- the MAP fit
def neg_log_posterior(theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """``-log p(y | X, theta) - log p(theta)`` (up to a constant) and its gradient in ``theta``."""
    n, d = X.shape
    inv_ls = np.exp(-theta[:d])
    s2 = math.exp(theta[d])
    noise = math.exp(theta[d + 1])
    Z = X * inv_ls
    r = np.sqrt(_sqdist(Z, Z))
    C, M = matern52(r)
    K = s2 * C
    K[np.diag_indices(n)] += noise + _JITTER
    try:
        L = _cholesky(K)
        alpha = scipy.linalg.cho_solve((L, True), y, check_finite=False)
        Kinv = _inverse_from_cholesky(L)
    except np.linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(L)).sum()) + 0.5 * n * _LOG_2PI
    W = Kinv
    W -= np.outer(alpha, alpha)  # d nll / d theta_j = 0.5 tr(W dK/dtheta_j)
    grad = np.empty_like(theta)
    A = W * M
    A *= s2
    grad[:d] = A.sum(1) @ (Z * Z) - (Z * (A @ Z)).sum(0)
    grad[d] = 0.5 * s2 * float((W * C).sum())
    grad[d + 1] = 0.5 * noise * float(np.trace(W))
    # Priors (Optuna's): on each inverse squared lengthscale u, a penalty 0.1 (u + 1/u), which keeps lengthscales
    # near the width of the cube; Gamma(2, 1) on the signal variance, Gamma(1.1, 30) on the noise variance.
    t = theta[:d]
    pen = 0.1 * float(np.sum(np.exp(2 * t) + np.exp(-2 * t))) + (s2 - theta[d]) + (30.0 * noise - 0.1 * theta[d + 1])
    g = grad.copy()
    g[:d] += 0.2 * (np.exp(2 * t) - np.exp(-2 * t))
    g[d] += s2 - 1.0
    g[d + 1] += 30.0 * noise - 0.1
    return nll + pen, g


def fit_map(X: np.ndarray, y: np.ndarray, theta0: np.ndarray, maxiter: int = 50) -> np.ndarray:
    """MAP hyper-parameters by L-BFGS-B on the log-parameters, started at ``theta0`` (a warm start)."""
    d = X.shape[1]
    b = bounds(d)
    lo = np.array([x[0] for x in b])
    hi = np.array([x[1] for x in b])
    x0 = np.clip(theta0, lo, hi)
    import scipy.optimize  # imported when first needed: ~0.3 s

    res = scipy.optimize.minimize(
        neg_log_posterior,
        x0,
        args=(X, y),
        jac=True,
        method="L-BFGS-B",
        bounds=b,
        options={"maxiter": maxiter, "maxfun": 2 * maxiter + 10},
    )
    theta = np.asarray(res.x, dtype=float)
    return theta if np.all(np.isfinite(theta)) else x0


# --------------------------------------------------------------------------------------------- the posterior
class Posterior:
    """The GP posterior on training points ``X`` (n x d, unit cube) and standardised targets ``y``."""

    def __init__(self, X: np.ndarray, y: np.ndarray, theta: np.ndarray) -> None:
        d = X.shape[1]
        self.X = X
        self.inv_ls = np.exp(-theta[:d])
        self.inv_ls2 = self.inv_ls**2
        self.s2 = math.exp(theta[d])
        self.noise = math.exp(theta[d + 1])
        self.Z = X * self.inv_ls
        C, _ = matern52(np.sqrt(_sqdist(self.Z, self.Z)))
        K = self.s2 * C
        K[np.diag_indices(len(X))] += self.noise + _JITTER
        self.L = _cholesky(K)
        self.alpha = scipy.linalg.cho_solve((self.L, True), y, check_finite=False)
        self._Kinv: np.ndarray | None = None

    def _cross(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        C, M = matern52(np.sqrt(_sqdist(Xs * self.inv_ls, self.Z)))
        return self.s2 * C, self.s2 * M

    def predict(self, Xs: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance (of the latent function) at the rows of ``Xs``, ``chunk`` rows at a time
        (arrays that stay in cache: 3x faster than all at once for 2,048 rows and 500 trials)."""
        mu = np.empty(len(Xs))
        var = np.empty(len(Xs))
        for lo in range(0, len(Xs), chunk):
            d2 = _sqdist(Xs[lo : lo + chunk] * self.inv_ls, self.Z)
            Ks = matern52_corr(np.sqrt(d2, out=d2))
            Ks *= self.s2
            mu[lo : lo + chunk] = Ks @ self.alpha
            V = scipy.linalg.solve_triangular(self.L, Ks.T, lower=True, check_finite=False)
            var[lo : lo + chunk] = self.s2 - (V * V).sum(0)
        return mu, np.maximum(var, 1e-12)

    def predict_grad(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients in ``Xs`` (each ``len(Xs) x d``)."""
        Ks, Ms = self._cross(Xs)
        mu = Ks @ self.alpha
        if self._Kinv is None:  # a one-off O(n^3), then each call is O(m n d)
            self._Kinv = _inverse_from_cholesky(self.L)
        w = Ks @ self._Kinv  # (K^-1 k*)^T, m x n
        var = np.maximum(self.s2 - (Ks * w).sum(1), 1e-12)
        Ba = Ms * self.alpha[None, :]
        dmu = -(Ba.sum(1)[:, None] * Xs - Ba @ self.X) * self.inv_ls2
        Bw = Ms * w
        dvar = 2.0 * (Bw.sum(1)[:, None] * Xs - Bw @ self.X) * self.inv_ls2
        return mu, var, dmu, dvar


# --------------------------------------------------------------------------------------------- log EI
def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x < 0``, accurate on both sides of ``-log 2``."""
    x = np.minimum(x, -1e-300)
    return np.where(x > -math.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_h(z: np.ndarray) -> np.ndarray:
    """``log(phi(z) + z Phi(z))``, finite for every finite ``z`` (Ament et al. 2023, eq. 9)."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    hi = z > -1.0
    zh = z[hi]
    out[hi] = np.log(np.exp(-0.5 * zh * zh - _C1) + zh * ndtr(zh))
    mid = ~hi & (z > -_INV_SQRT_EPS)
    zm = z[mid]
    out[mid] = -0.5 * zm * zm - _C1 + _log1mexp(np.log(erfcx(-zm / math.sqrt(2.0)) * np.abs(zm)) + _C2)
    lo = ~hi & ~mid
    zl = z[lo]
    out[lo] = -0.5 * zl * zl - _C1 - 2.0 * np.log(np.abs(zl))
    return out


def log_ei(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    """``log E[max(best - f, 0)]`` for ``f ~ N(mu, sigma^2)`` (minimisation), stable far below ``best``."""
    z = (best - mu) / sigma
    return log_h(z) + np.log(sigma)


def log_ei_grad(mu: np.ndarray, sigma: np.ndarray, best: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log_ei`` and its derivatives in ``mu`` and ``sigma``; ``d log h / dz = Phi(z) / h(z)``."""
    z = (best - mu) / sigma
    lh = log_h(z)
    dlh = np.exp(log_ndtr(z) - lh)
    return lh + np.log(sigma), -dlh / sigma, (1.0 - dlh * z) / sigma
