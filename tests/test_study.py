"""The public API contract of DESIGN.md, on both stores."""

from __future__ import annotations

import time

import pytest

import itero
from itero.exceptions import ConfigError, SpaceError
from itero.trial import TrialState


def quadratic(trial: itero.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    return (x - 1) ** 2


def test_optimize_best_and_reload(storage_url, study_name):
    study = itero.create_study(
        study_name, storage=storage_url, objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 3}
    )
    study.optimize(quadratic, n_trials=25, show_progress=False)
    assert len(study.trials) == 25
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    best = study.best_trial
    assert best.metrics["loss"] == min(t.metrics["loss"] for t in study.trials)
    assert study.best_value == best.metrics["loss"] and study.best_params == best.params
    assert study.pareto_front() == [best]
    again = itero.load_study(study_name, storage=storage_url)
    assert again.sampler.seed == 3 and again.best_trial.number == best.number
    totals = again.totals()
    assert totals.trials == totals.finished == 25 and totals.cpu_seconds >= 0


def test_seeded_studies_propose_the_same_values(tmp_path):
    values = []
    for i in range(2):
        study = itero.create_study(
            "s",
            storage=f"sqlite:///{tmp_path}/{i}.db",
            objectives={"loss": "minimize"},
            sampler={"name": "random", "seed": 7},
        )
        study.optimize(quadratic, n_trials=5, show_progress=False)
        values.append([t.params["x"] for t in study.trials])
    assert values[0] == values[1]


def test_failures_are_recorded_and_the_study_goes_on(storage_url, study_name):
    def objective(trial: itero.Trial):
        kind = trial.suggest_categorical("kind", ["ok", "raise", "nan", "str", "missing", "pruned"])
        if kind == "raise":
            raise RuntimeError("boom in training")
        if kind == "nan":
            return float("nan")
        if kind == "str":
            return "not a number"
        if kind == "missing":
            return {"other": 1.0}
        if kind == "pruned":
            raise itero.TrialPruned("too slow")
        return 0.5

    study = itero.create_study(
        study_name, storage=storage_url, objectives={"loss": "minimize"}, sampler=itero.samplers.Grid()
    )
    study.optimize(objective, n_trials=10, show_progress=False)  # the grid ends the study after 6
    by_kind = {t.params["kind"]: t for t in study.trials}
    assert len(study.trials) == 6
    assert by_kind["ok"].state == TrialState.COMPLETE
    assert by_kind["raise"].state == TrialState.FAILED and by_kind["raise"].error == "RuntimeError: boom in training"
    assert by_kind["nan"].state == TrialState.FAILED and "'loss' is nan" in (by_kind["nan"].error or "")
    assert by_kind["str"].state == TrialState.FAILED and "returned str" in (by_kind["str"].error or "")
    assert "'loss' was neither reported nor returned" in (by_kind["missing"].error or "")
    assert by_kind["pruned"].state == TrialState.PRUNED
    assert study.best_trial.params["kind"] == "ok"


def test_steps_reports_and_multi_objective(storage_url, study_name):
    def objective(trial: itero.Trial) -> None:
        width = trial.suggest_int("width", 1, 64, log=True)
        acc = 0.0
        for step in trial.steps(max_steps=4):
            acc = 1 - 1 / (step * width + 1)
            trial.report(step, {"acc": acc, "cost": float(width)})

    study = itero.create_study(
        study_name,
        storage=storage_url,
        scheduler="fifo",
        objectives={"acc": "maximize", "cost": "minimize"},
        sampler={"name": "sobol"},
    )
    study.optimize(objective, n_trials=12, show_progress=False)
    for t in study.trials:
        assert sorted(t.reports) == [1, 2, 3, 4] and t.step == 4 and t.cost.steps == 4
    front = study.pareto_front()
    assert front and all(t.state == TrialState.COMPLETE for t in front)
    widths = sorted({t.params["width"] for t in front})
    assert widths == sorted({t.params["width"] for t in study.trials})  # every width trades acc for cost
    with pytest.raises(ValueError, match=r"no single best trial: use study\.pareto_front"):
        _ = study.best_trial
    assert study.totals().steps == 48


