"""Augmented digits: scikit-learn's 1,797 8x8 digits expanded to 10,000 train / 2,500 validation / 2,500 test
images by random affine transforms (rotation ±15°, shift ±1 px, scale 0.9–1.1, shear ±0.15) and pixel noise.

The originals are split first (stratified 60/20/20, fixed seed), so no digit drawn by the same hand appears in
two splits; each split is then expanded from its own originals with its own fixed generator. Pixels are scaled
with the training mean and standard deviation. A validation set of 2,500 images ranks configurations to 0.04
points of accuracy, where digits-mlp's 360 images move in steps of 0.28.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from itero.tasks._mlp import MLPRun, suggest_mlp

Data = tuple[torch.Tensor, ...]  # x_train, y_train, x_val, y_val, x_test, y_test; x of shape (n, 1, 8, 8)

SIZES = {"train": 10_000, "val": 2_500, "test": 2_500}
_SEED = 0


@functools.lru_cache(maxsize=1)
def aug_digits_data() -> Data:
    """(x_train, y_train, x_val, y_val, x_test, y_test): images ``(n, 1, 8, 8)`` float32, labels int64."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    x_tr, x_rest, y_tr, y_rest = train_test_split(x, y, train_size=0.6, random_state=_SEED, stratify=y)
    x_va, x_te, y_va, y_te = train_test_split(x_rest, y_rest, train_size=0.5, random_state=_SEED, stratify=y_rest)
    parts = []
    for i, (xs, ys, n) in enumerate(
        ((x_tr, y_tr, SIZES["train"]), (x_va, y_va, SIZES["val"]), (x_te, y_te, SIZES["test"]))
    ):
        gen = torch.Generator().manual_seed(1000 + i)
        parts.append(_augment(torch.from_numpy(xs), torch.from_numpy(ys), n, gen))
    mean, std = parts[0][0].mean(), parts[0][0].std()
    out: list[torch.Tensor] = []
    for xs_t, ys_t in parts:
        out += [((xs_t - mean) / std).contiguous(), ys_t.long()]
    return tuple(out)


def _augment(x: torch.Tensor, y: torch.Tensor, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images: each original once untouched, the rest random affine copies, all with pixel noise."""
    idx = torch.cat([torch.arange(len(x)), torch.randint(len(x), (n - len(x),), generator=gen)])
    src = x[idx]

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    angle, scale, shear = u(-math.pi / 12, math.pi / 12), u(0.9, 1.1), u(-0.15, 0.15)
    shift = torch.randint(-1, 2, (n, 2), generator=gen).float() * 2 / 8  # ±1 pixel in grid units
    keep = torch.arange(n) < len(x)
    angle[keep], scale[keep], shear[keep], shift[keep] = 0.0, 1.0, 0.0, 0.0
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(src.shape), align_corners=False)
    out = F.grid_sample(src, grid, align_corners=False, padding_mode="zeros")
    out = out + 0.05 * torch.randn(out.shape, generator=gen)
    return out.float(), y[idx]


MLP_TRAIN = 4_000


@functools.lru_cache(maxsize=1)
def aug_digits_flat() -> Data:
    """The augmented digits for the MLP tasks: 64 features; the first 4,000 training images (the originals
    and 2,922 augmented copies), all 2,500 validation and 2,500 test images."""
    x_train, y_train, x_val, y_val, x_test, y_test = aug_digits_data()
    flat = [x.flatten(1) for x in (x_train[:MLP_TRAIN], x_val, x_test)]
    return flat[0], y_train[:MLP_TRAIN], flat[1], y_val, flat[2], y_test


def digits_aug_mlp(trial: Any) -> None:
    """The MLP of ``digits-mlp`` (same space) on the augmented digits, for up to ``trial.max_steps`` (default
    20) epochs of 4,000 images; reports ``val_acc``, ``val_loss``, ``test_acc`` and the model's ``params``,
    ``flops`` and ``peak_mem_mb`` every epoch (its objectives: ``val_acc`` up, ``flops`` down). A run whose
    loss overflows (SGD at the top of the lr range with a wide, deep net) fails at that step."""
    from itero.tasks._common import drive

    run = aug_mlp_run(suggest_mlp(trial), trial.number)
    drive(trial, run, 20, extra=run.costs())


def aug_mlp_run(params: dict[str, Any], number: int) -> Any:
    """The framework-agnostic run of ``digits-aug-mlp``."""
    return MLPRun(params, number, aug_digits_flat(), "classification")
