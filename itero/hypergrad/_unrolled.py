"""Truncated unrolled differentiation: backpropagate the validation loss through K differentiable inner steps.

The inner steps are SGD (with momentum) written functionally, so that the graph runs from the hyper-parameters
(and the learning rate, if it is one) through every update. Memory grows with K: keep K small (a few to a few
dozen steps) and unroll from the current weights, not from the initialisation (the "truncated" variant).

    grads, params = unrolled_hypergradient(step_loss, val_loss, params, hparams, batches, lr=0.1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

from itero.hypergrad._tree import Params, detach


def unrolled_hypergradient(
    step_loss: Callable[[Params, Params, Any], Tensor],
    val_loss: Callable[[Params, Params], Tensor],
    params: Mapping[str, Tensor],
    hparams: Mapping[str, Tensor],
    batches: Iterable[Any],
    lr: float | Tensor,
    momentum: float = 0.0,
) -> tuple[Params, Params, float]:
    """``(hypergradients, params after the K steps, validation loss)``.

    ``step_loss(params, hparams, batch)`` is the training loss on one batch; one SGD step is taken per batch of
    ``batches`` (K = its length). ``lr`` may be a tensor in ``hparams`` to get its hypergradient too.
    """
    hp = {k: v.detach().requires_grad_(True) for k, v in hparams.items()}
    lr_t = hp.get("lr", lr) if isinstance(lr, str) else lr
    w = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    velocity: Params | None = None
    for batch in batches:
        loss = step_loss(w, hp, batch)
        grads = torch.autograd.grad(loss, list(w.values()), create_graph=True)
        g = dict(zip(w, grads, strict=True))
        if momentum:
            velocity = g if velocity is None else {k: momentum * velocity[k] + g[k] for k in g}
            g = velocity
        w = {k: w[k] - lr_t * g[k] for k in w}
    v = val_loss(w, hp)
    names = [k for k, t in hp.items() if t.requires_grad]
    out = torch.autograd.grad(v, [hp[k] for k in names], allow_unused=True)
    hg = {k: (g if g is not None else torch.zeros_like(hp[k])) for k, g in zip(names, out, strict=True)}
    return hg, detach(w), float(v.detach())
