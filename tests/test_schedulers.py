"""Schedulers: promotion rules on synthetic learning curves against hand-computed runs, PBT's exploit and
explore with lineage, multi-objective rungs, and a conformance suite every scheduler must pass on both stores."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import itero
from itero.exceptions import ConfigError
from itero.schedulers import (
    ASHA,
    BOHB,
    PBT,
    SCHEDULERS,
    Decision,
    Hyperband,
    MedianStopping,
    SuccessiveHalving,
    make_scheduler,
)
from itero.space import CategoricalDistribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History, TrialState

# Trial number -> final loss of its learning curve (lower is better); loss(step) = q + 1 / step never crosses.
QUALITY = [5, 3, 8, 1, 7, 2, 6, 4, 0]


def curves(with_state: bool):
    def objective(trial: itero.Trial) -> None:
        trial.suggest_float("x", 0, 1)
        q = QUALITY[trial.number]
        state = trial.restore()
        if trial.start_step:
            assert state == {"step": trial.start_step}  # resumed from its own checkpoint, nothing redone
        for step in trial.steps(max_steps=9):
            trial.report(step, {"loss": q + 1 / step}, state={"step": step} if with_state else None)

    return objective


def run(scheduler: Any, with_state: bool, tmp_path, n_trials: int = 9) -> dict[int, tuple[str, int]]:
    study = itero.create_study(
        "s", storage=f"sqlite:///{tmp_path}/s.db", objectives={"loss": "minimize"}, sampler="random",
        scheduler=scheduler,
    )  # fmt: skip
    study.optimize(curves(with_state), n_trials=n_trials, show_progress=False)
    return {t.number: (t.state.value, t.step) for t in study.trials}


def test_asha_promotes_paused_trials_as_computed_by_hand(tmp_path):
    # rungs 1 and 3 below 9 steps, eta 3 (worked through step by step in the closing note):
    # trials 1, 3 and 5 are promoted from rung 1; 3 then 8 from rung 3; 8 continues in place throughout.
    got = run(ASHA(max_steps=9, eta=3), True, tmp_path)
    assert got == {
        0: ("PAUSED", 1),
        1: ("PAUSED", 3),
        2: ("PAUSED", 1),
        3: ("COMPLETE", 9),
        4: ("PAUSED", 1),
        5: ("PAUSED", 3),
        6: ("PAUSED", 1),
        7: ("PAUSED", 1),
        8: ("COMPLETE", 9),
    }


def test_a_resumed_trial_does_not_cross_its_rungs_again(tmp_path):
    """A promoted trial whose first report after resuming looks bad is not paused there: it passed that rung
    already. (Resumed runs once forgot their earlier reports and paused at every later step.)"""

    def objective(trial: itero.Trial) -> None:
        trial.suggest_float("x", 0, 1)
        q = QUALITY[trial.number]
        trial.restore()
        for step in trial.steps(max_steps=9):
            spike = 10 if step in (2, 4) else 0  # a bad epoch right after each rung
            trial.report(step, {"loss": q + 1 / step + spike}, state={"step": step})

    study = itero.create_study(
        "s", storage=f"sqlite:///{tmp_path}/s.db", objectives={"loss": "minimize"}, sampler="random",
        scheduler=ASHA(max_steps=9, eta=3),
    )  # fmt: skip
    study.optimize(objective, n_trials=9, show_progress=False)
    runs = study.store.trial_runs(study.id)
    assert {r.end_step for r in runs if r.outcome == "PAUSED"} <= {1, 3}
    assert any(r.start_step == 3 for r in runs)  # some trial was promoted past rung 3
    assert {t.state for t in study.trials} >= {TrialState.COMPLETE}


def test_asha_without_state_stops_or_continues_in_place(tmp_path):
    got = run(ASHA(max_steps=9, eta=3), False, tmp_path)
    assert {n for n, (s, _) in got.items() if s == "COMPLETE"} == {0, 1, 3, 5, 8}
    assert {n: got[n] for n in (2, 4, 6, 7)} == {n: ("PRUNED", 1) for n in (2, 4, 6, 7)}


def test_synchronous_successive_halving_waits_for_complete_rungs(tmp_path):
    got = run(SuccessiveHalving(max_steps=9, eta=3), True, tmp_path)
    assert got[8] == ("COMPLETE", 9)
    assert {n: got[n] for n in (3, 5)} == {3: ("PRUNED", 3), 5: ("PRUNED", 3)}  # promoted once, then cut
    assert all(got[n] == ("PRUNED", 1) for n in (0, 1, 2, 4, 6, 7))


def test_paused_trials_resume_in_a_later_optimize_and_stopped_ones_lose_their_checkpoint(tmp_path):
    study = itero.create_study(
        "s", storage=f"sqlite:///{tmp_path}/s.db", objectives={"loss": "minimize"},
        sampler={"name": "random", "seed": 0}, scheduler=ASHA(max_steps=9, eta=3),
    )  # fmt: skip
    study.optimize(curves(True), max_steps_total=3, show_progress=False)  # three trials, one step each
    assert [t.state for t in study.trials].count(TrialState.PAUSED) == 3
    assert study.totals().checkpoint_bytes > 0
    study.optimize(curves(True), n_trials=1, show_progress=False)  # trial 1 (best of rung 1) is promoted first
    assert study.trials[1].step >= 3 and study.trials[1].cost.runs >= 2


def test_hyperband_brackets_follow_the_bracket_sizes():
    hb = Hyperband(max_steps=27, min_steps=1, eta=3)
    assert [hb.rungs(b) for b in hb.brackets()] == [[1, 3, 9], [3, 9], [9], []]
    cycle = [hb.bracket_of(FrozenTrial(id=i, number=i, state=TrialState.RUNNING)) for i in range(49)]
    assert [cycle.count(b) for b in range(4)] == [27, 12, 6, 4]  # n_s = ceil((s_max+1)/(s+1) eta^s)
    assert cycle[:4] != [0, 0, 0, 0] or len(set(cycle[:8])) > 1  # interleaved, not in blocks


def _trial(number: int, losses: dict[int, float] | dict[int, tuple[float, float]], state=TrialState.PAUSED, **kw):
    names = ("a", "b")
    reports = {}
    for s, v in losses.items():
        reports[s] = dict(zip(names, v, strict=False)) if isinstance(v, tuple) else {"a": v}
    step = max(reports) if reports else 0
    return FrozenTrial(id=number + 1, number=number, state=state, reports=reports, step=step, **kw)


def test_asha_ranks_two_objectives_by_non_dominated_sorting():
    history = History({"a": "minimize", "b": "minimize"})
    # Rung 1: (1,5) and (5,1) are non-dominated, (4,4) too; (6,6) and (7,7) are dominated.
    trials = [_trial(i, {1: v}) for i, v in enumerate([(1, 5), (6, 6), (5, 1), (7, 7), (4, 4), (8, 8)])]
    history.upsert(trials)
    asha = ASHA(max_steps=9, eta=3)
    # 6 trials at rung 1: the top 2 are promoted: extremes of the first front (infinite crowding distance).
    first = asha.next(history)
    assert first.action == "resume" and first.trial_id in {trials[0].id, trials[2].id}
    dominated = _trial(5, {1: (8, 8)}, state=TrialState.RUNNING)
    assert asha.decide(history, dominated, 1) == Decision.PAUSE
    front = _trial(5, {1: (0.5, 0.5)}, state=TrialState.RUNNING)
    assert asha.decide(history, front, 1) == Decision.CONTINUE


def test_median_stopping_compares_with_finished_trials_at_the_same_step():
    history = History({"a": "minimize"})
    history.upsert([_trial(i, {1: 10.0 - i, 2: 9.0 - i}, state=TrialState.COMPLETE) for i in range(5)])
    median = MedianStopping(warmup_steps=2, min_trials=5)
    # median of best-so-far at step 2: values 9,8,7,6,5 -> 7
    assert median.decide(history, _trial(9, {1: 9.0, 2: 8.0}, TrialState.RUNNING), 2) == Decision.STOP
    assert median.decide(history, _trial(9, {1: 9.0, 2: 6.5}, TrialState.RUNNING), 2) == Decision.CONTINUE
    assert median.decide(history, _trial(9, {1: 99.0}, TrialState.RUNNING), 1) == Decision.CONTINUE  # warm-up
    with pytest.raises(ConfigError, match="handles one objective"):
        median.check_objectives({"a": "minimize", "b": "maximize"})


def pbt_objective(trial: itero.Trial) -> None:
    lr = trial.suggest_float("lr", 0.01, 1.0, log=True)
    width = trial.suggest_int("width", 8, 64)
    state = trial.restore()
    w = 0.0 if state is None else state["w"]
    if state is not None and trial.start_step:
        trial.set_user_attr(f"restored_at_{trial.start_step}", state["owner"])
    for step in trial.steps(max_steps=12):
        w += lr  # larger lr learns faster: loss = 1 / (1 + w)
        trial.report(step, {"loss": 1.0 / (1.0 + w)}, state=lambda w=w: {"w": w, "owner": trial.number})
    assert width >= 8


def test_pbt_exploits_top_members_and_records_the_lineage(tmp_path):
    study = itero.create_study(
        "pbt", storage=f"sqlite:///{tmp_path}/s.db", objectives={"loss": "minimize"},
        sampler={"name": "random", "seed": 1}, scheduler=PBT(max_steps=12, interval=3, population=4, quantile=0.25, generations=1),
    )  # fmt: skip
    study.optimize(pbt_objective, show_progress=False)
    trials = study.trials
    clones = [t for t in trials if t.parent_id is not None]
    assert clones, "the bottom member should have been replaced at least once"
    by_id = {t.id: t for t in trials}
    for c in clones:
        donor = by_id[c.parent_id]
        replaced = next(t for t in trials if t.number == c.system_attrs["replaces"])
        assert replaced.state == TrialState.PRUNED and "replaced by a clone" in (replaced.error or "")
        assert c.user_attrs[f"restored_at_{c.system_attrs['from_step']}"] == donor.number  # the donor's weights
        assert c.params["width"] == donor.params["width"]  # shape parameters are copied
        assert 0.01 <= c.params["lr"] <= 1.0
        assert c.params["lr"] != donor.params["lr"] or donor.params["lr"] in (0.01, 1.0)  # explored (or clipped)
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(finished) == 4 and all(t.step == 12 for t in finished)  # the population keeps its size
    # `itero show` prints the lineage: donor, step of its checkpoint, the member replaced.
    from typer.testing import CliRunner

    from itero.cli import app

    url = f"sqlite:///{tmp_path}/s.db"
    shown = CliRunner().invoke(app, ["show", "pbt", "--storage", url, "--limit", "100"], env={"COLUMNS": "300"})
    c = clones[0]
    expected = f"#{by_id[c.parent_id].number} @{c.system_attrs['from_step']} (replaces #{c.system_attrs['replaces']})"
    assert shown.exit_code == 0 and "cloned from" in shown.stdout
    assert expected in shown.stdout
    # Only paused or running members can be resumed or cloned: every other checkpoint was collected.
    assert len(study.store.checkpoint_digests(study.id)) == 1  # but the best trial's last one
    assert study.restore()["owner"] == study.best_trial.number


def test_pbt_starts_new_generations_until_the_budget_is_spent(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    spec = {"name": "pbt", "max_steps": 12, "interval": 3, "population": 4}
    common = {"storage": url, "objectives": {"loss": "minimize"}, "sampler": {"name": "random", "seed": 1}}
    study = itero.create_study("budget", scheduler=spec, **common)
    study.optimize(pbt_objective, max_steps_total=150, show_progress=False)
    assert study.totals().steps == 150  # one population is 48 steps and a few clones: the budget is all used
    fresh = [t for t in study.trials if t.parent_id is None]
    assert len(fresh) > 8  # three generations and more
    once = itero.create_study("once", scheduler={**spec, "generations": 1}, **common)
    once.optimize(pbt_objective, max_steps_total=150, show_progress=False)
    assert len([t for t in once.trials if t.parent_id is None]) == 4 and once.totals().steps < 150
    assert repr(once.scheduler).endswith("generations=1)")


def test_pbt_explore_perturbs_floats_and_keeps_shapes():
    donor = FrozenTrial(
        id=1, number=0, state=TrialState.PAUSED,
        params={"lr": 0.1, "width": 32, "opt": "adam"},
        distributions={"lr": FloatDistribution(1e-3, 1.0, log=True), "width": IntDistribution(8, 64),
                       "opt": CategoricalDistribution(("sgd", "adam"))},
    )  # fmt: skip
    pbt = PBT(resample_probability=0.0, perturb=[0.5, 2.0])
    for seed in range(5):
        new = pbt.explore(donor, np.random.default_rng(seed))
        assert new["lr"] in (pytest.approx(0.05), pytest.approx(0.2)) and new["width"] == 32 and new["opt"] == "adam"
    wide = PBT(resample_probability=0.0, hyperparams=["width", "opt"])
    new = wide.explore(donor, np.random.default_rng(0))
    assert new["lr"] == 0.1 and new["width"] != 32 and new["opt"] in ("sgd", "adam")


def test_pbt_without_state_says_what_to_do(tmp_path):
    def stateless(trial: itero.Trial) -> None:
        x = trial.suggest_float("x", 0, 1)
        for step in trial.steps(max_steps=4):
            trial.report(step, {"loss": x / step})

    study = itero.create_study(
        "s", storage=f"sqlite:///{tmp_path}/s.db", sampler="random", scheduler={"name": "pbt", "interval": 2}
    )
    study.optimize(stateless, n_trials=2, show_progress=False)
    assert all(t.state == TrialState.FAILED and "pass state=" in (t.error or "") for t in study.trials)


def test_bohb_fits_the_sampler_on_the_highest_rung_with_enough_points():
    history = History({"a": "minimize"})
    history.upsert([_trial(i, {1: float(i), 3: float(i) / 2}, state=TrialState.PAUSED) for i in range(8)])
    history.upsert([_trial(8, {1: 0.5}, state=TrialState.RUNNING)])
    bohb = BOHB(max_steps=9, eta=3, min_points=6)
    assert bohb.model_step(history) == 3
    view = bohb.sampler_view(history)
    assert [t.state for t in view.trials][:8] == [TrialState.COMPLETE] * 8
    assert view.trials[3].metrics == {"a": 1.5} and view.trials[8].state == TrialState.RUNNING
    assert bohb.sampler_view(history) is view  # cached until the study changes


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "asha", "eta": 1}, "asha option 'eta' must be an integer >= 2"),
        ({"name": "asha", "min_steps": 10, "max_steps": 5}, "'min_steps' (10) is above 'max_steps' (5)"),
        ({"name": "sh"}, "sh needs 'max_steps' or 'bracket_size'"),
        ({"name": "pbt", "quantile": 0.7}, "pbt option 'quantile' must be a number in (0.0, 0.5]"),
        ({"name": "pbt", "hyperparams": "lr"}, "pbt option 'hyperparams' must be a list"),
        ({"name": "hyperband", "max_steps": None}, "hyperband option 'max_steps' must be an integer >= 1"),
    ],
)
def test_bad_scheduler_options_name_the_option(spec: dict[str, Any], message: str):
    with pytest.raises(ConfigError) as err:
        make_scheduler(spec)
    assert message in str(err.value)


# ------------------------------------------------------------------------------------------ conformance
CONFORMANCE = {
    "fifo": {"max_steps": 9},
    "median": {"max_steps": 9, "min_trials": 2},
    "sh": {"max_steps": 9, "bracket_size": 4},
    "asha": {"max_steps": 9},
    "hyperband": {"max_steps": 9},
    "bohb": {"max_steps": 9, "min_points": 3},
    "pbt": {"max_steps": 9, "interval": 3, "population": 3},
    "auto": {"max_steps": 9},
    "auto+freeze-thaw": {"max_steps": 9, "freeze_thaw": True},  # a variant: name+label
    "auto+prediction": {"max_steps": 9, "learn_from": "prediction"},
}


def test_every_scheduler_is_in_the_conformance_suite():
    assert {key.split("+")[0] for key in CONFORMANCE} == set(SCHEDULERS)


def noisy_curves(trial: itero.Trial) -> None:
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_int("units", 1, 4)
    state = trial.restore()
    done = 0 if state is None else state["done"]
    assert done == trial.start_step, "a resumed trial starts right after its checkpoint"
    for step in trial.steps(max_steps=9):
        done += 1
        trial.report(step, {"loss": (x - 0.3) ** 2 + 1.0 / step}, state=lambda d=done: {"done": d})


@pytest.mark.parametrize("name", sorted(CONFORMANCE))
def test_scheduler_conformance(name: str, storage_url: str, study_name: str):
    """Every scheduler: a study with two workers ends by itself within its budget, every trial is accounted
    for, steps are never repeated, and the same scheduler is rebuilt from the store."""
    spec = {"name": name.split("+")[0], **CONFORMANCE[name]}
    study = itero.create_study(
        study_name, storage=storage_url, objectives={"loss": "minimize"}, sampler={"name": "tpe", "seed": 0},
        scheduler=spec,
    )  # fmt: skip
    study.optimize(noisy_curves, n_trials=12, max_steps_total=60, n_jobs=2, show_progress=False)
    trials = study.trials
    totals = study.totals()
    assert totals.steps <= 60
    assert sum(t.cost.steps for t in trials) == totals.steps
    assert all(t.state != TrialState.RUNNING for t in trials)
    assert all(t.state != TrialState.FAILED for t in trials), [t.error for t in trials if t.error]
    for t in trials:
        assert t.step <= 9
        # A clone starts at its donor's step (and may get none before the budget ends).
        start = 0 if t.parent_id is None else int(t.system_attrs.get("from_step", min(t.reports, default=1) - 1))
        assert t.cost.steps == t.step - start, "no step was run twice"
    assert any(t.state == TrialState.COMPLETE for t in trials)
    again = itero.load_study(study_name, storage=storage_url)
    assert repr(again.scheduler) == repr(study.scheduler)
    if not math.isinf(totals.steps):
        assert totals.wall_seconds > 0 and totals.cpu_seconds > 0


def test_shared_weights_start_a_new_trial_from_a_matching_checkpoint(tmp_path):
    def objective(trial: itero.Trial) -> None:
        width = trial.suggest_int("width", 8, 16)
        x = trial.suggest_float("x", 0.0, 1.0)
        state = trial.restore()
        trained = 0 if state is None else state["trained"]
        if state is not None and trial.parent_id is not None:
            trial.set_user_attr(f"from_{trial.start_step}", state["owner"])
        for step in trial.steps(max_steps=9):
            trained += 1
            trial.report(
                step, {"loss": x + 1 / (trained + width)}, state=lambda t=trained: {"trained": t, "owner": trial.number}
            )

    url = f"sqlite:///{tmp_path}/s.db"
    common = {"objectives": {"loss": "minimize"}, "sampler": {"name": "random", "seed": 0}, "params": {"width": 8}}
    shared = itero.create_study("on", storage=url, scheduler=ASHA(max_steps=9), share_weights=["width"], **common)
    shared.optimize(objective, n_trials=6, show_progress=False)
    warm = [t for t in shared.trials if t.parent_id is not None]
    assert warm, "later trials should start from a paused trial's checkpoint"
    for t in warm:
        donor = next(d for d in shared.trials if d.id == t.parent_id)
        assert t.system_attrs["shared_from"] == donor.number
        assert t.user_attrs[f"from_{t.system_attrs['from_step']}"] == donor.number  # the donor's weights
        assert t.cost.steps == t.step - t.system_attrs["from_step"]  # the donor's steps are not run again
    plain = itero.create_study("off", storage=url, scheduler=ASHA(max_steps=9), **common)
    plain.optimize(objective, n_trials=6, show_progress=False)
    assert all(t.parent_id is None for t in plain.trials)
    assert itero.load_study("on", storage=url).share_weights == ("width",)
    with pytest.raises(ConfigError, match="share_weights: expected a list of parameter names"):
        itero.create_study("bad", storage=url, share_weights="width")


def test_a_rung_whose_ranking_does_not_predict_the_end_stops_being_used():
    history = History({"a": "minimize"})
    # Five trials ran to the end (9 steps): the faster at rung 1, the worse at the end (curves cross).
    history.upsert([_trial(i, {1: float(i), 3: 5.0, 9: 10.0 - i}, state=TrialState.COMPLETE) for i in range(5)])
    history.upsert([_trial(i, {1: 0.5 + i}, state=TrialState.PAUSED) for i in range(5, 8)])
    late_bloomer = _trial(8, {1: 99.0}, state=TrialState.RUNNING)
    checked, blind = ASHA(max_steps=9, eta=3), ASHA(max_steps=9, eta=3, rank_check=False)
    assert not checked.is_reliable(history, 1) and checked.is_reliable(history, 3)  # constant rung 3: no evidence
    assert checked.decide(history, late_bloomer, 1) == Decision.CONTINUE
    assert blind.decide(history, late_bloomer, 1) == Decision.PAUSE
    assert checked.next(history).action == "resume"  # paused trials of an unreliable rung are resumed
    # With the curves in order the rung is used as usual.
    ordered = History({"a": "minimize"})
    ordered.upsert([_trial(i, {1: float(i), 9: float(i) / 10}, state=TrialState.COMPLETE) for i in range(5)])
    assert ASHA(max_steps=9).is_reliable(ordered, 1)
    assert ASHA(max_steps=9).decide(ordered, late_bloomer, 1) == Decision.PAUSE


def test_when_no_new_trial_may_start_asha_finishes_the_most_promising_paused_trial(tmp_path):
    study = itero.create_study(
        "finish", storage=f"sqlite:///{tmp_path}/f.db", objectives={"loss": "minimize"},
        sampler={"name": "random", "seed": 3}, scheduler={"name": "asha", "max_steps": 9, "min_steps": 1, "eta": 3},
    )  # fmt: skip
    study.optimize(noisy_curves, n_trials=4, show_progress=False)
    trials = study.trials
    assert len(trials) == 4  # the trial budget holds: nothing new started
    # Rungs 1, 3, 9: floor(4/3) = 1 reaches step 3, where floor(1/3) = 0 would leave it paused for good.
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 1 and complete[0].step == 9
    best_at_1 = min(trials, key=lambda t: t.reports[1]["loss"])
    assert complete[0].id == best_at_1.id
    assert sum(t.state == TrialState.PAUSED for t in trials) == 3  # the others stay paused: not worth it
