"""What a trial run costs: steps, wall and CPU seconds, energy and CO2, read from the clock and the energy meter.

>>> from itero._clock import FakeClock
>>> clock = FakeClock()
>>> cost = CostMeter(clock, ClockMeter(clock), grams_per_kwh=0.0, start_step=0)
>>> clock.advance(2.0)
>>> cost.delta(step=1).cpu_seconds
2.0
"""

from __future__ import annotations

from typing import Protocol

from itero._clock import Clock
from itero.store import CostDelta, RunCost
from itero.tracking import Sample


class Meter(Protocol):
    """An energy meter (``itero.tracking.EnergyMeter``, or ``ClockMeter`` on simulated time)."""

    method: str

    @property
    def enabled(self) -> bool: ...

    def sample(self) -> Sample: ...

    def joules(self, a: Sample, b: Sample) -> float: ...


class ClockMeter:
    """A meter for simulated workers: CPU seconds are the clock's seconds, energy is not measured."""

    method = "off"
    enabled = False

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def sample(self) -> Sample:
        return Sample(self.clock.monotonic())

    def joules(self, a: Sample, b: Sample) -> float:
        return 0.0


class CostMeter:
    """Counts one run of a trial: ``delta`` is what was spent since the previous delta (added to the trial's
    totals at each write), ``run`` the whole run (recorded when it ends)."""

    def __init__(
        self, clock: Clock, meter: Meter, grams_per_kwh: float, start_step: int, energy_before: float = 0.0
    ) -> None:
        self.clock, self.meter, self.grams_per_kwh = clock, meter, grams_per_kwh
        self.started_at = clock.time()
        self._t0 = self._t = clock.monotonic()
        self._s0 = self._s = meter.sample()
        self._step = start_step
        self.energy_before = energy_before  # what earlier runs of this trial used
        self.energy_run = 0.0  # counted so far by this run

    def delta(self, step: int) -> CostDelta:
        """The cost since the previous delta, the trial being at ``step`` now."""
        now, sample = self.clock.monotonic(), self.meter.sample()
        energy = self.meter.joules(self._s, sample)
        out = CostDelta(step - self._step, now - self._t, sample.cpu - self._s.cpu, energy, self.co2(energy))
        self.energy_run += energy
        self._t, self._s, self._step = now, sample, step
        return out

    def rebase(self, step: int) -> None:
        """The trial jumped to ``step`` without running the steps before it (a shared-weights start)."""
        self._step = step

    def run(self, start_step: int, end_step: int, outcome: str) -> RunCost:
        """The whole run so far (call after the last ``delta``)."""
        return RunCost(
            start_step,
            end_step,
            self._t - self._t0,
            self._s.cpu - self._s0.cpu,
            self.started_at,
            outcome,
            energy_j=self.energy_run,
            co2_g=self.co2(self.energy_run),
            energy_method=self.meter.method,
        )

    def unflushed_joules(self) -> float:
        """Energy used since the previous delta."""
        return self.meter.joules(self._s, self.meter.sample()) if self.meter.enabled else 0.0

    def energy_kwh(self) -> float:
        """Energy of every run of the trial so far, this one included."""
        return (self.energy_before + self.energy_run + self.unflushed_joules()) / 3.6e6

    def co2(self, joules: float) -> float:
        return joules / 3.6e6 * self.grams_per_kwh