def test_ask_tell_and_range_conflicts(storage_url, study_name):
    study = itero.create_study(study_name, storage=storage_url, objectives={"loss": "minimize"}, sampler="random")
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    assert trial.suggest_float("x", 0, 1) == x  # the same name and range: the same value
    with pytest.raises(SpaceError, match=r"parameter 'x' was already suggested as float\[0.0, 1.0\]"):
        trial.suggest_float("x", 0, 2)
    frozen = study.tell(trial, {"loss": x})
    assert frozen.state == TrialState.COMPLETE and frozen.params == {"x": x}
    t2 = study.ask(fixed={"x": 0.25})
    assert t2.suggest_float("x", 0, 1) == 0.25
    assert study.tell(t2, state="PRUNED").state == TrialState.PRUNED
    with pytest.raises(ValueError, match="was not asked"):
        study.tell(t2, 1.0)


def test_fixed_params_and_space_overrides(tmp_path):
    def objective(trial: itero.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-5, 1.0, log=True)
        opt = trial.suggest_categorical("optimizer", ["sgd", "adam"])
        return lr if opt == "adam" else 2 * lr

    study = itero.create_study(
        "s",
        storage=f"sqlite:///{tmp_path}/s.db",
        objectives={"loss": "minimize"},
        sampler="random",
        params={"optimizer": "adam"},
        space={"lr": {"low": 0.01, "high": 0.02, "log": True}},
    )
    study.optimize(objective, n_trials=10, show_progress=False)
    for t in study.trials:
        assert t.params["optimizer"] == "adam" and 0.01 <= t.params["lr"] <= 0.02
    reloaded = itero.load_study("s", storage=f"sqlite:///{tmp_path}/s.db")
    assert reloaded.params == {"optimizer": "adam"} and reloaded.space["lr"].high == 0.02


def test_step_budget_and_timeout(tmp_path):
    def objective(trial: itero.Trial) -> None:
        x = trial.suggest_float("x", 0, 1)
        for step in trial.steps(max_steps=10):
            trial.report(step, {"loss": x / step})

    study = itero.create_study(
        "s", storage=f"sqlite:///{tmp_path}/s.db", scheduler="fifo", objectives={"loss": "minimize"}, sampler="random"
    )
    study.optimize(objective, max_steps_total=35, show_progress=False)
    assert study.totals().steps == 35  # one worker: no overshoot at all
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.PRUNED]
    assert "budget" in (study.trials[-1].error or "")
    study.optimize(objective, timeout=0.5, show_progress=False)  # ends by itself
    assert len(study.trials) > 4


def test_checkpoints_resume_a_paused_trial(tmp_path):
    """An interrupted trial is resumed by the next run from its checkpoint without redoing steps."""
    seen: list[tuple[int, int | None]] = []

    def objective(trial: itero.Trial) -> None:
        state = trial.restore()
        seen.append((trial.number, None if state is None else state["step"]))
        for step in trial.steps(max_steps=6):
            trial.report(step, {"loss": 1.0 / step}, state=lambda s=step: {"step": s})
            if step == 3 and state is None and trial.number == 0:
                raise KeyboardInterrupt  # simulates Ctrl-C

    url = f"sqlite:///{tmp_path}/s.db"
    study = itero.create_study(
        "s",
        storage=url,
        objectives={"loss": "minimize"},
        sampler="random",
        scheduler={"name": "fifo", "checkpoint_every": 2},
    )
    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=1, show_progress=False)
    t = study.trials[0]
    assert t.state == TrialState.WAITING and t.checkpoint_id is not None  # given back, to be resumed
    # The next run finishes the interrupted trial first (it was counted by the first run), then one new trial.
    study.optimize(objective, n_trials=1, show_progress=False)
    t = study.trials[0]
    assert seen[1:] == [(0, 2), (1, None)] and t.state == TrialState.COMPLETE
    assert [(r.trial_id, r.start_step, r.outcome) for r in study.store.trial_runs(study.id)] == [
        (t.id, 0, "INTERRUPTED"),
        (t.id, 2, "COMPLETE"),
        (study.trials[1].id, 0, "COMPLETE"),
    ]
    assert t.cost.steps == 3 + 4


