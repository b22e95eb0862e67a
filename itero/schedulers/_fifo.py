"""FIFO: every trial gets its full budget, no early stopping."""

from __future__ import annotations

from itero.exceptions import ConfigError
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
        if checkpoint_every is not None and (
            isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1
        ):
            raise ConfigError(f"fifo option 'checkpoint_every' must be an integer >= 1, got {checkpoint_every!r}")
        self.checkpoint_every = checkpoint_every

    def wants_checkpoint(self, history: History, trial: FrozenTrial, step: int) -> bool:
        return self.checkpoint_every is not None and step % self.checkpoint_every == 0
