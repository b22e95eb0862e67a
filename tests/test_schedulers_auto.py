"""The ``auto`` scheduler's three rules on hand-built studies: divergence, the curve model's verdict against the
leader, the best-third screen only where early ranks predict final ones; several objectives; no max_steps."""

from __future__ import annotations

import math

import pytest

import itero
from itero.schedulers import Auto, Decision, Suggestion, make_scheduler
from itero.trial import FrozenTrial, History, TrialState


def _trial(number: int, losses: dict[int, float | tuple[float, float]], state=TrialState.COMPLETE) -> FrozenTrial:
    reports = {s: (dict(zip("ab", v, strict=True)) if isinstance(v, tuple) else {"a": v}) for s, v in losses.items()}
    last = reports[max(reports)]
    return FrozenTrial(id=number + 1, number=number, state=state, reports=reports, step=max(reports), metrics=last)


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


def test_a_trial_as_promising_as_a_new_one_goes_on_however_many_trials_completed():
    # 24 complete trials whose step-1 values say little about their final ones. A trial with an average step-1
    # value has about the chance of a new trial to end best: 1 / 25. Against the best trial as the bar it would
    # be stopped (below 5%), and so would every new trial after it, so that none completes again; against the
    # 2nd best (k = ceil(5% of 25)) it goes on, with the odds of a new trial.
    history, auto = History({"a": "minimize"}), Auto(max_steps=9)
    noise = [0.04, 0.01, 0.09, 0.3, -0.3, 0.14, -0.22, 0.27, -0.09, -0.07, 0.17, -0.14]
    noise += [-0.27, -0.04, -0.25, -0.01, 0.22, 0.12, 0.07, -0.2, -0.12, -0.17, 0.25, 0.2]
    history.upsert([_trial(i, {1: 2.0 + i / 10, 3: 1.5 + i / 20, 9: 1.0 + i / 100 + noise[i]}) for i in range(24)])
    average = _trial(24, {1: 3.1}, state=TrialState.RUNNING)
    assert auto.prob_catches_up(history, average, 1, 3.1) == pytest.approx(3 / 25)
    assert auto.decide(history, average, 1) == Decision.CONTINUE


def test_a_handful_of_curves_never_stops_a_trial_by_the_model():
    history, auto = History({"a": "minimize"}), Auto(max_steps=9)
    history.upsert([_trial(i, {1: 1.0 + i, 9: 0.5 + 0.5 * i}) for i in range(6)])
    p = auto.prob_catches_up(history, _trial(6, {1: 40.0}), 1, 40.0)
    assert p == pytest.approx(1 / 7) and p > auto.p_stop  # it takes 19 curves to say less than 5%


def test_before_enough_trials_complete_a_trial_is_judged_against_the_best_completed_ones_path():
    history, auto = History({"a": "minimize"}), Auto(max_steps=27)
    # Two complete trials, and 30 screened ones stopped at step 9: their best value there (0.8) is one no
    # completed trial had. Ranks hold (step 9 = step 1 - 0.7, a little noise).
    history.upsert([_trial(i, {1: 2.0 + i / 10, 3: 1.6 + i / 10, 9: 1.3 + i / 10, 27: 1.0 + i / 10}) for i in range(2)])
    noise = [0.01, -0.01, 0.0]
    history.upsert(
        [
            _trial(2 + i, {1: 1.5 + i / 20, 3: 1.1 + i / 20, 9: 0.8 + i / 20 + noise[i % 3]}, state=TrialState.PRUNED)
            for i in range(30)
        ]
    )
    like_the_best = _trial(32, {1: 2.0}, state=TrialState.RUNNING)
    # Predicted 1.3 at step 9, as the best completed trial had there: about even odds, not the odds of beating
    # the best of 30 screened trials (none, which would stop every new trial and let none complete).
    assert 0.2 < auto.prob_catches_up(history, like_the_best, 1, 2.0) < 0.8
    hopeless = _trial(32, {1: 3.5}, state=TrialState.RUNNING)
    assert auto.prob_catches_up(history, hopeless, 1, 3.5) < auto.p_stop


def test_before_any_trial_finishes_the_best_third_of_a_step_goes_on():
    history, auto = History({"a": "minimize"}), Auto(max_steps=9)
    history.upsert([_trial(i, {1: float(i)}, state=TrialState.PRUNED) for i in range(5)])
    assert auto.prob_catches_up(history, _trial(5, {1: 9.0}), 1, 9.0) is None  # no curve reached a later step
    first, third = _trial(5, {1: 0.5}, state=TrialState.RUNNING), _trial(5, {1: 1.5}, state=TrialState.RUNNING)
    assert auto.decide(history, first, 1) == Decision.CONTINUE  # 2nd of 6
    assert auto.decide(history, third, 1) == Decision.STOP  # 3rd of 6
    assert Auto(max_steps=9, freeze_thaw=True).decide(history, third, 1) == Decision.PAUSE  # kept for later
    assert Auto(max_steps=9, freeze_thaw=True).decide(history, third, 1, can_pause=False) == Decision.STOP


