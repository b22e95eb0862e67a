"""TPE's Parzen estimators in the unit cube: truncated Gaussians with Optuna's bandwidths for numbers, collapsed
categorical kernels for categories, the joint (product-kernel) estimator, and kernel weights and merging."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from itero.samplers._tpe._state import Column
from itero.space import Distribution, FloatDistribution, IntDistribution

MAX_KERNELS = 256
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@functools.lru_cache(maxsize=256)
def default_weights(n: int) -> np.ndarray:
    """Optuna's weights of ``n`` trials in order of number: flat for the 25 newest, a ramp for older ones.
    Cached per ``n``, so the array is read-only."""
    if n == 0:
        w = np.empty(0)
    elif n < 25:
        w = np.ones(n)
    else:
        w = np.concatenate([np.linspace(1.0 / n, 1.0, num=n - 25), np.ones(25)])
    w.flags.writeable = False
    return w


def reduce_kernels(slots: np.ndarray, weights: np.ndarray, cap: int = MAX_KERNELS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``cap`` kernels: runs of consecutive trials become their middle one, with their summed
    weight."""
    n = len(slots)
    if n <= cap:
        return slots, weights
    edges = (np.arange(cap + 1) * n) // cap
    mid = (edges[:-1] + edges[1:]) // 2
    return slots[mid], np.add.reduceat(weights, edges[:-1])


def _mixture_weights(weights: np.ndarray, prior_weight: float) -> np.ndarray:
    w = np.append(weights, prior_weight)
    return w / w.sum()


