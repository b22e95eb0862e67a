"""FIFO: every trial gets its full budget, no early stopping."""

from __future__ import annotations

from itero._validation import check_int
from itero.schedulers._base import BaseScheduler
from itero.trial import FrozenTrial, History


class FIFO(BaseScheduler):
    """Run each trial to ``max_steps`` (or to the objective's own limit).

    ``checkpoint_every=k`` serialises the reported state every ``k`` steps so that a trial whose worker dies is
    resumed from there instead of retried from scratch; by default no state is kept.

        >>> FIFO(max_steps=20, checkpoint_every=5)
        FIFO(max_steps=20)
    """

    name = "fifo"

    def __init__(self, max_steps: int | None = None, checkpoint_every: int | None = None) -> None:
        super().__init__(max_steps)
        check_int("fifo", "checkpoint_every", checkpoint_every, 1, allow_none=True)
        self.checkpoint_every = checkpoint_every

    def wants_checkpoint(self, history: History, trial: FrozenTrial, step: int) -> bool:
        return self.checkpoint_every is not None and step % self.checkpoint_every == 0
