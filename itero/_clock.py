"""Clocks: where itero reads the time and waits. The real one by default; a fake one to run workers on
simulated time.

    >>> clock = FakeClock(start=100.0)
    >>> clock.sleep(2.5)          # outside a simulation, sleeping just moves the clock on
    >>> clock.time(), clock.monotonic()
    (102.5, 102.5)

Inside ``itero.executors.Simulation`` a worker's ``sleep`` hands control to the simulation, which wakes the
worker when the simulated time reaches the end of its sleep (see ``itero/executors/_simulation.py``).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall time (``time``, seconds since the epoch, for timestamps and deadlines), a monotonic time (``monotonic``,
    for durations) and ``sleep``."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The machine's clocks."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class FakeClock:
    """A clock that moves only when told: ``advance(seconds)``, or ``sleep(seconds)``. ``time`` and ``monotonic``
    read the same value.

    A greenlet that runs a simulated worker has a ``pause_until(t)`` method; ``sleep`` called inside it pauses the
    worker until the simulation's clock reaches ``t`` instead of moving the clock for everyone.
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = float(start)

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        import greenlet

        pause = getattr(greenlet.getcurrent(), "pause_until", None)
        if pause is None:
            self.advance(seconds)
        else:
            pause(self.now + max(0.0, seconds))
