"""Helpers for objectives written with PyTorch (imported only by code that already uses torch).

The one that matters for warm starting: a restored optimizer carries the *donor's* hyper-parameters.
``optimizer.load_state_dict`` replaces every ``param_group`` with the saved one, so after a PBT clone restores
a donor's checkpoint its learning rate and weight decay are the donor's, not the clone's. Re-apply the trial's
own values after loading::

    from itero.torchutil import apply_hparams

    lr = trial.suggest_float("lr", 1e-4, 0.3, log=True)
    wd = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    state = trial.restore()
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        apply_hparams(opt, lr=lr, weight_decay=wd)  # train with this trial's values, not the donor's
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["apply_hparams"]


def apply_hparams(optimizer: torch.optim.Optimizer, **values: Any) -> None:
    """Set each of ``values`` (``lr=…``, ``weight_decay=…``, ``momentum=…``, ``betas=…``) on every param group
    of ``optimizer``, in place.

    A key the optimizer's param groups do not have (``momentum`` on Adam, a typo) raises ``ValueError``
    instead of being silently ignored. A value stored as a tensor (``lr`` of a capturable optimizer) is
    updated in place so that compiled or captured steps see it. If a learning-rate scheduler drives ``lr``,
    also restore or rebuild the scheduler: its ``base_lrs`` decide the next value, not the group's ``lr``.

    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    >>> apply_hparams(opt, lr=0.01, weight_decay=1e-4)
    >>> opt.param_groups[0]["lr"], opt.param_groups[0]["weight_decay"]
    (0.01, 0.0001)
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"apply_hparams: expected a torch.optim.Optimizer, got {type(optimizer).__name__}")
    for group in optimizer.param_groups:
        unknown = [key for key in values if key not in group]
        if unknown:
            known = sorted(key for key in group if key != "params")
            raise ValueError(
                f"apply_hparams: {type(optimizer).__name__} has no hyper-parameter {unknown[0]!r}; "
                f"its param groups have {known}"
            )
    for group in optimizer.param_groups:
        for key, value in values.items():
            current = group[key]
            if isinstance(current, torch.Tensor) and not isinstance(value, torch.Tensor):
                current.fill_(value)
            else:
                group[key] = value