def test_bad_arguments_name_the_parameter(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    with pytest.raises(ConfigError, match=r"objectives.acc: got 'best'; expected 'maximize' or 'minimize'"):
        itero.create_study("s", storage=url, objectives={"acc": "best"})
    with pytest.raises(ConfigError, match=r"sampler.name: unknown sampler 'tpee'"):
        itero.create_study("s", storage=url, sampler="tpee")
    study = itero.create_study("s", storage=url, sampler="random")
    with pytest.raises(ConfigError, match="n_trials must be an integer >= 0"):
        study.optimize(quadratic, n_trials=-1)
    with pytest.raises(ConfigError, match="n_jobs must be an integer >= 1"):
        study.optimize(quadratic, n_trials=1, n_jobs=0)
    with pytest.raises(ConfigError, match="exists with objectives"):
        itero.create_study("s", storage=url, objectives={"acc": "maximize"}, load_if_exists=True)
    memory = itero.create_study("m", storage="sqlite://", sampler="random")
    with pytest.raises(ConfigError, match="n_jobs=2 needs a store the worker processes can share"):
        memory.optimize(quadratic, n_trials=2, n_jobs=2)
    with pytest.raises(ConfigError, match=r"sampler.gamma: .* cannot be stored"):
        itero.create_study("j", storage=url, sampler=itero.samplers.TPE(gamma=lambda n: 1))


def test_progress_bar_shows_trials_best_and_steps(tmp_path, capsys):
    study = itero.create_study(
        "s", storage=f"sqlite:///{tmp_path}/s.db", objectives={"loss": "minimize"}, sampler="random"
    )
    study.optimize(quadratic, n_trials=5, show_progress=True)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "5 trials" in text and "0 steps" in text and "best loss=" in text, text


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_fixed_or_ranged_name_the_objective_never_suggests_stops_the_study(tmp_path, n_jobs):
    study = itero.create_study(
        "names", storage=f"sqlite:///{tmp_path}/n.db", params={"widht": 3}, space={"x": {"low": 0.0, "high": 0.5}}
    )

    def objective(trial: itero.Trial) -> float:
        time.sleep(0.1)  # worker processes are checked on the parent's poll, every 0.2 s
        return trial.suggest_float("x", 0.0, 1.0) + trial.suggest_int("width", 1, 4)

    with pytest.raises(itero.ConfigError, match=r"params.widht: the objective never suggests 'widht' \(did you mean"):
        study.optimize(objective, n_trials=20, n_jobs=n_jobs, show_progress=False)
    assert 1 <= len(study.trials) < 20 and all(t.state != itero.TrialState.RUNNING for t in study.trials)


def test_silent_mistakes_are_refused_with_the_fix(tmp_path):
    study = itero.create_study("kinds", storage="sqlite://", scheduler="fifo")

    def kinds(trial: itero.Trial) -> float:
        return trial.suggest_float("x", 0, 1) if trial.number == 0 else trial.suggest_int("x", 0, 10)

    study.optimize(kinds, n_trials=2, show_progress=False)
    second = study.trials[1]
    assert second.state == TrialState.FAILED and "suggested as an int here but was a float in trial 0" in second.error

    def backwards(trial: itero.Trial) -> float:
        x = trial.suggest_float("y", 0, 1)
        for step in (5, 3):
            trial.report(step, {"value": x})
        return x

    study = itero.create_study("steps", storage="sqlite://", scheduler="fifo")
    study.optimize(backwards, n_trials=1, show_progress=False)
    assert "reported step 3 after step 5: steps must increase" in study.trials[0].error
    with pytest.raises(ConfigError, match="printable characters"):
        itero.create_study("two\nlines", storage="sqlite://")
    with pytest.raises(itero.StudyNotFoundError, match="no database at"):
        itero.load_study("nope", storage=f"sqlite:///{tmp_path}/absent.db")
    assert [p.name for p in tmp_path.iterdir()] == ["artifacts"]  # reading created nothing (ITERO_ARTIFACTS: runs)
    assert not list((tmp_path / "artifacts").iterdir())


def test_a_trial_given_back_without_checkpoint_restarts_from_scratch_and_says_so(tmp_path, caplog):
    study = itero.create_study("back", storage=f"sqlite:///{tmp_path}/b.db", scheduler="fifo")
    asked = study.ask()
    x = asked.suggest_float("x", 0.0, 1.0)  # stored at once
    assert study.store.release_trials(study.id, worker_id=study._ask_host.worker_id) == [0]  # numbers, not ids

    def objective(trial: itero.Trial) -> float:
        return trial.suggest_float("x", 0.0, 1.0)

    with caplog.at_level("INFO", logger="itero"):
        study.optimize(objective, n_trials=1, show_progress=False)
    first = study.trials[0]
    assert first.state == TrialState.COMPLETE and first.params == {"x": x} and first.retries == 1
    assert "Trial 0: restarting from scratch (attempt 2; no checkpoint from its last run)" in caplog.text
