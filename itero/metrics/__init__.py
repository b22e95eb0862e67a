"""Validation metrics and their differentiable surrogates, as plain functions on torch tensors.

Classification, binary and multi-class. Every function takes ``logits`` of shape ``(N, C)`` — or ``(N,)`` /
``(N, 1)``, the logit of class 1 of a binary problem, treated as two classes — and ``labels``: ``(N,)`` integer
class indices in ``[0, C)``. The exact metrics also accept probabilities with ``probs=True``; they return a
Python float (a per-class tensor for ``average=None``)::

    from itero.metrics import accuracy, f1, ece, soft_f1

    val_acc = accuracy(logits, labels)
    val_f1 = f1(logits, labels, average="macro")       # equals scikit-learn's, zero_division=0
    val_ece = ece(probs, labels, n_bins=15, probs=True)

The surrogates (``soft_accuracy``, ``soft_f1``, ``soft_ece``) return a 0-dim tensor that is differentiable with
respect to the logits, for a gradient-based outer objective; each tends to its exact metric as its temperature
goes to 0::

    outer_loss = 1 - soft_f1(model(x_val), y_val)
    outer_loss.backward()

What a model costs to run — ``param_count``, ``flops`` (``torch.utils.flop_counter``), ``latency_ms`` (median of
repeated CPU forward passes), ``peak_memory_mb``, or all at once with ``model_costs(model, example)`` — gives the
objectives beyond accuracy: ``objectives={"val_acc": "maximize", "flops": "minimize"}`` works on the built-in MLP
tasks, which report ``params``, ``flops`` and ``peak_mem_mb``.

This module imports torch; the engine (``import itero``) does not import it.
"""

from __future__ import annotations

from itero.metrics._exact import accuracy, confusion_matrix, ece, f1, precision, recall
from itero.metrics._model import flops, latency_ms, model_costs, param_count, peak_memory_mb
from itero.metrics._soft import soft_accuracy, soft_ece, soft_f1

__all__ = [
    "accuracy",
    "confusion_matrix",
    "ece",
    "f1",
    "flops",
    "latency_ms",
    "model_costs",
    "param_count",
    "peak_memory_mb",
    "precision",
    "recall",
    "soft_accuracy",
    "soft_ece",
    "soft_f1",
]
