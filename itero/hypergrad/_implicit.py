"""Implicit differentiation: the hypergradient at a trained optimum, without differentiating through training.

At an optimum ``w*`` of the training loss ``L_t(w, λ)``, the implicit function theorem gives

    d L_v(w*(λ), λ) / dλ = ∂L_v/∂λ − (∂²L_t/∂λ∂w) H⁻¹ ∂L_v/∂w,      H = ∂²L_t/∂w²

``H⁻¹ g`` is solved with Hessian-vector products (``torch.func``: forward-over-reverse ``jvp`` of ``grad``), by
conjugate gradient or by a truncated Neumann series ``α Σₖ (I − αH)ᵏ g``. The Neumann series converges only when
``α < 2 / λ_max(H)``: with ``check=True`` the largest eigenvalue is estimated (power iteration) first and a step
size above that bound raises :class:`NeumannDivergenceError` naming the bound.

    def train_loss(params, hparams):
        return F.cross_entropy(functional_call(model, params, (x_train,)), y_train) + penalty(params, hparams)
    def val_loss(params, hparams):
        return F.cross_entropy(functional_call(model, params, (x_val,)), y_val)
    # ... train the model with any torch optimiser, then:
    result = implicit_hypergradient(train_loss, val_loss, params_of(model), hparams, method="cg")
    result.grads["log_wd"]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor
from torch.func import grad, jvp, vjp

from itero.exceptions import IteroError
from itero.hypergrad._tree import Params, axpy, detach, dot, norm, scale

Loss = Callable[[Params, Params], Tensor]


class NegativeCurvatureError(IteroError, ValueError):
    """Conjugate gradient met non-positive curvature before its first step (the Hessian is not positive definite)."""


class NeumannDivergenceError(IteroError, ValueError):
    """The Neumann series of the inverse Hessian would diverge (step size above 2 / largest eigenvalue)."""


@dataclass
class Hypergradient:
    """The hypergradient per hyper-parameter and how the linear solve went."""

    grads: Params
    iterations: int
    residual: float  # ||H x − g|| / ||g|| of the returned solve
    lambda_max: float | None = None  # the estimated largest Hessian eigenvalue, when it was computed
    val_loss: float = math.nan
    solution: Params | None = None  # H⁻¹ ∂L_v/∂w: pass as ``x0`` to the next call to warm-start its solve


def hvp_fn(train_loss: Loss, params: Params, hparams: Params, damping: float = 0.0) -> Callable[[Params], Params]:
    """``v -> (H + damping·I) v`` with ``H`` the Hessian of ``train_loss`` in ``params`` at ``(params, hparams)``."""
    hp = detach(hparams)

    def g(p: Params) -> Params:
        out: Params = grad(train_loss, argnums=0)(p, hp)
        return out

    pullback: list[Callable[..., tuple[Params]]] = []  # reverse-over-reverse, built once when needed

    def hvp(v: Params) -> Params:
        if not pullback:
            try:
                out = jvp(g, (params,), (v,))[1]
            except (RuntimeError, NotImplementedError):  # an op without a forward-mode formula
                pullback.append(vjp(g, params)[1])
                return hvp(v)
        else:
            out = pullback[0](v)[0]  # H is symmetric: v^T H = H v
        return axpy(damping, v, out) if damping else dict(out)

    return hvp


def largest_eigenvalue(
    hvp: Callable[[Params], Params], like: Params, iterations: int = 200, tol: float = 1e-5, seed: int = 0
) -> float:
    """The Hessian's largest-magnitude eigenvalue by power iteration, until it changes by less than ``tol``
    (relative) or after ``iterations`` Hessian-vector products."""
    gen = torch.Generator().manual_seed(seed)
    v = {k: torch.randn(t.shape, generator=gen, dtype=t.dtype).to(t.device) for k, t in like.items()}
    v = scale(1.0 / max(norm(v), 1e-30), v)
    value = 0.0
    for _ in range(iterations):
        hv = hvp(v)
        new = float(dot(v, hv))
        n = norm(hv)
        if n == 0:
            return 0.0
        v = scale(1.0 / n, hv)
        if abs(new - value) <= tol * abs(new):
            return abs(new)
        value = new
    return abs(value)


def conjugate_gradient(
    hvp: Callable[[Params], Params],
    b: Params,
    iterations: int = 50,
    tol: float = 1e-10,
    x0: Params | None = None,
) -> tuple[Params, int, float]:
    """Solve ``H x = b`` (H symmetric positive definite) from ``x0`` (default 0: a previous solution makes short
    solves accurate); returns ``(x, iterations, relative residual)``. Raises :class:`NegativeCurvatureError`
    when the very first direction has non-positive curvature (the solve would return nothing)."""
    b_norm = norm(b) or 1.0
    if x0 is None:
        x = {k: torch.zeros_like(v) for k, v in b.items()}
        r = dict(b)
    else:
        x = {k: x0[k].detach() for k in b}
        r = axpy(-1.0, hvp(x), b)
    p = dict(r)
    rr = dot(r, r)
    k = 0
    for k in range(1, iterations + 1):
        hp = hvp(p)
        php = dot(p, hp)
        if float(php) <= 0:
            if k == 1:
                raise NegativeCurvatureError(
                    f"the Hessian has non-positive curvature ({float(php) / max(float(dot(p, p)), 1e-300):.3g}) "
                    "along the first conjugate-gradient direction, so the solve cannot start: pass damping > "
                    "that magnitude (e.g. damping=0.05), train closer to a minimum, or use method='neumann'"
                )
            warnings.warn(
                "conjugate gradient met a direction of non-positive curvature: the Hessian is not positive definite "
                "here (train longer, or pass damping > 0)",
                RuntimeWarning,
                stacklevel=3,
            )
            break
        a = rr / php
        x = axpy(a, p, x)
        r = axpy(-a, hp, r)
        rr_new = dot(r, r)
        if math.sqrt(float(rr_new)) / b_norm < tol:
            rr = rr_new
            break
        p = axpy(rr_new / rr, p, r)
        rr = rr_new
    return x, k, math.sqrt(float(rr)) / b_norm


def neumann(hvp: Callable[[Params], Params], b: Params, alpha: float, terms: int) -> tuple[Params, int, float]:
    """``α Σ_{k=0}^{terms} (I − αH)ᵏ b`` ≈ ``H⁻¹ b``; raises when the terms grow (the series diverges)."""
    v = dict(b)
    acc = dict(b)
    first = norm(b) or 1.0
    for k in range(1, terms + 1):
        v = axpy(-alpha, hvp(v), v)
        acc = {n: acc[n] + v[n] for n in acc}
        size = norm(v)
        if not math.isfinite(size) or size > 1e6 * first:
            raise NeumannDivergenceError(
                f"the Neumann series diverged after {k} terms (term norm {size:.3g}, first {first:.3g}): the step "
                f"size alpha={alpha:g} is above 2 / (largest Hessian eigenvalue); use a smaller alpha, alpha=None "
                "(chosen from the estimated eigenvalue), or method='cg'"
            )
    x = scale(alpha, acc)
    hx = hvp(x)
    residual = norm(axpy(-1.0, b, hx)) / first
    return x, terms, residual


def implicit_hypergradient(
    train_loss: Loss,
    val_loss: Loss,
    params: Mapping[str, Tensor],
    hparams: Mapping[str, Tensor],
    *,
    method: Literal["cg", "neumann"] = "cg",
    iterations: int = 50,
    alpha: float | None = None,
    tol: float = 1e-10,
    damping: float = 0.0,
    check: bool = True,
    x0: Params | None = None,
) -> Hypergradient:
    """The hypergradient ``dL_v/dλ`` of every tensor in ``hparams`` at trained ``params``.

    ``train_loss(params, hparams)`` and ``val_loss(params, hparams)`` return scalars (use
    ``torch.func.functional_call`` to evaluate a module with given parameters). ``method="cg"``: conjugate gradient
    with up to ``iterations`` steps; ``"neumann"``: ``iterations`` terms of the Neumann series with step ``alpha``
    (default ``1 / λ_max``, estimated). ``damping`` adds ``damping·I`` to the Hessian (for non-convex losses).
    ``x0``: the previous call's ``solution``, to warm-start conjugate gradient when hyper-steps repeat.
    """
    if method not in ("cg", "neumann"):
        raise ValueError(f"method must be 'cg' or 'neumann', got {method!r}")
    w = detach(params)
    hp = detach(hparams)
    v_loss = float(val_loss(w, hp))
    g_w = grad(val_loss, argnums=0)(w, hp)
    direct = grad(val_loss, argnums=1)(w, hp)
    hvp = hvp_fn(train_loss, w, hp, damping)
    lam = None
    if method == "cg":
        x, its, residual = conjugate_gradient(hvp, g_w, iterations, tol, x0)
    else:
        if alpha is None or check:
            lam = largest_eigenvalue(hvp, w)
        if alpha is None:
            if lam is None or lam <= 0:
                raise NeumannDivergenceError("the Hessian's largest eigenvalue is not positive: use method='cg'")
            alpha = 1.0 / lam
        elif lam is not None and alpha * lam >= 2.0:
            raise NeumannDivergenceError(
                f"the Neumann series diverges: alpha={alpha:g} but 2 / (largest Hessian eigenvalue {lam:.4g}) = "
                f"{2.0 / lam:.4g}; use alpha below that (alpha=None picks 1 / eigenvalue) or method='cg'"
            )
        x, its, residual = neumann(hvp, g_w, alpha, iterations)
    x = detach(x)

    def mixed(h: Params) -> Tensor:
        return dot(grad(train_loss, argnums=0)(w, h), x)

    cross = grad(mixed)(hp)
    grads = {k: direct[k] - cross[k] for k in hp}
    return Hypergradient(grads, its, residual, lam, v_loss, x)
