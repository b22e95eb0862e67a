"""Where workers run and the running trial lives: in this process (``n_jobs=1``), as local peer processes
(``n_jobs=N``), or many workers stepped on simulated time (``Simulation``)."""

from itero._clock import Clock, FakeClock, SystemClock
from itero.executors._context import Budget, RunContext
from itero.executors._cost import ClockMeter, CostMeter
from itero.executors._host import RunHost, TrialHost
from itero.executors._local import device_slots, run_processes, sigterm_as_interrupt
from itero.executors._outcome import ENERGY_METRIC
from itero.executors._simulation import Simulation
from itero.executors._stepper import Stepper
from itero.executors._trial import Trial
from itero.executors._work import is_queued, next_work
from itero.executors._worker import Worker

__all__ = [
    "ENERGY_METRIC",
    "Budget",
    "Clock",
    "ClockMeter",
    "CostMeter",
    "FakeClock",
    "RunContext",
    "RunHost",
    "Simulation",
    "Stepper",
    "SystemClock",
    "Trial",
    "TrialHost",
    "Worker",
    "device_slots",
    "is_queued",
    "next_work",
    "run_processes",
    "sigterm_as_interrupt",
]