def _add_tn_logpdf(total: np.ndarray, x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> None:
    """Adds to ``total`` (``len(x) x len(mu)``) the log densities of Gaussians truncated to [0, 1]: in place,
    with the same operations in the same order as ``-0.5 * z * z - c`` (so the same bits)."""
    log_z = np.log(np.maximum(ndtr((1.0 - mu) / sigma) - ndtr(-mu / sigma), 1e-300))
    c = np.log(sigma) + _LOG_SQRT_2PI + log_z
    z = np.subtract.outer(x, mu)
    z /= sigma
    t = np.multiply(z, -0.5)
    t *= z
    t -= c
    total += t


def _tn_sample(mu: np.ndarray, sigma: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Inverse-CDF samples of Gaussians truncated to [0, 1] from uniforms ``r``."""
    a = ndtr(-mu / sigma)
    b = ndtr((1.0 - mu) / sigma)
    x = mu + sigma * ndtri(a + r * (b - a))
    return np.clip(np.where(np.isfinite(x), x, mu), 0.0, 1.0)


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """Row-wise log-sum-exp; overwrites ``a``."""
    m = a.max(axis=1)
    m = np.where(np.isfinite(m), m, 0.0)
    a -= m[:, None]
    np.exp(a, out=a)
    return m + np.log(a.sum(axis=1))


def pick(weights: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Indices drawn from normalised ``weights`` by uniforms ``r``."""
    cum = np.cumsum(weights)
    return np.minimum(np.searchsorted(cum, r * cum[-1], side="right"), len(weights) - 1)


def _bandwidths(mus: np.ndarray, consider_endpoints: bool) -> np.ndarray:
    """Optuna's bandwidths of kernels at ``mus`` (unit cube): the larger gap to a neighbour (the range's ends
    count as neighbours), clipped below by the magic clip ``1 / min(100, n + 2)`` and above by 1. As in Optuna
    5, the prior's centre is not one of the neighbours."""
    n = len(mus)
    if n == 0:
        return np.empty(0)
    order = np.argsort(mus, kind="stable")
    ext = np.concatenate([[0.0], mus[order], [1.0]])
    sig_sorted = np.maximum(ext[1:-1] - ext[:-2], ext[2:] - ext[1:-1])
    if not consider_endpoints and len(ext) >= 4:
        sig_sorted[0] = ext[2] - ext[1]
        sig_sorted[-1] = ext[-2] - ext[-3]
    sig = np.empty_like(sig_sorted)
    sig[order] = sig_sorted
    return np.clip(sig, 1.0 / min(100.0, 2.0 + n), 1.0)


class Numeric1D:
    """Univariate Parzen estimator: Optuna's neighbour-distance bandwidths, magic clip, and a prior."""

    def __init__(self, mus: np.ndarray, weights: np.ndarray, prior_weight: float, consider_endpoints: bool):
        self.mu = np.append(mus, 0.5)
        self.sigma = np.append(_bandwidths(mus, consider_endpoints), 1.0)
        self.w = _mixture_weights(weights, prior_weight)
        self.log_w = np.log(self.w)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        k = pick(self.w, rng.random(size))
        return _tn_sample(self.mu[k], self.sigma[k], rng.random(size))

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        total = np.broadcast_to(self.log_w, (len(x), len(self.log_w))).copy()
        _add_tn_logpdf(total, x, self.mu, self.sigma)
        return _logsumexp(total)


def categorical_probs(idx: np.ndarray, weights: np.ndarray, prior_weight: float, nc: int) -> np.ndarray:
    """The mixture of Optuna's categorical kernels (one-hot plus ``prior_weight / n_kernels``) and a uniform
    prior, collapsed into one probability vector."""
    n = len(idx)
    w = _mixture_weights(weights, prior_weight)
    a = prior_weight / (n + 1)
    norm = 1.0 + nc * a
    p = np.bincount(idx, weights=w[:n], minlength=nc) / norm
    p += w[:n].sum() * a / norm + w[n] / nc
    return p / p.sum()


class Joint:
    """Multivariate Parzen estimator: product kernels, plus a prior. As in Optuna 5, each dimension's
    bandwidths follow the univariate neighbour rule (with the magic clip)."""

    def __init__(
        self,
        cols: Sequence[Column],
        slots: np.ndarray,
        weights: np.ndarray,
        prior_weight: float,
        consider_endpoints: bool,
    ) -> None:
        n = len(slots)
        self.cols = cols
        self.w = _mixture_weights(weights, prior_weight)
        self.log_w = np.log(self.w)
        obs = [c.u[slots] for c in cols]
        self.sigmas = [
            np.empty(0) if c.categorical else np.append(_bandwidths(o, consider_endpoints), 1.0)
            for c, o in zip(cols, obs, strict=True)
        ]
        self.values = [np.append(o, 0.5) for o in obs]  # the prior kernel sits last
        self.a = prior_weight / (n + 1)
        self.n = n

    def sample(self, rng: np.random.Generator, size: int) -> list[np.ndarray]:
        k = pick(self.w, rng.random(size))
        out = []
        for col, v, sigma in zip(self.cols, self.values, self.sigmas, strict=True):
            if col.categorical:
                nc = col.n_choices
                keep = (rng.random(size) < 1.0 / (1.0 + nc * self.a)) & (k < self.n)
                uniform = rng.integers(0, nc, size)
                out.append(np.where(keep, v[k], uniform).astype(float))
            else:
                out.append(_tn_sample(v[k], sigma[k], rng.random(size)))
        return out

    def log_pdf(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        total = np.broadcast_to(self.log_w, (len(xs[0]), len(self.log_w))).copy()
        for col, v, sigma, x in zip(self.cols, self.values, self.sigmas, xs, strict=True):
            if col.categorical:  # one row of log probabilities per category, picked by the candidates' ones
                nc = col.n_choices
                norm = 1.0 + nc * self.a
                hit = np.arange(nc, dtype=float)[:, None] == v[None, :]
                table = np.where(hit, math.log((1.0 + self.a) / norm), math.log(self.a / norm))
                table[:, -1] = -math.log(nc)
                total += table[x.astype(np.intp)]
            else:
                _add_tn_logpdf(total, x, v, sigma)
        return _logsumexp(total)


def _is_discrete(dist: Distribution) -> bool:
    if isinstance(dist, FloatDistribution):
        return dist.step is not None
    return isinstance(dist, IntDistribution)


def snap(dist: Distribution, u: np.ndarray) -> tuple[np.ndarray, list[Any] | None]:
    """For grid distributions, candidates moved to their grid point (so that equal values score equally)."""
    if not _is_discrete(dist):
        return u, None
    if isinstance(dist, IntDistribution) and not dist.log and max(abs(dist.low), abs(dist.high)) < 2**52:
        return _snap_int(dist, u)
    values = [dist.from_unit(float(x)) for x in u]
    units: dict[Any, float] = {}
    for v in values:
        if v not in units:
            units[v] = dist.to_unit(v)
    return np.array([units[v] for v in values]), values


def _snap_int(dist: IntDistribution, u: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """``snap`` of a linear integer range, vectorised with the float operations of ``dist.from_unit`` and
    ``dist.to_unit`` in the same order (Python's ``round`` and ``np.rint`` both round half to even)."""
    lo, hi = dist.low - dist.step / 2, dist.high + dist.step / 2
    x = lo + np.minimum(1.0, np.maximum(0.0, u)) * (hi - lo)
    k = np.rint((x - float(dist.low)) / float(dist.step))
    ints = np.minimum(float(dist.high), np.maximum(float(dist.low), float(dist.low) + k * float(dist.step)))
    units = np.minimum(1.0, np.maximum(0.0, (ints - lo) / (hi - lo)))
    return units, [int(v) for v in ints.tolist()]
