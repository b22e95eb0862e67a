"""Hyper-parameters as tensors, so that hypergradients can tune them.

Each is an ``nn.Module`` whose ``nn.Parameter`` s are the hyper-parameters (kept in an unconstrained space:
logarithms, logits) and which computes its effect from them. Put them in a ``hparams`` dict for the implicit or
unrolled hypergradient (``dict(wd.named_parameters(prefix="wd"))``), and give the inner optimiser only the
model's weights.

    wd = LogWeightDecay(model, per="layer", init=1e-4)
    loss = F.cross_entropy(model(x), y) + wd.penalty(dict(model.named_parameters()))
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn


class LogWeightDecay(nn.Module):
    """L2 penalty ``Σ_g exp(log_λ_g) / 2 · Σ_{w ∈ g} ||w||²`` with one coefficient per ``per`` group: ``"global"``
    (one), ``"layer"`` (per module: names up to their last dot) or ``"parameter"`` (per tensor)."""

    def __init__(self, model: nn.Module, per: str = "layer", init: float = 1e-4) -> None:
        super().__init__()
        if per not in ("global", "layer", "parameter"):
            raise ValueError(f"per must be 'global', 'layer' or 'parameter', got {per!r}")
        if init <= 0:
            raise ValueError(f"init must be > 0 (it is kept as a logarithm), got {init!r}")
        names = [n for n, _ in model.named_parameters()]
        groups = {"global": lambda n: "all", "layer": lambda n: n.rsplit(".", 1)[0], "parameter": lambda n: n}[per]
        self.groups = list(dict.fromkeys(groups(n) for n in names))
        self.index = {n: self.groups.index(groups(n)) for n in names}
        self.log_wd = nn.Parameter(torch.full((len(self.groups),), math.log(init)))

    def penalty(self, params: Mapping[str, Tensor], log_wd: Tensor | None = None) -> Tensor:
        lw = self.log_wd if log_wd is None else log_wd
        coeff = lw.exp()
        terms = [coeff[self.index[n]] * p.pow(2).sum() for n, p in params.items() if n in self.index]
        return 0.5 * torch.stack(terms).sum() if terms else lw.sum() * 0.0

    def values(self) -> dict[str, float]:
        """``{group: weight decay}``."""
        return {g: float(v) for g, v in zip(self.groups, self.log_wd.detach().exp(), strict=True)}


class ExampleWeights(nn.Module):
    """Per-example weights ``2·sigmoid(logit_i)`` (1 at the start, in (0, 2)), for data reweighting: examples
    whose gradients disagree with the validation loss (e.g. wrong labels) are turned down."""

    def __init__(self, n_examples: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_examples))

    def weights(self, index: Tensor | None = None, logits: Tensor | None = None) -> Tensor:
        z = self.logits if logits is None else logits
        z = z if index is None else z[index]
        return 2.0 * torch.sigmoid(z)

    def weighted_mean(self, losses: Tensor, index: Tensor | None = None, logits: Tensor | None = None) -> Tensor:
        """``Σ w_i l_i / Σ w_i`` over the examples ``index`` (per-example ``losses``, reduction='none')."""
        w = self.weights(index, logits)
        return (w * losses).sum() / w.sum().clamp_min(1e-12)


class LossWeights(nn.Module):
    """Positive weights ``exp(log_w_k)`` for named loss terms (multi-task losses, auxiliary terms)."""

    def __init__(self, names: list[str], init: float = 1.0) -> None:
        super().__init__()
        self.names = list(names)
        self.log_w = nn.Parameter(torch.full((len(names),), math.log(init)))

    def combine(self, losses: Mapping[str, Tensor], log_w: Tensor | None = None) -> Tensor:
        lw = self.log_w if log_w is None else log_w
        return torch.stack([lw[i].exp() * losses[n] for i, n in enumerate(self.names)]).sum()


class ConcreteDropout(nn.Module):
    """Dropout whose rate is a hyper-parameter: the Bernoulli mask is relaxed to a Concrete (Gumbel-sigmoid)
    distribution of temperature ``temperature`` (Gal et al., 2017), so the rate gets gradients."""

    def __init__(self, p: float = 0.1, temperature: float = 0.1) -> None:
        super().__init__()
        if not 0 < p < 1:
            raise ValueError(f"p must be in (0, 1), got {p!r}")
        self.logit_p = nn.Parameter(torch.tensor(math.log(p / (1 - p))))
        self.temperature = temperature

    @property
    def p(self) -> float:
        return float(torch.sigmoid(self.logit_p.detach()))

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        p = torch.sigmoid(self.logit_p)
        u = torch.rand_like(x).clamp(1e-6, 1 - 1e-6)
        drop = torch.sigmoid((self.logit_p + torch.log(u) - torch.log1p(-u)) / self.temperature)
        return x * (1 - drop) / (1 - p)


class NoiseAugment(nn.Module):
    """A differentiable augmentation: ``x + σ·ε`` with ``ε ~ N(0, 1)`` and magnitude ``σ = exp(log_sigma)``
    (reparameterised, so σ gets gradients); identity in eval mode."""

    def __init__(self, sigma: float = 0.1) -> None:
        super().__init__()
        self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma)))

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        return x + self.log_sigma.exp() * torch.randn_like(x)
