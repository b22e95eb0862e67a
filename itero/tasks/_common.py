"""What the built-in tasks share: the objective loop around a framework-agnostic run, and a learning-rate schedule.

A *run* is any object with ``train_step(step)``, ``evaluate() -> dict``, ``state_dict()`` and
``load_state_dict(state)``; :func:`drive` turns one into an itero objective: restore, train ``trial.steps``,
report every step with the state, and end the trial when training diverges.

Divergence policy: when a reported metric is not finite (the training loss overflowed), the run has diverged for
good. :func:`drive` reports that step's metrics (NaN) as a real user would see them and raises
``FloatingPointError``, so the trial ends FAILED with a reason naming the step. Recorded tables mark the row
``diverged_at`` = that step, with NaN from there on.
"""

from __future__ import annotations

import math
from typing import Any, Protocol


class Run(Protocol):
    """One training run of a task, independent of any tuning framework."""

    def train_step(self, step: int) -> None: ...

    def evaluate(self) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def drive(trial: Any, run: Run, default_max_steps: int, extra: dict[str, float] | None = None) -> None:
    """Restore ``run`` from ``trial.restore()``, then train and report each step of ``trial.steps``.

    ``extra`` metrics (constant per run, e.g. ``flops``) are added to every report.
    """
    max_steps = getattr(trial, "max_steps", None) or default_max_steps
    state = trial.restore()
    if state is not None:
        run.load_state_dict(state)
    for step in trial.steps(max_steps):
        run.train_step(step)
        metrics = run.evaluate()
        trial.report(step, {**metrics, **(extra or {})}, state=run.state_dict)
        bad = [name for name, value in metrics.items() if not math.isfinite(value)]
        if bad:
            raise FloatingPointError(f"training diverged at step {step}: {bad[0]} is {metrics[bad[0]]}")


def scheduled_lr(lr: float, step: int, max_steps: int, warmup: int, schedule: str) -> float:
    """The learning rate during step ``step`` (1-based) of ``max_steps``: a linear warm-up over the first
    ``warmup`` steps, then ``constant``, ``cosine`` (to 0 at ``max_steps``) or ``linear`` (to 0) decay.

    >>> [round(scheduled_lr(1.0, s, 10, 2, "cosine"), 3) for s in (1, 2, 3, 10)]
    [0.5, 1.0, 0.99, 0.01]
    """
    if step <= warmup:
        return lr * step / warmup
    if schedule == "constant":
        return lr
    frac = (step - warmup - 0.5) / max(1, max_steps - warmup)  # the middle of the step
    if schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * frac))
    if schedule == "linear":
        return lr * (1.0 - frac)
    raise ValueError(f"schedule must be 'constant', 'cosine' or 'linear', got {schedule!r}")


def seed_of(number: int, step: int, stream: int) -> int:
    """A well-mixed 63-bit seed from (stream, run number, step)."""
    import numpy as np

    words = np.random.SeedSequence([stream, int(number), int(step)]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def init_params(module: Any, seed: int) -> None:
    """Initialise the linear, convolution and embedding layers of ``module`` from a private generator: weights
    and biases uniform in ±1/sqrt(fan_in) (torch's default), embeddings standard normal. Build the layers with
    ``torch.nn.utils.skip_init`` and call this, so that torch's global generator is never touched."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in sorted(module.named_modules(), key=lambda item: item[0]):
            if isinstance(layer, torch.nn.Embedding):
                layer.weight.normal_(0.0, 1.0, generator=gen)
            elif isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
                bound = layer.weight[0].numel() ** -0.5
                layer.weight.uniform_(-bound, bound, generator=gen)
                if layer.bias is not None:
                    layer.bias.uniform_(-bound, bound, generator=gen)


def make_optimizer(params: Any, name: str, lr: float, weight_decay: float) -> Any:
    """SGD with momentum 0.9 or Adam, as the MLP tasks use them."""
    import torch

    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {name!r}")


def clipped_step(model: Any, opt: Any, loss: Any, max_norm: float = 5.0) -> None:
    """One optimiser step on ``loss`` with the gradient norm clipped to ``max_norm``."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    opt.step()


def supervised_metrics(val: Any, y_val: Any, test: Any, y_test: Any, classify: bool) -> dict[str, float]:
    """Validation and test metrics of a model's outputs: accuracy and validation cross-entropy for a classifier,
    RMSE (inf/NaN as computed) for a regressor."""
    import torch.nn.functional as F

    if classify:
        return {
            "val_acc": (val.argmax(1) == y_val).float().mean().item(),
            "val_loss": F.cross_entropy(val, y_val).item(),
            "test_acc": (test.argmax(1) == y_test).float().mean().item(),
        }
    return {
        "val_rmse": math.sqrt(F.mse_loss(val.squeeze(1), y_val).item()),
        "test_rmse": math.sqrt(F.mse_loss(test.squeeze(1), y_test).item()),
    }
