"""The engine on simulated time: stepped workers, a FakeClock, and the Simulation that interleaves them."""

from __future__ import annotations

import pytest

import itero
from itero._clock import SYSTEM_CLOCK, FakeClock
from itero.exceptions import ConfigError
from itero.executors import Budget, Worker
from itero.store import Store
from itero.store._cache import StudyCache
from itero.study import simulate


def _study(clock: FakeClock, **kwargs):
    kwargs.setdefault("sampler", {"name": "random", "seed": 0})
    kwargs.setdefault("scheduler", "fifo")
    return itero.create_study("sim", storage=Store("sqlite://", clock=clock), tracking=False, **kwargs)


def _paced(clock: FakeClock, max_steps: int = 3):
    """Trial n trains 1 + n % 3 simulated seconds per step and reports its step number."""

    def objective(trial):
        trial.suggest_float("x", 0.0, 1.0)
        for step in trial.steps(max_steps=max_steps):
            clock.sleep(1.0 + trial.number % 3)
            trial.report(step, {"value": float(step)})

    return objective


def test_two_workers_fill_the_store_as_the_interleaving_predicts():
    clock = FakeClock(start=0.0)
    study = _study(clock)
    took = simulate(study, _paced(clock), n_workers=2, n_trials=5)
    # Worker A runs trial 0 (3 x 1 s) then 2 (3 x 3 s); worker B runs 1 (3 x 2 s), 3 (3 x 1 s), then 4 (3 x 2 s).
    assert took == 15.0
    spans = {t.number: (t.datetime_start.timestamp(), t.datetime_complete.timestamp()) for t in study.trials}
    assert spans == {0: (0, 3), 1: (0, 6), 2: (3, 12), 3: (6, 9), 4: (9, 15)}
    assert [t.cost.wall_seconds for t in study.trials] == [3.0, 6.0, 9.0, 3.0, 6.0]
    assert [t.cost.cpu_seconds for t in study.trials] == [3.0, 6.0, 9.0, 3.0, 6.0]
    workers = {run.trial_id: run.worker_id for run in study.store.trial_runs(study.id)}
    by_number = {t.number: workers[t.id] for t in study.trials}
    assert by_number[0] == by_number[2] != by_number[1] == by_number[3] == by_number[4]
    # Every report is written when it is made: the store's order is simulated-time order, and of two reports
    # made at the same time, the one of the worker that went to sleep first comes first.
    numbers = {t.id: t.number for t in study.trials}
    _, _, reports = study.store.read_changes(study.id, 0)
    order = [(numbers[trial_id], step) for trial_id, step, _ in reports]
    assert order == [
        (0, 1), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (1, 3),
        (3, 1), (3, 2), (2, 2), (3, 3), (4, 1), (2, 3), (4, 2), (4, 3),
    ]  # fmt: skip


def _contents(study):
    return [
        (t.number, t.state, t.params, t.reports, t.cost.wall_seconds, t.datetime_start, t.datetime_complete)
        for t in study.trials
    ]


def test_a_simulation_is_repeatable_and_keeps_the_step_budget_with_asha():
    def run():
        clock = FakeClock()
        study = _study(
            clock, sampler={"name": "tpe", "seed": 3}, scheduler={"name": "asha", "max_steps": 9, "min_steps": 1}
        )

        def objective(trial):
            x = trial.suggest_float("x", 0.0, 1.0)
            trial.restore()
            for step in trial.steps(max_steps=9):
                clock.sleep(0.5 + x)
                trial.report(step, {"value": (x - 0.3) ** 2 + 1.0 / step}, state={"step": step})

        simulate(study, objective, n_workers=4, max_steps_total=120)
        return study

    a, b = run(), run()
    assert _contents(a) == _contents(b)
    assert a.totals().steps == 120
    assert any(t.cost.runs > 1 for t in a.trials)  # ASHA paused trials and promoted them from their checkpoints
    for t in a.trials:  # no step ran twice: a resumed trial reports each step once
        assert sorted(t.reports) == list(range(1, len(t.reports) + 1))


def test_a_stepped_worker_hands_back_control_before_each_step():
    clock = FakeClock()
    study = _study(clock)
    budget = Budget()
    cache = StudyCache(study.store, study.id, study.name, study.directions)
    ctx = study._context(study.store, cache, budget, simulated=True)
    seen: list[int] = []

    def objective(trial):
        for step in trial.steps(max_steps=3):
            seen.append(step)
            trial.report(step, {"value": 1.0})

    worker = Worker(ctx, objective)
    assert worker.step() and seen == []  # claimed trial 0, about to be granted step 1
    assert worker.step() and seen == [1]
    assert worker.step() and seen == [1, 2]
    assert worker.step() and seen == [1, 2, 3]  # trial 0 done; trial 1 claimed
    assert study.trials[0].state == itero.TrialState.COMPLETE and study.trials[0].reports == {
        s: {"value": 1.0} for s in (1, 2, 3)
    }
    assert worker.wake_at is None
    worker.close()  # a stepped worker closed mid-trial gives its trial back
    assert study.trials[1].state == itero.TrialState.WAITING and not worker.step()


def test_a_worker_that_raises_ends_the_simulation_and_the_others_give_their_trials_back():
    clock = FakeClock(start=0.0)
    study = _study(clock)

    def objective(trial):
        for step in trial.steps(max_steps=5):
            clock.sleep(1.0 + trial.number)
            if trial.number == 0 and step == 2:
                raise SystemExit("worker killed")  # not an objective error: it ends the worker
            trial.report(step, {"value": 1.0})

    with pytest.raises(SystemExit, match="worker killed"):
        simulate(study, objective, n_workers=3, n_trials=6)
    states = sorted(t.state.value for t in study.trials)
    assert states == ["WAITING", "WAITING", "WAITING"]


def test_simulated_timeout_and_bad_input():
    clock = FakeClock(start=0.0)
    study = _study(clock)
    took = simulate(study, _paced(clock, max_steps=100), n_workers=3, timeout=50.0)
    assert took <= 50.0 + 3.0  # a step granted before the deadline may end after it
    assert len(study.trials) == 3 and all(t.step >= 16 for t in study.trials)
    with pytest.raises(ConfigError, match="n_workers must be an integer >= 1, got 0"):
        simulate(study, _paced(clock), n_workers=0)
    real = itero.create_study("real", storage="sqlite://", tracking=False)
    assert real.store.clock is SYSTEM_CLOCK
    with pytest.raises(ConfigError, match="FakeClock"):
        simulate(real, _paced(clock), n_trials=1)


def test_fake_clock_outside_a_simulation_just_moves_on():
    clock = FakeClock(start=5.0)
    clock.sleep(2.0)
    clock.advance(1.0)
    assert clock.time() == clock.monotonic() == 8.0
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1.0)
