"""The built-in tasks recorded by the replay benchmark: each runs through a real study, resumes exactly, and
behaves as its description says (curves cross, high rates diverge, two objectives)."""

from __future__ import annotations

import math
from typing import Any

import pytest

import itero
from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.tasks import TASKS, get_task

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

# Cheap corners of each space (fixed through create_study(params=...)); the sampler draws the rest.
SMALL: dict[str, dict[str, Any]] = {
    "digits-cnn": {"channels": 4, "kernel_size": 3, "batch_size": 256, "optimizer": "adam", "lr": 3e-3},
    "char-lm": {"context": 4, "embedding": 8, "width": 32, "batch_size": 256, "lr": 3e-3},
    "schedule-mlp": {"width": 32, "batch_size": 128},
    "diverge-mlp": {"width": 16, "depth": 1, "batch_size": 128, "lr": 0.01, "momentum": 0.9},
    "digits-aug-mlp": {"width": 16, "depth": 1, "batch_size": 256},
    "friedman-mlp": {"width": 16, "depth": 1, "batch_size": 256},
}


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared; one thread is also what the recorder uses
    yield
    torch.set_num_threads(threads)


NEW = ["digits-cnn", "char-lm", "schedule-mlp", "diverge-mlp", "digits-aug-mlp"]


class SpaceTrial:
    """Records the distributions a space function suggests; returns each one's middle value."""

    def __init__(self) -> None:
        self.space: dict[str, Distribution] = {}

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        self.space[name] = dist = FloatDistribution(low, high, log=log)
        return dist.from_unit(0.5)

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        self.space[name] = dist = IntDistribution(low, high, log=log)
        return dist.from_unit(0.5)

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        self.space[name] = CategoricalDistribution(tuple(choices))
        return self.space[name].from_unit(0.5)


def _space(task: str) -> dict[str, Distribution]:
    trial = SpaceTrial()
    get_task(task).suggest()(trial)
    return trial.space


@pytest.mark.parametrize("task", [*NEW, "friedman-mlp"])
def test_replay_task_space_and_steps(task: str) -> None:
    t = get_task(task)
    space = _space(task)
    assert len(space) >= 4 and t.max_steps >= 20
    kinds = {type(d) for d in space.values()}
    assert kinds == {FloatDistribution, IntDistribution, CategoricalDistribution}, kinds
    assert any(isinstance(d, FloatDistribution) and d.log for d in space.values())
    assert t.description and t.run and t.space


def test_mlp_space_is_shared_by_two_datasets() -> None:
    assert _space("friedman-mlp") == _space("digits-aug-mlp")
    assert get_task("friedman-mlp").space == get_task("digits-aug-mlp").space


@pytest.mark.parametrize("task", NEW)
def test_replay_task_runs_in_a_study(task: str) -> None:
    t = get_task(task)
    study = itero.create_study(
        task, storage="sqlite://", objectives=t.objectives, sampler={"name": "random", "seed": 0},
        scheduler={"name": "fifo", "max_steps": 2}, params=SMALL[task], tracking=False,
    )  # fmt: skip
    study.optimize(t.objective(), n_trials=2, show_progress=False)
    assert [tr.state.name for tr in study.trials] == ["COMPLETE", "COMPLETE"]
    for trial in study.trials:
        assert sorted(trial.reports) == [1, 2]
        metrics = trial.reports[2]
        assert set(t.objectives) <= set(metrics)
        assert all(math.isfinite(v) for v in metrics.values()), metrics


def _steps(task: str, params: dict[str, Any], steps: int, number: int = 0, state: Any = None, start: int = 0) -> Any:
    run = get_task(task).make_run()(params, number)
    if state is not None:
        run.load_state_dict(state)
    out = {}
    for step in range(start + 1, steps + 1):
        run.train_step(step)
        out[step] = run.evaluate()
    return run, out


