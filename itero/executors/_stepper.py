"""A function run one piece at a time, in a greenlet: ``step`` runs it until it pauses, and says whether it is
still alive. It pauses at ``yield_step`` (no time passes) or when it sleeps on a ``FakeClock`` (``pause_until``,
called by ``FakeClock.sleep``; ``wake_at`` then says until when).

    >>> from itero._clock import FakeClock
    >>> clock, seen = FakeClock(start=0.0), []
    >>> def work():
    ...     seen.append("a"); clock.sleep(2.0); seen.append("b")
    >>> s = Stepper(work)
    >>> s.step(), seen, s.wake_at
    (True, ['a'], 2.0)
    >>> s.step(), seen
    (False, ['a', 'b'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import greenlet


class Stepper(greenlet.greenlet):
    """``fn`` in its own greenlet, stepped by whoever calls ``step`` (a ``Worker``, a ``Simulation``)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(fn)
        self.wake_at: float | None = None

    def step(self) -> bool:
        """Run until the next pause; False once the function has returned."""
        if self.dead:
            return False
        self.wake_at = None
        self.parent = greenlet.getcurrent()
        self.switch()
        return not self.dead

    def close(self) -> None:
        """End a function that started and has not returned: ``GreenletExit`` is raised where it paused."""
        if not self.dead and bool(self):
            self.parent = greenlet.getcurrent()
            self.throw(greenlet.GreenletExit)

    def yield_step(self) -> None:
        """Pause without time passing (a no-op outside this greenlet)."""
        if greenlet.getcurrent() is self:
            self.wake_at = None
            assert self.parent is not None
            self.parent.switch()

    def pause_until(self, t: float) -> None:
        """Pause until the clock reaches ``t`` (``FakeClock.sleep`` calls this inside the greenlet)."""
        self.wake_at = t
        assert self.parent is not None
        self.parent.switch()
