"""Objectives beyond accuracy: parameter count, FLOPs, CPU latency and peak memory of a torch model, and a
two-objective study (accuracy against FLOPs) on the digits task."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import itero
from itero.metrics import flops, latency_ms, model_costs, param_count, peak_memory_mb


def test_costs_of_a_known_mlp():
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    x = torch.randn(1, 64)
    assert param_count(model) == 64 * 128 + 128 + 128 * 10 + 10
    assert flops(model, x) == 2 * (64 * 128 + 128 * 10)  # a multiply-add counts 2
    assert flops(model, torch.randn(8, 64)) == 8 * flops(model, x)
    weights = param_count(model) * 4
    outputs = (128 + 128 + 10) * 4  # Linear, ReLU, Linear outputs, float32
    assert peak_memory_mb(model, x) == pytest.approx((weights + 64 * 4 + outputs) / 1e6)
    assert 0 < latency_ms(model, x, repeats=5) < 1000
    assert model.training  # the measurements leave the mode as it was
    conv = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten())
    assert flops(conv, torch.randn(1, 3, 10, 10)) == 2 * 8 * 8 * 8 * 3 * 3 * 3
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        latency_ms(model, x, repeats=0)
    assert set(model_costs(model, x)) == {"params", "flops", "peak_mem_mb", "latency_ms"}


def test_accuracy_against_flops_on_the_digits_task(tmp_path):
    from itero.tasks import load_objective

    study = itero.create_study(
        "front",
        storage=f"sqlite:///{tmp_path}/f.db",
        objectives={"val_acc": "maximize", "flops": "minimize"},
        sampler={"name": "tpe", "seed": 0},
        scheduler={"name": "fifo", "max_steps": 2},
        params={"batch_size": 128},
    )
    study.optimize(load_objective("digits-mlp"), n_trials=4, show_progress=False)
    trials = study.trials
    assert all(t.state == itero.TrialState.COMPLETE for t in trials)
    for t in trials:
        width, depth = t.params["width"], t.params["depth"]
        assert t.metrics["params"] == 64 * width + width + (depth - 1) * (width * width + width) + width * 10 + 10
        assert t.metrics["flops"] == 2 * (64 * width + (depth - 1) * width * width + width * 10)
        assert t.metrics["peak_mem_mb"] > 0 and "latency_ms" not in t.metrics  # noise inside training: left out
    front = study.pareto_front()
    assert front and all(t in trials for t in front)
