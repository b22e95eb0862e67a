"""Many workers on simulated time: the real worker, trial, store, scheduler and sampler code, with a fake clock.

    clock = FakeClock()
    sim = Simulation(clock)
    for _ in range(4):
        sim.add(Worker(study_context(clock), objective))     # each worker with its own RunContext and clock
    sim.run()

Time passes for a worker only when it sleeps on the clock: an objective that replays recorded learning curves
calls ``clock.sleep(seconds_of_this_step)`` where real training would run. The simulation is a discrete-event
loop: it always resumes the worker due first (ties: the one queued first), sets the clock to that worker's time,
and lets it run until it sleeps (queued again at the end of its sleep) or is about to be granted a step (queued
again at the same time, behind the workers already due then). So N workers interleave exactly as N real workers
whose steps take those times would, and every run of the same simulation gives the same store contents.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Protocol

from itero._clock import FakeClock
from itero.executors._worker import Worker


class Steppable(Protocol):
    """What the simulation steps: a ``Worker``, or any function wrapped in a ``Stepper``."""

    @property
    def wake_at(self) -> float | None: ...

    def step(self) -> bool: ...

    def close(self) -> None: ...


class Simulation:
    """Steps workers in simulated-time order on ``clock``; see the module's docstring."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._queue: list[tuple[float, int, Steppable]] = []
        self._order = itertools.count()

    def add(self, worker: Steppable, at: float | None = None) -> None:
        """Start ``worker`` at time ``at`` (default: now). A ``Worker``'s context must use this simulation's
        clock; a ``Stepper``'s function must sleep on it."""
        if isinstance(worker, Worker) and worker.ctx.clock is not self.clock:
            raise ValueError("a simulated worker must use the simulation's clock (RunContext.clock)")
        when = self.clock.now if at is None else float(at)
        heapq.heappush(self._queue, (when, next(self._order), worker))

    def run(self, until: float | None = None) -> float:
        """Run until every worker has nothing left to do, or until the clock would pass ``until`` (the workers
        then wait for the next ``run``; ``close`` ends them); returns the simulated time reached. When a worker
        raises, the others are closed and the exception goes on."""
        try:
            while self._queue:
                when, _, worker = self._queue[0]
                if until is not None and when > until:
                    self.clock.now = max(self.clock.now, until)
                    return self.clock.now
                heapq.heappop(self._queue)
                self.clock.now = max(self.clock.now, when)
                if worker.step():
                    wake = worker.wake_at
                    heapq.heappush(self._queue, (self.clock.now if wake is None else wake, next(self._order), worker))
        except BaseException:
            self.close()  # a worker raised: give back the others' trials instead of leaving them suspended
            raise
        return self.clock.now

    def close(self) -> None:
        """Stop every queued worker (their running trials go back to WAITING)."""
        while self._queue:
            _, _, worker = heapq.heappop(self._queue)
            worker.close()
