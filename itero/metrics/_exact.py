"""Exact classification metrics: accuracy, precision, recall, F1, expected calibration error, confusion matrix.

The predicted class is the arg-max of the scores (the first one on a tie; for a binary column, class 1 when the
logit is > 0 or the probability is > 0.5). Counts are computed in float64 and the values match scikit-learn's
``accuracy_score`` and ``precision_recall_fscore_support(..., zero_division=0)``.
"""

from __future__ import annotations

from typing import Literal, overload

import torch

from itero.metrics._common import Average, check_average, class_scores

_Kind = Literal["precision", "recall", "f1"]


def accuracy(logits: torch.Tensor, labels: torch.Tensor, *, probs: bool = False) -> float:
    """The fraction of samples whose arg-max class is the label.

    >>> accuracy(torch.tensor([[2.0, 0.1], [0.3, 0.9], [1.0, 0.0]]), torch.tensor([0, 1, 1]))
    0.6666666666666666
    """
    scores = _scores(logits, labels, probs)
    return float((scores.detach().argmax(dim=1) == labels).double().mean())


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor, *, probs: bool = False) -> torch.Tensor:
    """The ``(C, C)`` int64 matrix whose entry ``[i, j]`` counts samples of label ``i`` predicted as ``j``
    (scikit-learn's convention: rows are true classes, columns predicted ones).

    >>> confusion_matrix(torch.tensor([[2.0, 0.1], [0.3, 0.9], [1.0, 0.0]]), torch.tensor([0, 1, 1]))
    tensor([[1, 0],
            [1, 1]])
    """
    scores = _scores(logits, labels, probs)
    return _confusion(scores, labels)


@overload
def precision(logits: torch.Tensor, labels: torch.Tensor, average: Average = ..., *, probs: bool = ...) -> float: ...
@overload
def precision(logits: torch.Tensor, labels: torch.Tensor, average: None, *, probs: bool = ...) -> torch.Tensor: ...
def precision(
    logits: torch.Tensor, labels: torch.Tensor, average: Average | None = "macro", *, probs: bool = False
) -> float | torch.Tensor:
    """Precision ``TP / (TP + FP)``, 0 for a class never predicted.

    ``average``: ``"macro"`` (unweighted mean over the classes that occur in ``labels`` or in the predictions,
    as scikit-learn does), ``"micro"`` (from the summed counts; equals accuracy), ``"weighted"`` (mean weighted
    by each class's count in ``labels``), ``"binary"`` (class 1 of a two-class problem) or ``None``: a float64
    tensor of shape ``(C,)`` with one value per class (0 for a class absent from labels and predictions).

    >>> precision(torch.tensor([[2.0, 0.1], [0.3, 0.9], [1.0, 0.0]]), torch.tensor([0, 1, 1]), average=None)
    tensor([0.5000, 1.0000], dtype=torch.float64)
    """
    return _prf("precision", logits, labels, average, probs)


@overload
def recall(logits: torch.Tensor, labels: torch.Tensor, average: Average = ..., *, probs: bool = ...) -> float: ...
@overload
def recall(logits: torch.Tensor, labels: torch.Tensor, average: None, *, probs: bool = ...) -> torch.Tensor: ...
def recall(
    logits: torch.Tensor, labels: torch.Tensor, average: Average | None = "macro", *, probs: bool = False
) -> float | torch.Tensor:
    """Recall ``TP / (TP + FN)``, 0 for a class absent from ``labels``; ``average`` as in :func:`precision`.

    >>> recall(torch.tensor([[2.0, 0.1], [0.3, 0.9], [1.0, 0.0]]), torch.tensor([0, 1, 1]))
    0.75
    """
    return _prf("recall", logits, labels, average, probs)


@overload
def f1(logits: torch.Tensor, labels: torch.Tensor, average: Average = ..., *, probs: bool = ...) -> float: ...
@overload
def f1(logits: torch.Tensor, labels: torch.Tensor, average: None, *, probs: bool = ...) -> torch.Tensor: ...
def f1(
    logits: torch.Tensor, labels: torch.Tensor, average: Average | None = "macro", *, probs: bool = False
) -> float | torch.Tensor:
    """F1 score ``2 TP / (2 TP + FP + FN)``, 0 when that is 0 / 0; ``average`` as in :func:`precision`.

    >>> f1(torch.tensor([[2.0, 0.1], [0.3, 0.9], [1.0, 0.0]]), torch.tensor([0, 1, 1]), average="binary")
    0.6666666666666666
    """
    return _prf("f1", logits, labels, average, probs)


def ece(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15, *, probs: bool = False) -> float:
    """Expected calibration error (Guo et al., 2017) with ``n_bins`` equal-width confidence bins.

    The confidence of a sample is its largest class probability (``softmax`` of the logits unless
    ``probs=True``); bin ``m`` holds the confidences in ``(m / n_bins, (m + 1) / n_bins]``, and
    ``ECE = sum_m |B_m| / N * |accuracy(B_m) - mean confidence(B_m)|``.

    >>> ece(torch.tensor([[0.9, 0.1], [0.25, 0.75], [0.65, 0.35]]), torch.tensor([0, 0, 0]), n_bins=5, probs=True)
    0.16666666666666666
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1; got {n_bins!r}")
    scores = _scores(logits, labels, probs).detach().double()
    p = scores if probs else torch.softmax(scores, dim=1)
    confidence, predicted = p.max(dim=1)
    gap = (predicted == labels).double() - confidence
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64, device=p.device)
    bins = torch.bucketize(confidence, edges[1:-1])  # right=False: bin m holds (edges[m], edges[m + 1]]
    per_bin = torch.zeros(n_bins, dtype=torch.float64, device=p.device).index_add_(0, bins, gap)
    return float(per_bin.abs().sum() / len(labels))


def _scores(logits: torch.Tensor, labels: torch.Tensor, probs: bool) -> torch.Tensor:
    scores = class_scores(logits, labels, probs=probs)
    if bool(torch.isnan(scores).any()):  # argmax would silently treat NaN as the largest score
        raise ValueError(f"logits of shape {tuple(logits.shape)} contain NaN; the metric is undefined")
    return scores


def _confusion(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    n_classes = scores.shape[1]
    predicted = scores.detach().argmax(dim=1)
    flat = labels.long() * n_classes + predicted
    return torch.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(kind: _Kind, tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    if kind == "precision":
        num, den = tp, tp + fp
    elif kind == "recall":
        num, den = tp, tp + fn
    else:
        num, den = 2 * tp, 2 * tp + fp + fn
    # Counts are whole numbers, so clamping the denominator to 1 only changes the 0 / 0 case, which is 0.
    return torch.where(den > 0, num / den.clamp_min(1), torch.zeros_like(num))


def _prf(
    kind: _Kind, logits: torch.Tensor, labels: torch.Tensor, average: Average | None, probs: bool
) -> float | torch.Tensor:
    scores = _scores(logits, labels, probs)
    check_average(average, scores.shape[1], allow_none=True)
    cm = _confusion(scores, labels).double()
    tp = cm.diagonal()
    fp = cm.sum(dim=0) - tp
    fn = cm.sum(dim=1) - tp
    per_class = _ratio(kind, tp, fp, fn)
    if average is None:
        return per_class
    if average == "binary":
        return float(per_class[1])
    if average == "micro":
        return float(_ratio(kind, tp.sum(), fp.sum(), fn.sum()))
    if average == "weighted":
        support = tp + fn
        return float((per_class * support).sum() / support.sum())
    return float(per_class[(tp + fp + fn) > 0].mean())  # macro over the classes seen in labels or predictions