def test_on_curves_that_cross_the_slow_starter_goes_on():
    history, auto = History({"a": "minimize"}), Auto(max_steps=9)
    # The faster at step 1, the worse at the end: ranks at step 1 do not predict (Spearman -1).
    history.upsert([_trial(i, {1: 1.0 + i, 9: 3.0 - 0.4 * i + 0.05 * (-1) ** i}) for i in range(6)])
    late_bloomer = _trial(6, {1: 7.0}, state=TrialState.RUNNING)  # the worst start of all
    assert auto.prob_catches_up(history, late_bloomer, 1, 7.0) > auto.p_stop  # predicted as the worst start
    assert auto.decide(history, late_bloomer, 1) == Decision.CONTINUE


def test_crossing_curves_turn_the_screen_off_before_five_trials_complete():
    history, auto = History({"a": "minimize"}), Auto(max_steps=27)
    # Four complete trials, and ten that the screen let reach step 9 before stopping them there: the faster at
    # step 1, the worse at step 9. Had the screen waited for five complete trials to measure that, it would have
    # kept stopping the slow starters, and only fast starters would have reached step 27, to be stopped there.
    history.upsert([_trial(i, {1: 5.0 + i, 3: 4.0, 9: 3.0 - 0.2 * i, 27: 2.0 - 0.2 * i}) for i in range(4)])
    history.upsert([_trial(4 + i, {1: 1.0 + i, 3: 3.0, 9: 6.0 - 0.3 * i}, state=TrialState.PRUNED) for i in range(10)])
    slow_starter = _trial(14, {1: 12.0}, state=TrialState.RUNNING)  # the worst step 1 of all
    assert auto.decide(history, slow_starter, 1) == Decision.CONTINUE


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


def _paused(number: int, losses: dict[int, float]) -> FrozenTrial:
    return _trial(number, losses, state=TrialState.PAUSED)


def test_a_free_worker_resumes_the_paused_trial_worth_most_per_step_left():
    history, auto = _ordered_study(), Auto(max_steps=9, freeze_thaw=True)
    # Both may still beat the leader (0.51 at step 9): the one at step 3 by more, with 6 steps to go, not 8.
    near, early = _paused(24, {1: 1.0, 3: 0.72}), _paused(25, {1: 1.02})
    history.upsert([near, early])
    worth_near = auto._worth(history, 9, 3, 0.72)
    worth_early = auto._worth(history, 9, 1, 1.02)
    assert worth_near is not None and worth_early is not None and worth_near > worth_early > 0
    assert auto.next(history) == Suggestion.resume(near.id)
    assert Auto(max_steps=9).next(history) == Suggestion.start()  # by default nothing pauses or resumes


def test_paused_trials_that_cannot_improve_leave_the_worker_to_a_new_trial():
    history, auto = _ordered_study(), Auto(max_steps=9, freeze_thaw=True)
    history.upsert([_paused(24, {1: 9.0, 3: 7.0}), _paused(25, {1: 12.0})])  # predicted far behind the leader
    assert auto.next(history) == Suggestion.start()
    # And a running trial that is behind a paused one worth more is paused for it at its decision step.
    history.upsert([_paused(26, {1: 1.0, 3: 0.75})])
    behind = _trial(27, {1: 1.0, 3: 0.82}, state=TrialState.RUNNING)
    assert auto.decide(history, behind, 3) == Decision.PAUSE
    assert auto.decide(history, behind, 3, can_pause=False) == Decision.CONTINUE
    assert Auto(max_steps=9).decide(history, behind, 3) == Decision.CONTINUE


def test_without_checkpoints_or_with_several_objectives_new_trials_start():
    history = History({"a": "minimize", "b": "minimize"})
    history.upsert([_paused(0, {1: (1.0, 1.0)})])
    assert Auto(max_steps=9, freeze_thaw=True).next(history) == Suggestion.start()


def test_the_sampler_can_learn_stopped_trials_at_their_predicted_final_values():
    history = _ordered_study()
    stopped = _trial(24, {1: 1.0, 3: 0.72}, state=TrialState.PRUNED)
    history.upsert([stopped])
    assert Auto(max_steps=9).sampler_view(history) is history  # by default: ranked by how far they got
    view = Auto(max_steps=9, learn_from="prediction").sampler_view(history)
    shown = view.get(stopped.id)
    assert shown is not None and shown.state == TrialState.COMPLETE
    # On the log scale of the model: predicted from 0.72 at step 3 to below the leader's 0.51 at step 9.
    leader = min(view.loss(t) for t in view.completed() if t.id != stopped.id)
    assert math.log(0.4) < view.loss(shown) < leader == pytest.approx(math.log(0.51))
    with pytest.raises(itero.ConfigError, match="learn_from"):
        make_scheduler({"name": "auto", "learn_from": "final"})
