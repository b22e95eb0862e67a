"""Two MLP tasks trained with SGD and a per-step learning-rate schedule, chosen for how their curves behave.

``schedule-mlp`` (curves cross): classification of generated data (``make_classification``: 8,000 samples, 20
features, 5 classes of 2 clusters each, 10% flipped labels; split 50/25/25). The schedule is searched: a
linear warm-up of ``warmup`` steps, then a ``constant``, ``cosine`` or ``linear`` decay to 0 at step 30. The
configurations that end best (high peak rate, long warm-up, annealed) are noisy or slow early, so rankings
made at the first rungs are wrong. Gradients are clipped to norm 5: nothing diverges.

``diverge-mlp`` (high rates diverge part-way): regression of Friedman's #2 function (8,000 samples, target
standardised; split 60/20/20) with plain SGD, no clipping, and a fixed 5-step linear warm-up, so a high peak
rate blows up when the warm-up reaches it (NaN from that step on), a little lower rates survive and are best.
The run reports the non-finite error of the step where it diverged, and the objective then fails the trial
(see ``itero.tasks._common``).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from itero.tasks._common import drive, scheduled_lr, seed_of, supervised_metrics
from itero.tasks._mlp import _MLP, Data, split_standardise
from itero.torchutil import apply_hparams

SCHEDULE_STEPS = 30
DIVERGE_STEPS = 24
DIVERGE_WARMUP = 5
_INIT, _EPOCH = 30, 31


def suggest_schedule(trial: Any) -> dict[str, Any]:
    """The ``schedule-mlp`` space (an itero or an Optuna trial)."""
    return {
        "lr": trial.suggest_float("lr", 1e-3, 1.0, log=True),
        "warmup": trial.suggest_int("warmup", 0, 12),
        "schedule": trial.suggest_categorical("schedule", ["constant", "cosine", "linear"]),
        "width": trial.suggest_int("width", 32, 256, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
    }


def suggest_diverge(trial: Any) -> dict[str, Any]:
    """The ``diverge-mlp`` space (an itero or an Optuna trial)."""
    return {
        "lr": trial.suggest_float("lr", 1e-3, 3.0, log=True),
        "momentum": trial.suggest_categorical("momentum", [0.0, 0.5, 0.9, 0.99]),
        "width": trial.suggest_int("width", 16, 256, log=True),
        "depth": trial.suggest_int("depth", 1, 4),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64, 128]),
    }


@functools.lru_cache(maxsize=1)
def schedule_data() -> Data:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=8000, n_features=20, n_informative=12, n_redundant=4, n_classes=5, n_clusters_per_class=2,
        flip_y=0.1, class_sep=1.0, random_state=0,
    )  # fmt: skip
    x_train, y_train, x_val, y_val, x_test, y_test = split_standardise(x, y, 0, stratify=True, y_dtype=np.int64)
    # 50/25/25 rather than 60/20/20: move a sixth of the training set to nothing (keep the splits disjoint).
    keep = x_train.shape[0] * 5 // 6
    return x_train[:keep], y_train[:keep], x_val, y_val, x_test, y_test


@functools.lru_cache(maxsize=1)
def diverge_data() -> Data:
    from sklearn.datasets import make_friedman2

    x, y = make_friedman2(n_samples=8000, noise=30.0, random_state=0)
    y = (y - y.mean()) / y.std()
    return split_standardise(x, y, 0, stratify=False, y_dtype=np.float32)


class ScheduledMLPRun:
    """An MLP trained by SGD whose learning rate follows :func:`~itero.tasks._common.scheduled_lr` per step."""

    def __init__(self, params: dict[str, Any], number: int, task: Literal["schedule-mlp", "diverge-mlp"]) -> None:
        self.params, self.number, self.task = params, number, task
        self.classify = task == "schedule-mlp"
        self.data = schedule_data() if self.classify else diverge_data()
        n_out = 5 if self.classify else 1
        depth = params.get("depth", 2)
        self.model = _MLP(self.data[0].shape[1], n_out, params["width"], depth, 0.0, seed_of(number, 0, _INIT))
        self.momentum = params.get("momentum", 0.9)
        self.opt = torch.optim.SGD(
            self.model.parameters(), lr=params["lr"], momentum=self.momentum,
            weight_decay=params.get("weight_decay", 0.0),
        )  # fmt: skip
        self.max_steps = SCHEDULE_STEPS if self.classify else DIVERGE_STEPS
        self.diverged = False

    def _lr(self, step: int) -> float:
        p = self.params
        if self.classify:
            return scheduled_lr(p["lr"], step, self.max_steps, p["warmup"], p["schedule"])
        return scheduled_lr(p["lr"], step, self.max_steps, DIVERGE_WARMUP, "constant")

    def train_step(self, step: int) -> None:
        """One epoch at this step's learning rate; stops at the first non-finite loss (the run has diverged)."""
        if self.diverged:
            return
        apply_hparams(self.opt, lr=self._lr(step))
        x, y = self.data[0], self.data[1]
        gen = torch.Generator().manual_seed(seed_of(self.number, step, _EPOCH))
        order = torch.randperm(x.shape[0], generator=gen)
        batch = self.params["batch_size"]
        self.model.train()
        for i in range(0, x.shape[0], batch):
            idx = order[i : i + batch]
            out = self.model(x[idx])
            loss = F.cross_entropy(out, y[idx]) if self.classify else F.mse_loss(out.squeeze(1), y[idx])
            if not math.isfinite(loss.item()):
                self.diverged = True
                return
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.classify:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
            self.opt.step()

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        _, _, x_val, y_val, x_test, y_test = self.data
        self.model.eval()
        val, test = self.model(x_val), self.model(x_test)
        out = supervised_metrics(val, y_val, test, y_test, self.classify)
        if not self.classify and (self.diverged or not all(map(math.isfinite, out.values()))):
            self.diverged = True
            return {"val_rmse": math.nan, "test_rmse": math.nan}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a checkpoint (own or a donor's); the next step sets this run's own scheduled lr and momentum."""
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        apply_hparams(self.opt, momentum=self.momentum, weight_decay=self.params.get("weight_decay", 0.0))


def schedule_mlp(trial: Any) -> None:
    """Train for up to ``trial.max_steps`` (default 30) epochs; reports ``val_acc`` (the objective),
    ``val_loss`` and ``test_acc``. The schedule always spans 30 epochs, whatever the trial's budget."""
    drive(trial, ScheduledMLPRun(suggest_schedule(trial), trial.number, "schedule-mlp"), SCHEDULE_STEPS)


def diverge_mlp(trial: Any) -> None:
    """Train for up to ``trial.max_steps`` (default 24) epochs; reports ``val_rmse`` (the objective) and
    ``test_rmse``. A run that diverges reports NaN at that step and its trial fails."""
    drive(trial, ScheduledMLPRun(suggest_diverge(trial), trial.number, "diverge-mlp"), DIVERGE_STEPS)


def schedule_run(params: dict[str, Any], number: int) -> ScheduledMLPRun:
    """The framework-agnostic run of ``schedule-mlp``."""
    return ScheduledMLPRun(params, number, "schedule-mlp")


def diverge_run(params: dict[str, Any], number: int) -> ScheduledMLPRun:
    """The framework-agnostic run of ``diverge-mlp``."""
    return ScheduledMLPRun(params, number, "diverge-mlp")
