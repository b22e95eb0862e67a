"""The ``digits-cnn`` task: a small CNN on the augmented digits (10,000 / 2,500 / 2,500 images).

One step is 2,000 training images (``2000 // batch_size`` minibatches, the epoch's order drawn from the run's
number and the epoch), so 25 steps are 5 epochs whatever the batch size. Gradients are clipped to norm 5, so no
configuration of the space diverges. Seeding follows ``itero.tasks._mlp``: everything from (number, step)
through private generators, so runs repeat exactly and resume where an uninterrupted run would be::

    run = CNNRun({"lr": 3e-3, "weight_decay": 1e-4, "channels": 16, "kernel_size": 3, "batch_size": 64,
                  "optimizer": "adam"}, number=0)
    for step in range(1, 26):
        run.train_step(step)
        run.evaluate()          # {"val_acc", "val_loss", "test_acc"}
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from itero.tasks._augdigits import SIZES, aug_digits_data
from itero.tasks._common import clipped_step, drive, init_params, make_optimizer, seed_of
from itero.torchutil import apply_hparams

MAX_STEPS = 25
STEP_EXAMPLES = 2_000
_INIT, _ORDER = 10, 11


def suggest_cnn(trial: Any) -> dict[str, Any]:
    """The CNN search space (an itero or an Optuna trial)."""
    return {
        "lr": trial.suggest_float("lr", 1e-4, 0.3, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        "channels": trial.suggest_int("channels", 4, 32, log=True),
        "kernel_size": trial.suggest_categorical("kernel_size", [3, 5]),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
        "optimizer": trial.suggest_categorical("optimizer", ["sgd", "adam"]),
    }


class CNNRun:
    """conv(k)·ReLU·maxpool → conv(3)·ReLU → linear, on 8x8 images; ``train_step`` sees 2,000 images."""

    def __init__(self, params: dict[str, Any], number: int) -> None:
        self.params, self.number = params, number
        c, k = params["channels"], params["kernel_size"]
        self.model = nn.Sequential(
            nn.utils.skip_init(nn.Conv2d, 1, c, k, padding=k // 2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.utils.skip_init(nn.Conv2d, c, 2 * c, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.utils.skip_init(nn.Linear, 2 * c * 16, 10),
        )
        init_params(self.model, seed_of(number, 0, _INIT))
        self.opt = make_optimizer(self.model.parameters(), params["optimizer"], params["lr"], params["weight_decay"])

    def train_step(self, step: int) -> None:
        x, y = aug_digits_data()[:2]
        start = (step - 1) * STEP_EXAMPLES
        epoch, offset = divmod(start, SIZES["train"])
        order = torch.randperm(
            SIZES["train"], generator=torch.Generator().manual_seed(seed_of(self.number, epoch, _ORDER))
        )
        order = order[offset : offset + STEP_EXAMPLES]
        self.model.train()
        batch = self.params["batch_size"]
        for i in range(0, STEP_EXAMPLES - batch + 1, batch):
            idx = order[i : i + batch]
            loss = F.cross_entropy(self.model(x[idx]), y[idx])
            clipped_step(self.model, self.opt, loss)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        _, _, x_val, y_val, x_test, y_test = aug_digits_data()
        self.model.eval()
        val, test = self.model(x_val), self.model(x_test)
        return {
            "val_acc": (val.argmax(1) == y_val).float().mean().item(),
            "val_loss": F.cross_entropy(val, y_val).item(),
            "test_acc": (test.argmax(1) == y_test).float().mean().item(),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a checkpoint (this run's or a donor's) and re-apply this run's own lr and weight decay."""
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        apply_hparams(self.opt, lr=self.params["lr"], weight_decay=self.params["weight_decay"])


def digits_cnn(trial: Any) -> None:
    """Train the CNN for up to ``trial.max_steps`` (default 25) steps of 2,000 images; reports ``val_acc``
    (the objective), ``val_loss`` and ``test_acc`` every step."""
    drive(trial, CNNRun(suggest_cnn(trial), trial.number), MAX_STEPS)
