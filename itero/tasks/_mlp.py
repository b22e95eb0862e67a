"""The MLP tasks' shared parts: their search space, a framework-agnostic training run, and the itero objective.

``MLPRun`` knows nothing about itero, so benchmarks drive the very same training from Optuna or Ray Tune::

    params = {"lr": 0.01, "weight_decay": 1e-4, "width": 128, "depth": 2, "dropout": 0.1,
              "batch_size": 64, "optimizer": "adam"}
    run = MLPRun(params, number=0, data=digits_data(), kind="classification")
    for epoch in range(1, 21):
        run.train_epoch(epoch)
        metrics = run.evaluate()          # {"val_acc", "val_loss", "test_acc"}

Every random choice is seeded from ``(number, epoch)`` through private ``torch.Generator`` objects — the
initial weights from the number, the shuffling and dropout masks of an epoch from the number and the epoch —
and never from torch's global generator. So the same parameters, number and epoch give the same numbers, also
after a pause and resume, and also when several runs share a process.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from itero.tasks._common import seed_of, supervised_metrics
from itero.torchutil import apply_hparams

Kind = Literal["classification", "regression"]
Data = tuple[torch.Tensor, ...]  # x_train, y_train, x_val, y_val, x_test, y_test

# Streams of derived seeds, so that weights, shuffling and dropout never share one.
_INIT, _EPOCH = 0, 1


def suggest_mlp(trial: Any) -> dict[str, Any]:
    """The MLP search space (works with an itero or an Optuna trial: the method names are the same)."""
    return {
        "lr": trial.suggest_float("lr", 1e-4, 0.3, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        "width": trial.suggest_int("width", 16, 512, log=True),
        "depth": trial.suggest_int("depth", 1, 4),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64, 128, 256]),
        "optimizer": trial.suggest_categorical("optimizer", ["sgd", "adam"]),
    }


class MLPRun:
    """One training run of an MLP on ``data``: ``train_epoch``, ``evaluate``, ``state_dict``/``load_state_dict``."""

    def __init__(self, params: dict[str, Any], number: int, data: Data, kind: Kind) -> None:
        self.params = params
        self.number = number
        self.data = data
        self.kind = kind
        n_in = data[0].shape[1]
        n_out = int(data[1].max().item()) + 1 if kind == "classification" else 1
        self.model = _MLP(n_in, n_out, params["width"], params["depth"], params["dropout"], seed_of(number, 0, _INIT))
        self._costs: dict[str, float] | None = None
        lr, wd = params["lr"], params["weight_decay"]
        # fused: one kernel per step instead of one per tensor (~30% faster epochs for Adam at batch size 16).
        if params["optimizer"] == "sgd":
            self.opt: torch.optim.Optimizer = torch.optim.SGD(
                self.model.parameters(), lr=lr, momentum=0.9, weight_decay=wd, fused=True
            )
        else:
            self.opt = torch.optim.Adam(self.model.parameters(), lr=lr, weight_decay=wd, fused=True)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a checkpoint (this run's or a donor's) and re-apply this run's own lr and weight decay."""
        p = self.params
        try:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["opt"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise RuntimeError(
                f"the checkpoint to resume from does not fit this trial's model and optimizer "
                f"(width={p['width']}, depth={p['depth']}, optimizer={p['optimizer']!r}): {exc}"
            ) from exc
        apply_hparams(self.opt, lr=p["lr"], weight_decay=p["weight_decay"])  # a clone trains with its own values

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "classification":
            return F.cross_entropy(out, y)
        return F.mse_loss(out.squeeze(1), y)

    def train_epoch(self, epoch: int) -> None:
        x_train, y_train = self.data[0], self.data[1]
        gen = torch.Generator().manual_seed(seed_of(self.number, epoch, _EPOCH))
        self.model.train()
        n = x_train.shape[0]
        order = torch.randperm(n, generator=gen)
        batch = self.params["batch_size"]
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            loss = self._loss(self.model(x_train[idx], gen), y_train[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()

    def train_step(self, step: int) -> None:
        """One step of this task is one epoch (the interface every built-in run shares)."""
        self.train_epoch(step)

    def costs(self) -> dict[str, float]:
        """What the model costs to run on one example — ``params``, ``flops``, ``peak_mem_mb`` (see
        ``itero.metrics.model_costs``) — measured once per run (the architecture does not change). Latency is
        left out: timed inside a training loop on a shared machine it is noise, and it would make reports differ
        between a resumed and an uninterrupted run; an objective that wants it calls ``itero.metrics.latency_ms``."""
        if self._costs is None:
            from itero.metrics import model_costs

            self._costs = model_costs(self.model, self.data[2][:1], latency=False)
        return dict(self._costs)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        _, _, x_val, y_val, x_test, y_test = self.data
        self.model.eval()
        val, test = self.model(x_val), self.model(x_test)
        out = supervised_metrics(val, y_val, test, y_test, self.kind == "classification")
        if self.kind == "classification":
            return out
        # A diverged run gives inf/nan: report a large finite error so that schedulers can rank it.
        return {name: _finite(v) for name, v in out.items()}


def run_objective(
    trial: Any, data: Callable[[], Data], kind: Kind, default_max_steps: int, dataset: str | None = None
) -> None:
    """The itero objective of an MLP task: suggest, restore, train ``trial.steps``, report with state.
    ``dataset`` names the data for ``trial.track_dataset`` (hashed once per process)."""
    params = suggest_mlp(trial)
    max_steps = getattr(trial, "max_steps", None) or default_max_steps
    track = getattr(trial, "track_dataset", None)  # stand-in trials of tests and other tools may lack it
    if dataset is not None and track is not None:
        track(dataset, _version(dataset, data))
    run = MLPRun(params, trial.number, data(), kind)
    state = trial.restore()
    if state is not None:
        run.load_state_dict(state)
    for epoch in trial.steps(max_steps):
        run.train_epoch(epoch)
        trial.report(epoch, {**run.evaluate(), **run.costs()}, state=run.state_dict)


_versions: dict[tuple[str, Callable[[], Data]], Any] = {}


def _version(name: str, data: Callable[[], Data]) -> Any:
    """The dataset version of a task's data, hashed once per process (the loaders are cached too)."""
    key = (name, data)
    if key not in _versions:
        from itero.tracking import version_of

        x_train, y_train, x_val, y_val, x_test, y_test = data()
        splits = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
        _versions[key] = version_of(name, splits)
    return _versions[key]


def _finite(x: float, cap: float = 1e6) -> float:
    return x if math.isfinite(x) and x < cap else cap


class _MLP(nn.Module):
    """``depth`` hidden layers of ``width`` ReLU units with dropout drawn from an explicit generator."""

    def __init__(self, n_in: int, n_out: int, width: int, depth: int, dropout: float, seed: int) -> None:
        super().__init__()
        dims = [n_in] + [width] * depth
        self.hidden = nn.ModuleList(_Linear(a, b) for a, b in itertools.pairwise(dims))
        self.out = _Linear(dims[-1], n_out)
        self.dropout = float(dropout)
        gen = torch.Generator().manual_seed(seed)
        for layer in [*self.hidden, self.out]:
            layer.reset_parameters(gen)

    def forward(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        keep = 1.0 - self.dropout
        for layer in self.hidden:
            x = F.relu(layer(x))
            if self.training and self.dropout > 0.0 and gen is not None:
                x = x * torch.empty_like(x).bernoulli_(keep, generator=gen).div_(keep)
        return self.out(x)


class _Linear(nn.Module):
    """``nn.Linear`` initialised from an explicit generator instead of torch's global one."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        self.bias = nn.Parameter(torch.empty(n_out))

    def reset_parameters(self, gen: torch.Generator) -> None:
        bound = 1.0 / math.sqrt(self.weight.shape[1])  # torch's default init for nn.Linear
        with torch.no_grad():
            self.weight.uniform_(-bound, bound, generator=gen)
            self.bias.uniform_(-bound, bound, generator=gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


def split_standardise(x: np.ndarray, y: np.ndarray, seed: int, stratify: bool, y_dtype: Any) -> Data:
    """A fixed 60/20/20 train/validation/test split, features standardised with the training statistics."""
    from sklearn.model_selection import train_test_split

    x = x.astype(np.float32)
    strat = y if stratify else None
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, train_size=0.6, random_state=seed, stratify=strat)
    strat = y_rest if stratify else None
    x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, train_size=0.5, random_state=seed, stratify=strat)
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std < 1e-6] = 1.0  # features constant on the training set (the digits' borders)
    out = []
    for xs, ys in ((x_train, y_train), (x_val, y_val), (x_test, y_test)):
        out.append(torch.from_numpy(((xs - mean) / std).astype(np.float32)))
        out.append(torch.from_numpy(ys.astype(y_dtype)))
    return tuple(out)