@pytest.mark.parametrize("task", NEW)
def test_replay_run_resumes_exactly_and_leaves_global_rng_alone(task: str) -> None:
    trial = SpaceTrial()
    params = {**get_task(task).suggest()(trial), **SMALL[task]}
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _, full = _steps(task, params, 3, number=5)
    assert torch.equal(torch.rand(3), expected)
    first, part = _steps(task, params, 2, number=5)
    from itero.store import dump_state, load_state

    state = load_state(dump_state(first.state_dict()))
    _, rest = _steps(task, params, 3, number=5, state=state, start=2)
    assert {**part, **rest} == full
    _, other = _steps(task, params, 1, number=6)
    assert other[1] != full[1]  # the seed is the run's number


def test_schedule_mlp_curves_cross() -> None:
    annealed = {"lr": 0.0549, "warmup": 9, "schedule": "cosine", "width": 149, "batch_size": 128, "weight_decay": 1e-6}
    constant = {"lr": 0.1959, "warmup": 0, "schedule": "constant", "width": 40, "batch_size": 64, "weight_decay": 1e-6}
    _, a = _steps("schedule-mlp", annealed, 30)
    _, c = _steps("schedule-mlp", constant, 30)
    assert a[1]["val_acc"] < c[1]["val_acc"] - 0.1 and a[3]["val_acc"] < c[3]["val_acc"]  # worse early ...
    assert a[30]["val_acc"] > c[30]["val_acc"] + 0.05  # ... better at the end


def test_diverge_mlp_fails_the_trial_at_the_step_it_diverges() -> None:
    t = get_task("diverge-mlp")
    assert t.diverges
    assert sorted(n for n in TASKS if TASKS[n].diverges) == ["digits-aug-mlp", "diverge-mlp"]
    study = itero.create_study(
        "diverge", storage="sqlite://", objectives=t.objectives, sampler={"name": "random", "seed": 0},
        params={"lr": 1.84, "momentum": 0.0, "width": 95, "depth": 2, "batch_size": 64}, tracking=False,
    )  # fmt: skip
    study.optimize(t.objective(), n_trials=1, show_progress=False)
    (trial,) = study.trials
    assert trial.state.name == "FAILED"
    last = max(trial.reports)
    assert 1 < last < t.max_steps  # part-way, after the warm-up raised the rate
    assert math.isnan(trial.reports[last]["val_rmse"])
    assert all(math.isfinite(trial.reports[s]["val_rmse"]) for s in range(1, last))
    assert f"diverged at step {last}" in (trial.error or "")


def test_digits_aug_mlp_is_multi_objective() -> None:
    t = get_task("digits-aug-mlp")
    assert t.objectives == {"val_acc": "maximize", "flops": "minimize"}
    study = itero.create_study(
        "mo", storage="sqlite://", objectives=t.objectives, sampler={"name": "random", "seed": 1},
        scheduler={"name": "fifo", "max_steps": 1}, params={"depth": 1, "batch_size": 256}, tracking=False,
    )  # fmt: skip
    study.optimize(t.objective(), n_trials=3, show_progress=False)
    flops = {tr.metrics["flops"] for tr in study.trials}
    assert len(flops) == 3 and min(flops) > 0  # the width decides the cost
    assert study.pareto_front()


def test_augmented_digits_splits() -> None:
    from itero.tasks._augdigits import aug_digits_data

    x_train, _, x_val, y_val, x_test, _ = aug_digits_data()
    assert (len(x_train), len(x_val), len(x_test)) == (10_000, 2_500, 2_500)
    assert x_train.shape[1:] == (1, 8, 8) and set(y_val.tolist()) == set(range(10))


def test_digits_aug_mlp_fails_a_run_whose_loss_overflows() -> None:
    t = get_task("digits-aug-mlp")
    params = {"lr": 0.3, "weight_decay": 1e-6, "width": 512, "depth": 4, "dropout": 0.0, "batch_size": 16}
    study = itero.create_study(
        "overflow", storage="sqlite://", objectives=t.objectives, sampler={"name": "random", "seed": 0},
        params={**params, "optimizer": "sgd"}, tracking=False,
    )  # fmt: skip
    study.optimize(t.objective(), n_trials=1, show_progress=False)
    (trial,) = study.trials
    assert trial.state.name == "FAILED" and "diverged at step 1: val_loss is nan" in (trial.error or "")
