"""Arithmetic on parameter dicts (``{name: tensor}``), the form ``torch.func.functional_call`` takes.

>>> a = {"w": torch.ones(2)}; dot(a, a)
tensor(2.)
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

Params = dict[str, Tensor]


def dot(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> Tensor:
    """Sum over names of the elementwise products."""
    return sum(((a[k] * b[k]).sum() for k in a), torch.zeros((), dtype=next(iter(a.values())).dtype))


def axpy(alpha: float | Tensor, x: Mapping[str, Tensor], y: Mapping[str, Tensor]) -> Params:
    """``alpha * x + y``."""
    return {k: alpha * x[k] + y[k] for k in y}


def scale(alpha: float | Tensor, x: Mapping[str, Tensor]) -> Params:
    return {k: alpha * v for k, v in x.items()}


def norm(x: Mapping[str, Tensor]) -> float:
    return float(torch.sqrt(dot(x, x)))


def detach(x: Mapping[str, Tensor]) -> Params:
    return {k: v.detach() for k, v in x.items()}


def params_of(model: nn.Module, exclude: set[str] | None = None) -> Params:
    """The model's parameters as a detached dict (the names ``functional_call`` expects), minus ``exclude``."""
    return {k: v.detach() for k, v in model.named_parameters() if not exclude or k not in exclude}


def buffers_of(model: nn.Module) -> Params:
    return {k: v.detach() for k, v in model.named_buffers()}
