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
    starts, mid = _runs(n, cap)
    return slots[mid], np.add.reduceat(weights, starts)


@functools.lru_cache(maxsize=64)
def _runs(n: int, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """The first and the middle index of each of ``cap`` runs of ``n`` consecutive items (read-only)."""
    edges = (np.arange(cap + 1) * n) // cap
    mid = (edges[:-1] + edges[1:]) // 2
    starts = edges[:-1]
    starts.flags.writeable = mid.flags.writeable = False
    return starts, mid


def _mixture_weights(weights: np.ndarray, prior_weight: float) -> np.ndarray:
    w = _with_last(weights, prior_weight)
    return w / np.add.reduce(w)


def _with_last(a: np.ndarray, value: float) -> np.ndarray:
    """``np.append(a, value)`` for a 1-D float array, without its overhead."""
    out = np.empty(len(a) + 1)
    out[:-1] = a
    out[-1] = value
    return out


class _Truncated:
    """Gaussian kernels truncated to [0, 1], with means ``mu`` and widths ``sigma``; their normal CDFs at 0 and
    1 and their log normalising terms are computed once, for both sampling and densities."""

    __slots__ = ("c", "hi", "lo", "mu", "sigma")

    def __init__(self, mu: np.ndarray, sigma: np.ndarray) -> None:
        self.mu = mu
        self.sigma = sigma
        self.lo = ndtr(-mu / sigma)
        self.hi = ndtr((1.0 - mu) / sigma)
        self.c = np.log(sigma) + _LOG_SQRT_2PI + np.log(np.maximum(self.hi - self.lo, 1e-300))

    def sample(self, k: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Inverse-CDF samples of kernels ``k`` from uniforms ``r``."""
        mu, a, b = self.mu[k], self.lo[k], self.hi[k]
        x = mu + self.sigma[k] * ndtri(a + r * (b - a))
        return np.clip(np.where(np.isfinite(x), x, mu), 0.0, 1.0)

    def add_log_pdf(self, total: np.ndarray, x: np.ndarray) -> None:
        """Adds to ``total`` (``len(x) x len(mu)``) the kernels' log densities at ``x``: in place, with the
        operations of ``-0.5 * z * z - c`` in that order (so the same bits)."""
        z = np.subtract.outer(x, self.mu)
        z /= self.sigma
        t = np.multiply(z, -0.5)
        t *= z
        t -= self.c
        total += t


def _start(log_w: np.ndarray, n: int) -> np.ndarray:
    """``n`` rows of ``log_w``: the sums of log densities start from the mixture's log weights."""
    total = np.empty((n, len(log_w)))
    total[...] = log_w
    return total


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """Row-wise log-sum-exp; overwrites ``a``."""
    m = np.maximum.reduce(a, axis=1)
    m = np.where(np.isfinite(m), m, 0.0)
    a -= m[:, None]
    np.exp(a, out=a)
    return m + np.log(np.add.reduce(a, axis=1))


def pick(weights: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Indices drawn from normalised ``weights`` by uniforms ``r``."""
    cum = np.add.accumulate(weights)
    return np.minimum(np.searchsorted(cum, r * cum[-1], side="right"), len(weights) - 1)


def _bandwidths(mus: np.ndarray, consider_endpoints: bool) -> np.ndarray:
    """Optuna's bandwidths of kernels at ``mus`` (unit cube): the larger gap to a neighbour (the range's ends
    count as neighbours), clipped below by the magic clip ``1 / min(100, n + 2)`` and above by 1. As in Optuna
    5, the prior's centre is not one of the neighbours. One more entry, 1, is the prior's bandwidth."""
    n = len(mus)
    sig = np.empty(n + 1)
    sig[n] = 1.0
    if n == 0:
        return sig
    order = mus.argsort(kind="stable")
    ext = np.empty(n + 2)
    ext[0] = 0.0
    ext[1:-1] = mus[order]
    ext[-1] = 1.0
    sig_sorted = np.maximum(ext[1:-1] - ext[:-2], ext[2:] - ext[1:-1])
    if not consider_endpoints and len(ext) >= 4:
        sig_sorted[0] = ext[2] - ext[1]
        sig_sorted[-1] = ext[-2] - ext[-3]
    own = sig[:n]
    own[order] = sig_sorted
    np.maximum(own, 1.0 / min(100.0, 2.0 + n), out=own)  # as np.clip: the gaps are >= +0.0
    np.minimum(own, 1.0, out=own)
    return sig


class Numeric1D:
    """Univariate Parzen estimator: Optuna's neighbour-distance bandwidths, magic clip, and a prior."""

    def __init__(self, mus: np.ndarray, weights: np.ndarray, prior_weight: float, consider_endpoints: bool):
        self.kernels = _Truncated(_with_last(mus, 0.5), _bandwidths(mus, consider_endpoints))
        self.w = _mixture_weights(weights, prior_weight)
        self.log_w = np.log(self.w)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        k = pick(self.w, rng.random(size))
        return self.kernels.sample(k, rng.random(size))

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        total = _start(self.log_w, len(x))
        self.kernels.add_log_pdf(total, x)
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
        obs: Sequence[np.ndarray],
        weights: np.ndarray,
        prior_weight: float,
        consider_endpoints: bool,
    ) -> None:
        """``obs[j]``: the observations of ``cols[j]`` (the unit values of the group's kernels)."""
        n = len(weights)
        self.cols = cols
        self.w = _mixture_weights(weights, prior_weight)
        self.log_w = np.log(self.w)
        self.values = [_with_last(o, 0.5) for o in obs]  # the prior kernel sits last
        self.kernels = [
            None if c.categorical else _Truncated(v, _bandwidths(o, consider_endpoints))
            for c, o, v in zip(cols, obs, self.values, strict=True)
        ]
        self.a = prior_weight / (n + 1)
        self.n = n

    def sample(self, rng: np.random.Generator, size: int) -> list[np.ndarray]:
        k = pick(self.w, rng.random(size))
        out = []
        for col, v, kernels in zip(self.cols, self.values, self.kernels, strict=True):
            if kernels is None:
                nc = col.n_choices
                keep = (rng.random(size) < 1.0 / (1.0 + nc * self.a)) & (k < self.n)
                uniform = rng.integers(0, nc, size)
                out.append(np.where(keep, v[k], uniform).astype(float))
            else:
                out.append(kernels.sample(k, rng.random(size)))
        return out

    def log_pdf(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        total = _start(self.log_w, len(xs[0]))
        for col, v, kernels, x in zip(self.cols, self.values, self.kernels, xs, strict=True):
            if kernels is None:  # one row of log probabilities per category, picked by the candidates' ones
                nc = col.n_choices
                norm = 1.0 + nc * self.a
                hit = np.arange(nc, dtype=float)[:, None] == v[None, :]
                table = np.where(hit, math.log((1.0 + self.a) / norm), math.log(self.a / norm))
                table[:, -1] = -math.log(nc)
                total += table[x.astype(np.intp)]
            else:
                kernels.add_log_pdf(total, x)
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
