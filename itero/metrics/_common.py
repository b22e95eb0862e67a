"""Input checks shared by the exact metrics and their surrogates.

One rule for every function: ``logits`` is ``(N, C)`` with ``C >= 2`` classes, or ``(N,)`` / ``(N, 1)`` for a
binary problem (the score of class 1, promoted to two classes); ``labels`` is ``(N,)`` of integers in ``[0, C)``.
With ``probs=True`` the scores are probabilities instead of logits (rows summing to 1, or ``P(class 1)`` for a
binary column).
"""

from __future__ import annotations

from typing import Literal

import torch

Average = Literal["macro", "micro", "weighted", "binary"]
AVERAGES: tuple[str, ...] = ("macro", "micro", "weighted", "binary")


def check_average(average: object, n_classes: int, *, allow_none: bool) -> None:
    """Raise ``ValueError`` unless ``average`` is a known averaging mode that fits ``n_classes``."""
    allowed = (*AVERAGES, None) if allow_none else AVERAGES
    if not any(average is a or (isinstance(average, str) and average == a) for a in allowed):
        names = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"average must be one of {names}; got {average!r}")
    if average == "binary" and n_classes != 2:
        raise ValueError(
            f"average='binary' needs 2 classes but logits have {n_classes}; use 'macro', 'micro' or 'weighted'"
        )


def check_positive(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number above 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0 < value < float("inf")):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")


def class_scores(logits: torch.Tensor, labels: torch.Tensor, *, probs: bool = False) -> torch.Tensor:
    """Validate ``logits`` and ``labels`` and return the scores as ``(N, C)``, ``C >= 2``.

    A binary ``(N,)`` or ``(N, 1)`` input becomes ``[0, z]`` for logits (``softmax`` of it is
    ``[1 - sigmoid(z), sigmoid(z)]``) and ``[1 - p, p]`` for probabilities. Differentiable: the result keeps the
    graph of ``logits``.

    >>> class_scores(torch.tensor([2.0, -1.0]), torch.tensor([1, 0])).shape
    torch.Size([2, 2])
    """
    if not isinstance(logits, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise ValueError(
            f"logits and labels must be torch tensors; got {type(logits).__name__} and {type(labels).__name__}"
        )
    shapes = f"logits of shape {tuple(logits.shape)} and labels of shape {tuple(labels.shape)}"
    binary = logits.ndim == 1 or (logits.ndim == 2 and logits.shape[1] == 1)
    if not (binary or logits.ndim == 2) or labels.ndim != 1 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"{shapes} disagree: expected logits (N, C), (N,) or (N, 1) and labels (N,)")
    if logits.shape[0] == 0:
        raise ValueError(f"{shapes}: there are no samples (N = 0)")
    if not logits.dtype.is_floating_point:
        raise ValueError(f"logits must be a floating-point tensor; got dtype {logits.dtype}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor of class indices; got dtype {labels.dtype}")
    n_classes = 2 if binary else logits.shape[1]
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= n_classes:
        raise ValueError(f"labels must be class indices in [0, {n_classes}) for {shapes}; got values from {lo} to {hi}")
    if probs:
        _check_probabilities(logits, binary)
    if not binary:
        return logits
    z = logits.reshape(-1)
    return torch.stack([1 - z if probs else torch.zeros_like(z), z], dim=1)


def _check_probabilities(p: torch.Tensor, binary: bool) -> None:
    if bool(torch.isnan(p).any()) or bool((p < 0).any()) or bool((p > 1).any()):
        raise ValueError("probs=True needs probabilities in [0, 1]; got values outside it (or NaN)")
    if not binary:
        tol = max(1e-3, 8 * torch.finfo(p.dtype).eps)
        worst = float((p.sum(dim=1, dtype=torch.float64) - 1).abs().max())
        if worst > tol:
            raise ValueError(
                f"probs=True needs each row of the (N, C) input to sum to 1; a row is off by {worst:.3g} "
                "(pass logits with probs=False instead?)"
            )
