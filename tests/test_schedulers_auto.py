"""The ``auto`` scheduler's three rules on hand-built studies: divergence, the curve model's verdict against the
leader, the best-third screen only where early ranks predict final ones; several objectives; no max_steps."""

from __future__ import annotations

import math

import pytest

import itero
from itero.schedulers import Auto, Decision, make_scheduler
from itero.trial import FrozenTrial, History, TrialState


def _trial(number: int, losses: dict[int, float | tuple[float, float]], state=TrialState.COMPLETE) -> FrozenTrial:
    reports = {s: (dict(zip("ab", v, strict=True)) if isinstance(v, tuple) else {"a": v}) for s, v in losses.items()}
    return FrozenTrial(id=number + 1, number=number, state=state, reports=reports, step=max(reports))


def _ordered_study() -> History:
    """24 complete trials (9 steps) whose order never changes: final = early / 2, plus a little noise."""
    history = History({"a": "minimize"})
    noise = [0.01, -0.02, 0.015, 0.0, -0.01, 0.02] * 4
    history.upsert([_trial(i, {1: 1.0 + i, 3: 0.8 + 0.6 * i, 9: 0.5 + 0.5 * i + noise[i]}) for i in range(24)])
    return history


def test_a_trial_that_cannot_catch_the_leader_stops_and_one_that_can_continues():
    history, auto = _ordered_study(), Auto(max_steps=9)
    slow = _trial(24, {1: 4.5}, state=TrialState.RUNNING)
    p = auto.prob_catches_up(history, slow, 1, 4.5)
    # Predicted near 2.25, every error a few hundredths, the leader at 0.51: as unlikely as 24 curves can say.
    assert p == pytest.approx(1 / 25)
    assert auto.decide(history, slow, 1) == Decision.STOP
    fast = _trial(24, {1: 0.9}, state=TrialState.RUNNING)
    assert auto.prob_catches_up(history, fast, 1, 0.9) > 0.5
    assert auto.decide(history, fast, 1) == Decision.CONTINUE
    assert auto.decide(history, _trial(24, {1: 4.5, 2: 4.0}, state=TrialState.RUNNING), 2) == Decision.CONTINUE


def test_a_handful_of_curves_never_stops_a_trial_by_the_model():
    history, auto = History({"a": "minimize"}), Auto(max_steps=9)
    history.upsert([_trial(i, {1: 1.0 + i, 9: 0.5 + 0.5 * i}) for i in range(6)])
    p = auto.prob_catches_up(history, _trial(6, {1: 40.0}), 1, 40.0)
    assert p == pytest.approx(1 / 7) and p > auto.p_stop  # it takes 19 curves to say less than 5%


def test_before_any_trial_finishes_the_best_third_of_a_step_goes_on():
    history, auto = History({"a": "minimize"}), Auto(max_steps=9)
    history.upsert([_trial(i, {1: float(i)}, state=TrialState.PRUNED) for i in range(5)])
    assert auto.prob_catches_up(history, _trial(5, {1: 9.0}), 1, 9.0) is None  # no curve reached a later step
    assert auto.decide(history, _trial(5, {1: 0.5}, state=TrialState.RUNNING), 1) == Decision.CONTINUE  # 2nd of 6
    assert auto.decide(history, _trial(5, {1: 1.5}, state=TrialState.RUNNING), 1) == Decision.STOP  # 3rd of 6


def test_on_curves_that_cross_the_slow_starter_goes_on():
    history, auto = History({"a": "minimize"}), Auto(max_steps=9)
    # The faster at step 1, the worse at the end: ranks at step 1 do not predict (Spearman -1).
    history.upsert([_trial(i, {1: 1.0 + i, 9: 3.0 - 0.4 * i + 0.05 * (-1) ** i}) for i in range(6)])
    late_bloomer = _trial(6, {1: 7.0}, state=TrialState.RUNNING)  # the worst start of all
    assert auto.prob_catches_up(history, late_bloomer, 1, 7.0) > auto.p_stop  # predicted as the worst start
    assert auto.decide(history, late_bloomer, 1) == Decision.CONTINUE


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_diverged_trial_stops(bad: float):
    history = _ordered_study()
    assert Auto(max_steps=9).decide(history, _trial(6, {1: bad}, state=TrialState.RUNNING), 1) == Decision.STOP


def test_two_objectives_rank_by_non_dominated_sorting():
    history, auto = History({"a": "minimize", "b": "minimize"}), Auto(max_steps=9)
    history.upsert([_trial(i, {1: v}, state=TrialState.PRUNED) for i, v in enumerate([(1, 5), (5, 1), (6, 6)])])
    assert auto.decide(history, _trial(3, {1: (7.0, 7.0)}, state=TrialState.RUNNING), 1) == Decision.STOP
    assert auto.decide(history, _trial(3, {1: (0.5, 0.5)}, state=TrialState.RUNNING), 1) == Decision.CONTINUE


def test_without_max_steps_the_final_step_is_the_one_completed_trials_reached():
    history, auto = _ordered_study(), Auto()
    assert auto.final_step(history) == 9 and auto.decision_steps(9) == [1, 3]
    assert auto.decide(history, _trial(24, {1: 4.5}, state=TrialState.RUNNING), 1) == Decision.STOP
    assert Auto().final_step(History({"a": "minimize"})) is None  # nothing completed: only divergence stops
    fresh = History({"a": "minimize"})
    assert Auto().decide(fresh, _trial(0, {1: 99.0}, state=TrialState.RUNNING), 1) == Decision.CONTINUE


def test_auto_is_a_scheduler_spec_with_checked_options():
    assert repr(make_scheduler({"name": "auto", "max_steps": 20})) == "Auto(max_steps=20, p_stop=0.05)"
    assert Auto(max_steps=100).decision_steps() == [1, 3, 9, 27, 81]
    with pytest.raises(itero.ConfigError, match="auto option 'p_stop'"):
        make_scheduler({"name": "auto", "p_stop": 2})
