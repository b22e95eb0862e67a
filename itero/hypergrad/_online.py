"""Online hypergradient descent for the learning rate (Baydin et al., 2018), around any torch optimiser.

After each step, the derivative of the loss with respect to the learning rate used in the previous step is
``∂f(θₜ)/∂α = ∇f(θₜ) · ∂θₜ/∂α`` with ``∂θₜ/∂α = Δₜ / α`` (the last update divided by the rate that made it;
for plain SGD ``Δₜ = −α ∇f(θₜ₋₁)``, so this is ``−∇f(θₜ)·∇f(θₜ₋₁)``, the paper's rule). The rate then takes a
gradient step of size ``hyper_lr``. It adapts each parameter group's ``lr`` in place.

    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    tuner = HypergradientLR(opt, hyper_lr=1e-3)
    for x, y in loader:
        opt.zero_grad(); loss_fn(model(x), y).backward()
        tuner.step()                       # instead of opt.step()
    tuner.history                          # the learning rate after every step
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class HypergradientLR:
    """Adapts the learning rate of ``optimizer``'s parameter groups online; call ``step()`` instead of
    ``optimizer.step()`` (after ``backward()``)."""

    def __init__(self, optimizer: torch.optim.Optimizer, hyper_lr: float, min_lr: float = 0.0) -> None:
        if hyper_lr < 0:
            raise ValueError(f"hyper_lr must be >= 0, got {hyper_lr!r}")
        self.optimizer = optimizer
        self.hyper_lr = float(hyper_lr)
        self.min_lr = float(min_lr)
        self._delta: list[list[Tensor] | None] = [None for _ in optimizer.param_groups]
        self.history: list[list[float]] = []

    @property
    def lrs(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for i, group in enumerate(self.optimizer.param_groups):
            delta = self._delta[i]
            if delta is None:
                continue
            h = sum(
                (float((p.grad * d).sum()) for p, d in zip(group["params"], delta, strict=True) if p.grad is not None),
                0.0,
            )
            lr = float(group["lr"])
            if lr > 0:
                group["lr"] = max(self.min_lr, lr - self.hyper_lr * h / lr)
        before = [[p.detach().clone() for p in g["params"]] for g in self.optimizer.param_groups]
        out = self.optimizer.step(closure)
        self._delta = [
            [p.detach() - b for p, b in zip(g["params"], old, strict=True)]
            for g, old in zip(self.optimizer.param_groups, before, strict=True)
        ]
        self.history.append(self.lrs)
        return out
