"""The ``char-lm`` task: a character-level language model on a corpus that ships with Python.

The corpus is the text of ``pydoc_data.topics`` (Python's own help pages, ~465,000 characters, ~100 distinct
characters), in sorted topic order: the first 80% trains, the next 10% validates and the last 10% tests. The
model is a Bengio-style n-gram MLP: the embeddings of the last ``context`` characters, concatenated, through one
hidden ReLU layer of ``width`` units with dropout, to the next character's logits. One step is 4,096 training
positions (Adam); the metrics are the perplexities on 8,192 fixed validation and test positions::

    run = CharLMRun({"lr": 3e-3, "context": 8, "embedding": 16, "width": 128, "dropout": 0.1,
                     "batch_size": 64}, number=0)
    run.train_step(1)
    run.evaluate()        # {"val_ppl", "test_ppl"}
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from itero.tasks._common import clipped_step, drive, init_params, seed_of
from itero.torchutil import apply_hparams

MAX_STEPS = 30
STEP_POSITIONS = 4_096
EVAL_POSITIONS = 8_192
_INIT, _BATCH, _DROP = 20, 21, 22


def suggest_charlm(trial: Any) -> dict[str, Any]:
    """The char-lm search space (an itero or an Optuna trial)."""
    return {
        "lr": trial.suggest_float("lr", 1e-4, 0.1, log=True),
        "context": trial.suggest_categorical("context", [4, 8, 12]),
        "embedding": trial.suggest_int("embedding", 8, 32, log=True),
        "width": trial.suggest_int("width", 32, 256, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
    }


@functools.lru_cache(maxsize=1)
def corpus() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(train, val, test, vocabulary size): the corpus as int64 character codes, split 80/10/10."""
    from pydoc_data.topics import topics

    text = "".join(topics[key] for key in sorted(topics))
    vocab = {c: i for i, c in enumerate(sorted(set(text)))}
    codes = torch.tensor([vocab[c] for c in text], dtype=torch.int64)
    a, b = int(0.8 * len(codes)), int(0.9 * len(codes))
    return codes[:a], codes[a:b], codes[b:], len(vocab)


def _windows(codes: torch.Tensor, ends: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``context`` characters before each position in ``ends`` and the character there."""
    idx = ends.unsqueeze(1) - torch.arange(context, 0, -1)
    return codes[idx], codes[ends]


class _NGramMLP(nn.Module):
    def __init__(self, vocab: int, params: dict[str, Any]) -> None:
        super().__init__()
        self.embed = nn.utils.skip_init(nn.Embedding, vocab, params["embedding"])
        self.hidden = nn.utils.skip_init(nn.Linear, params["context"] * params["embedding"], params["width"])
        self.out = nn.utils.skip_init(nn.Linear, params["width"], vocab)
        self.dropout = float(params["dropout"])

    def forward(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        h = F.relu(self.hidden(self.embed(x).flatten(1)))
        if self.training and self.dropout > 0.0 and gen is not None:
            keep = 1.0 - self.dropout
            h = h * torch.empty_like(h).bernoulli_(keep, generator=gen).div_(keep)
        return self.out(h)


class CharLMRun:
    """One training run of the n-gram MLP; ``train_step`` sees 4,096 random training positions."""

    def __init__(self, params: dict[str, Any], number: int) -> None:
        self.params, self.number = params, number
        _, val, test, vocab = corpus()
        self.model = _NGramMLP(vocab, params)
        init_params(self.model, seed_of(number, 0, _INIT))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=params["lr"])
        c = params["context"]
        gen = torch.Generator().manual_seed(seed_of(0, 0, _BATCH))  # the same positions for every run
        self._val = _windows(val, torch.randint(c, len(val), (EVAL_POSITIONS,), generator=gen), c)
        self._test = _windows(test, torch.randint(c, len(test), (EVAL_POSITIONS,), generator=gen), c)

    def train_step(self, step: int) -> None:
        train = corpus()[0]
        c, batch = self.params["context"], self.params["batch_size"]
        gen = torch.Generator().manual_seed(seed_of(self.number, step, _BATCH))
        x, y = _windows(train, torch.randint(c, len(train), (STEP_POSITIONS,), generator=gen), c)
        drop = torch.Generator().manual_seed(seed_of(self.number, step, _DROP))
        self.model.train()
        for i in range(0, STEP_POSITIONS, batch):
            loss = F.cross_entropy(self.model(x[i : i + batch], drop), y[i : i + batch])
            clipped_step(self.model, self.opt, loss)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        val = F.cross_entropy(self.model(self._val[0]), self._val[1]).item()
        test = F.cross_entropy(self.model(self._test[0]), self._test[1]).item()
        return {"val_ppl": math.exp(min(val, 50.0)), "test_ppl": math.exp(min(test, 50.0))}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a checkpoint (this run's or a donor's) and re-apply this run's own lr."""
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        apply_hparams(self.opt, lr=self.params["lr"])


def char_lm(trial: Any) -> None:
    """Train the character model for up to ``trial.max_steps`` (default 30) steps of 4,096 positions; reports
    ``val_ppl`` (the objective, minimised) and ``test_ppl`` every step."""
    drive(trial, CharLMRun(suggest_charlm(trial), trial.number), MAX_STEPS)
