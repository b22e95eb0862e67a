"""``Study.set_budget``: the study's own budget, granted by the store to every process and machine that works on
the study — unlike ``optimize(n_trials=...)``, which counts for one call.

    study.set_budget(trials=100, minutes=30)   # 100 trials in all, 30 minutes of the study's wall clock
    study.optimize(objective, n_jobs=4)        # here, in `itero worker` on other machines: the same totals
"""

from __future__ import annotations

from typing import Protocol

from itero.exceptions import ConfigError
from itero.store import Store, StudyBudget
from itero.store._cache import StudyCache
from itero.study._optimize import check_count, check_positive


class _Study(Protocol):
    id: int
    tracking: bool
    store: Store
    _cache: StudyCache


def set_budget(
    study: _Study,
    trials: int | None = None,
    steps: int | None = None,
    minutes: float | None = None,
    energy_kwh: float | None = None,
) -> StudyBudget:
    """Limit the study's totals (None: no limit; calling it again replaces every limit): ``trials`` started in
    all, ``steps`` run in all, ``minutes`` of the study's wall clock (time during which any process worked on
    it), ``energy_kwh`` measured by its energy tracking. Every worker of the study stops starting trials once
    ``trials`` are started, and stops at its next step once steps, minutes or energy are spent; trials and
    steps are exact across processes, minutes and energy within one step. Trials the study already has count.
    A loop of your own (``ask``/``tell``) is held to ``trials`` only. Returns the budget as stored."""
    for name, count in (("trials", trials), ("steps", steps)):
        check_count(f"set_budget: {name}", count)
    for name, number in (("minutes", minutes), ("energy_kwh", energy_kwh)):
        check_positive(f"set_budget: {name}", number)
    if energy_kwh is not None and not study.tracking:
        raise ConfigError("set_budget: energy_kwh needs energy tracking, but this study has tracking=False")
    limits = StudyBudget(
        max_trials=trials,
        max_steps=steps,
        max_seconds=None if minutes is None else float(minutes) * 60,
        max_energy_j=None if energy_kwh is None else float(energy_kwh) * 3.6e6,
    )
    study._cache.refresh()
    study.store.set_budget(study.id, limits, study._cache.steps_spent)
    study._cache.refresh()
    return study._cache.budget
