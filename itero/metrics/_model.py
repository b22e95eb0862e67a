"""What a model costs to run, for objectives beyond accuracy: parameters, FLOPs, CPU latency, peak memory.

    costs = model_costs(model, example)           # example: one input batch, e.g. x_val[:1]
    costs["params"], costs["flops"], costs["latency_ms"], costs["peak_mem_mb"]

so that ``objectives={"val_acc": "maximize", "flops": "minimize"}`` needs only ``trial.report(step, {...,
**costs})``. Energy comes from itero's tracking (the ``energy_kwh`` objective), not from here.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch import nn


def param_count(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those that require gradients)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _call(model: nn.Module, example: Any) -> Any:
    if isinstance(example, tuple):
        return model(*example)
    if isinstance(example, dict):
        return model(**example)
    return model(example)


def flops(model: nn.Module, example: Any) -> int:
    """Floating-point operations of one forward pass on ``example`` (``torch.utils.flop_counter``: a multiply-add
    counts 2; matmuls, convolutions and attention are counted, elementwise ops are not)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            _call(model, example)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def latency_ms(model: nn.Module, example: Any, repeats: int = 30, warmup: int = 5) -> float:
    """Median wall time of ``repeats`` forward passes on ``example`` in eval mode without gradients (ms)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got repeats={repeats!r}, warmup={warmup!r}")
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.no_grad():
            for i in range(warmup + repeats):
                t0 = time.perf_counter()
                _call(model, example)
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
    finally:
        model.train(was_training)
    return statistics.median(times) * 1e3


def _bytes(x: Any) -> int:
    if isinstance(x, torch.Tensor):
        return x.numel() * x.element_size()
    if isinstance(x, (tuple, list)):
        return sum(_bytes(v) for v in x)
    if isinstance(x, dict):
        return sum(_bytes(v) for v in x.values())
    return 0


def peak_memory_mb(model: nn.Module, example: Any) -> float:
    """Peak memory of a forward pass in MB: exact on CUDA (``max_memory_allocated``); on CPU an upper bound —
    the weights and buffers plus every module's output, as if none were freed."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            with torch.no_grad():
                _call(model, example)
            return float(max(torch.cuda.max_memory_allocated(device), base)) / 1e6
        total = [sum(_bytes(t) for t in model.parameters()) + sum(_bytes(t) for t in model.buffers())]
        total[0] += _bytes(example)

        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            total[0] += _bytes(output)

        leaves = [m for m in model.modules() if not list(m.children())]
        handles = [m.register_forward_hook(hook) for m in leaves]
        try:
            with torch.no_grad():
                _call(model, example)
        finally:
            for h in handles:
                h.remove()
        return total[0] / 1e6
    finally:
        model.train(was_training)


def model_costs(model: nn.Module, example: Any, latency: bool = True) -> dict[str, float]:
    """``{"params", "flops", "latency_ms", "peak_mem_mb"}`` of ``model`` on ``example`` (latency optional: it is
    the only one that takes time, ~35 forward passes)."""
    out = {
        "params": float(param_count(model)),
        "flops": float(flops(model, example)),
        "peak_mem_mb": peak_memory_mb(model, example),
    }
    if latency:
        out["latency_ms"] = latency_ms(model, example)
    return out
