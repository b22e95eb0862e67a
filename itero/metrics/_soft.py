"""Differentiable surrogates of accuracy, F1 and expected calibration error, for gradient-based outer objectives.

Each takes logits (``(N, C)``, or ``(N,)`` / ``(N, 1)`` for a binary problem) and integer labels ``(N,)`` and
returns a 0-dim tensor in ``[0, 1]`` that carries the graph of ``logits``. Hard decisions (arg-max, bin
membership) are replaced by softmax probabilities; as the temperature goes to 0 each surrogate tends to its
exact metric in :mod:`itero.metrics._exact`.
"""

from __future__ import annotations

import torch

from itero.metrics._common import Average, check_average, check_positive, class_scores

_EPS = 1e-7


def soft_accuracy(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Mean softmax probability of the true class, ``mean_i softmax(logits_i / temperature)[labels_i]``.

    As ``temperature -> 0`` (equivalently, logits scaled up) it tends to :func:`accuracy` (a sample whose
    largest logit is shared by k classes counts 1/k).

    >>> logits = torch.tensor([[2.0, 0.1], [0.3, 0.9]], requires_grad=True)
    >>> soft_accuracy(logits, torch.tensor([0, 1])).backward()  # logits.grad is now set
    """
    check_positive("temperature", temperature)
    scores = class_scores(logits, labels)
    p = torch.softmax(scores / temperature, dim=1)
    return p.gather(1, labels.long().unsqueeze(1)).mean()


def soft_f1(
    logits: torch.Tensor, labels: torch.Tensor, average: Average = "macro", temperature: float = 1.0
) -> torch.Tensor:
    """F1 from soft confusion counts, with ``p = softmax(logits / temperature)`` and ``y`` the one-hot labels:
    ``TP_c = sum_i p_ic y_ic``, ``FP_c = sum_i p_ic (1 - y_ic)``, ``FN_c = sum_i (1 - p_ic) y_ic`` and
    ``F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c + eps)``.

    ``average``: ``"macro"`` (mean over the classes that occur in ``labels``: a class absent from them has
    ``TP_c = 0`` whatever the logits), ``"micro"`` (from the summed counts; close to :func:`soft_accuracy`),
    ``"weighted"`` (weighted by each class's count in ``labels``) or ``"binary"`` (class 1 of two). As
    ``temperature -> 0`` it tends to :func:`f1` with the same ``average`` (for ``"macro"``, when no class absent
    from ``labels`` is predicted).

    >>> logits = torch.tensor([[2.0, 0.1, 0.0], [0.3, 0.9, 0.2], [0.0, 0.5, 1.5]], requires_grad=True)
    >>> loss = 1 - soft_f1(logits, torch.tensor([0, 1, 2]))
    >>> loss.backward()
    """
    check_positive("temperature", temperature)
    scores = class_scores(logits, labels)
    check_average(average, scores.shape[1], allow_none=False)
    p = torch.softmax(scores / temperature, dim=1)
    y = torch.nn.functional.one_hot(labels.long(), scores.shape[1]).to(p.dtype)
    tp = (p * y).sum(dim=0)
    fp = (p * (1 - y)).sum(dim=0)
    fn = ((1 - p) * y).sum(dim=0)
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    per_class = 2 * tp / (2 * tp + fp + fn + _EPS)
    if average == "micro":
        return per_class
    if average == "binary":
        return per_class[1]
    support = y.sum(dim=0)
    if average == "weighted":
        return (per_class * support).sum() / support.sum()
    return per_class[support > 0].mean()


def soft_ece(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15, temperature: float = 0.1) -> torch.Tensor:
    """Soft-binned expected calibration error (Karandikar et al., 2021): :func:`ece` with each sample spread over
    the ``n_bins`` equal-width bins by a Gaussian kernel on its confidence.

    With confidence ``c_i = max_c softmax(logits_i)``, correctness ``a_i`` (1 when the arg-max is the label),
    bin centres ``xi_m = (m + 1/2) / n_bins`` and width ``w = 1 / n_bins``, sample ``i`` belongs to bin ``m``
    with weight ``u_im = softmax_m(-((c_i - xi_m) / w) ** 2 / temperature)``, and
    ``soft_ece = sum_m |sum_i u_im (a_i - c_i)| / N``. ``temperature`` is in squared bin widths, so it means the
    same for any ``n_bins``; at 0.1 a sample shares its weight only within ~0.1 bin width of a bin edge. As
    ``temperature -> 0`` it tends to :func:`ece`. The gradient flows through the confidences and the bin
    weights (``a_i`` is piecewise constant).

    >>> logits = torch.tensor([[2.0, 0.1], [0.3, 0.9], [1.0, 0.0]], requires_grad=True)
    >>> soft_ece(logits, torch.tensor([0, 1, 1]), n_bins=10).backward()
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1; got {n_bins!r}")
    check_positive("temperature", temperature)
    scores = class_scores(logits, labels)
    confidence, predicted = torch.softmax(scores, dim=1).max(dim=1)
    correct = (predicted == labels).to(confidence.dtype)
    centres = (torch.arange(n_bins, dtype=confidence.dtype, device=confidence.device) + 0.5) / n_bins
    distance = (confidence.unsqueeze(1) - centres) * n_bins  # in bin widths, (N, n_bins)
    weights = torch.softmax(-distance.square() / temperature, dim=1)
    per_bin = (weights * (correct - confidence).unsqueeze(1)).sum(dim=0)
    return per_bin.abs().sum() / len(labels)
