"""The hybrid on the digits: TPE picks the architecture, hypergradients tune the rest inside each trial.

The study's sampler chooses ``width`` and ``depth`` (discrete: no gradient exists); inside each trial the weight
decay of every layer is tuned by implicit hypergradients on the validation loss, once per epoch, and the learning
rate online (Baydin et al.). The tuned values are recorded as the trial's parameters, and their trajectory is in
its reports (``hp.*``).

    python examples/hypergrad_digits.py                    # 8 trials of 15 epochs, prints the best trial
    python examples/hypergrad_digits.py --trials 2 --epochs 3
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

import itero
from itero.hypergrad import HypergradientLR, LogWeightDecay, implicit_hypergradient, params_of, record_hparams
from itero.metrics import accuracy
from itero.tasks._digits import digits_data


def make_objective(epochs: int):
    def objective(trial: itero.Trial) -> None:
        width = trial.suggest_int("width", 32, 256, log=True)
        depth = trial.suggest_int("depth", 1, 2)
        x_train, y_train, x_val, y_val, _, _ = digits_data()
        trial.track_dataset("sklearn-digits", (x_train, y_train, x_val, y_val))
        torch.manual_seed(trial.number)
        layers: list[nn.Module] = []
        n_in = x_train.shape[1]
        for _ in range(depth):
            layers += [nn.Linear(n_in, width), nn.ReLU()]
            n_in = width
        model = nn.Sequential(*layers, nn.Linear(n_in, 10))
        wd = LogWeightDecay(model, per="layer", init=1e-4)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        lr_tuner = HypergradientLR(opt, hyper_lr=1e-5)
        hyper_opt = torch.optim.Adam([wd.log_wd], lr=0.2)

        def train_loss(p: dict[str, torch.Tensor], h: dict[str, torch.Tensor]) -> torch.Tensor:
            return F.cross_entropy(functional_call(model, p, (x_train,)), y_train) + wd.penalty(p, h["log_wd"])

        def val_loss(p: dict[str, torch.Tensor], h: dict[str, torch.Tensor]) -> torch.Tensor:
            return F.cross_entropy(functional_call(model, p, (x_val,)), y_val)

        gen = torch.Generator().manual_seed(trial.number)
        for epoch in trial.steps(epochs):
            for idx in torch.randperm(len(x_train), generator=gen).split(64):
                opt.zero_grad()
                penalty = wd.penalty(dict(model.named_parameters()), wd.log_wd.detach())
                (F.cross_entropy(model(x_train[idx]), y_train[idx]) + penalty).backward()
                lr_tuner.step()
            hg = implicit_hypergradient(
                train_loss, val_loss, params_of(model), {"log_wd": wd.log_wd}, iterations=10, damping=1e-2
            )
            hyper_opt.zero_grad()
            wd.log_wd.grad = hg.grads["log_wd"].to(wd.log_wd.dtype)
            hyper_opt.step()
            with torch.no_grad():
                wd.log_wd.clamp_(-16, 0)  # weight decay between 1e-7 and 1
                val_acc = accuracy(model(x_val), y_val)
            tuned = record_hparams(trial, {"lr": lr_tuner.lrs[0], **{f"wd.{g}": v for g, v in wd.values().items()}})
            trial.report(epoch, {"val_acc": val_acc, "val_loss": hg.val_loss, **tuned})

    return objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--storage", default="sqlite:///itero.db")
    args = parser.parse_args()
    study = itero.create_study(
        "digits-hypergrad",
        storage=args.storage,
        objectives={"val_acc": "maximize"},
        sampler={"name": "tpe", "seed": 0},
        load_if_exists=True,
    )
    study.optimize(make_objective(args.epochs), n_trials=args.trials)
    best = study.best_trial
    print(f"best trial #{best.number}: val_acc {best.metrics['val_acc']:.4f}")
    for name, value in best.params.items():
        print(f"  {name} = {value:.4g}" if isinstance(value, float) else f"  {name} = {value}")


if __name__ == "__main__":
    main()
