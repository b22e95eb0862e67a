"""The task registry, objective loading, the digits-mlp task and the torch helper.

The digits objective is driven by a small fake trial (the contract of ``itero.Trial`` an objective sees), so
these tests do not depend on a study or a store.
"""

from __future__ import annotations

import copy
import itertools
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from itero.exceptions import ConfigError
from itero.tasks import TASKS, Task, get_task, load_objective

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from itero.tasks._digits import digits_mlp  # noqa: E402
from itero.torchutil import apply_hparams  # noqa: E402

GOOD = {
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "width": 64,
    "depth": 2,
    "dropout": 0.1,
    "batch_size": 32,
    "optimizer": "adam",
}


class FakeTrial:
    """What an objective sees of ``itero.Trial``: suggest_*, restore, steps, report, number, params."""

    def __init__(
        self,
        values: dict[str, Any],
        number: int = 0,
        *,
        max_steps: int | None = None,
        state: Any = None,
        start_step: int = 0,
        keep_state_at: tuple[int, ...] = (),
    ) -> None:
        self._values = values
        self.number = number
        self.params: dict[str, Any] = {}
        self.max_steps = max_steps
        self._state = state
        self._start_step = start_step
        self._keep_state_at = keep_state_at
        self.reports: dict[int, dict[str, float]] = {}
        self.states: dict[int, Any] = {}
        self.suggested: dict[str, tuple[Any, ...]] = {}

    def _suggest(self, name: str, spec: tuple[Any, ...]) -> Any:
        self.suggested[name] = spec
        self.params[name] = self._values[name]
        return self._values[name]

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        value = self._suggest(name, ("float", low, high, log))
        assert low <= value <= high
        return float(value)

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        value = self._suggest(name, ("int", low, high, log))
        assert low <= value <= high
        return int(value)

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        value = self._suggest(name, ("categorical", tuple(choices)))
        assert value in choices
        return value

    def restore(self) -> Any:
        return self._state

    def steps(self, max_steps: int) -> Iterator[int]:
        cap = max_steps if self.max_steps is None else min(max_steps, self.max_steps)
        yield from range(self._start_step + 1, cap + 1)

    def report(self, step: int, metrics: dict[str, float], state: Any = None) -> None:
        assert step not in self.reports
        for value in metrics.values():
            assert isinstance(value, float)
        self.reports[step] = dict(metrics)
        if step in self._keep_state_at:
            assert callable(state)
            # A deep copy, as serialising it would be: training goes on mutating the live tensors.
            self.states[step] = copy.deepcopy(state())


def _run(values: dict[str, Any] = GOOD, number: int = 0, **kwargs: Any) -> FakeTrial:
    trial = FakeTrial(values, number, **kwargs)
    digits_mlp(trial)
    return trial


def _same_tensors(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------- registry


def test_registry_lists_digits_mlp() -> None:
    task = get_task("digits-mlp")
    assert TASKS["digits-mlp"] is task
    assert task.objectives == {"val_acc": "maximize"}
    assert task.max_steps == 20
    assert task.paradigm == "supervised classification"
    assert task.objective() is digits_mlp
    assert load_objective("digits-mlp") is digits_mlp


def test_get_task_unknown_lists_known_tasks() -> None:
    with pytest.raises(ConfigError, match=r"unknown task 'nope'.*digits-mlp"):
        get_task("nope")


def test_task_validates_its_fields() -> None:
    with pytest.raises(ConfigError, match="objectives"):
        Task("t", "", "p", {"acc": "up"}, 3, "m:f")
    with pytest.raises(ConfigError, match="max_steps"):
        Task("t", "", "p", {"acc": "maximize"}, 0, "m:f")
    with pytest.raises(ConfigError, match="loader"):
        Task("t", "", "p", {"acc": "maximize"}, 3, "m.f")
    with pytest.raises(ConfigError, match=r"task 't'.*cannot be loaded.*no_such_module_xyz"):
        Task("t", "", "p", {"acc": "maximize"}, 3, "no_such_module_xyz:f").objective()


def test_tasks_package_imports_without_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        import itero.tasks
        itero.tasks.get_task("digits-mlp")
        assert "itero.tasks._digits" not in sys.modules
        bad = [m for m in ("torch", "sklearn") if m in sys.modules]
        assert not bad, bad
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_load_objective_from_file(tmp_path: Any) -> None:
    (tmp_path / "x.py").write_text("NOT_CALLABLE = 3\n\ndef f(trial):\n    return 42\n")
    f = load_objective(f"{tmp_path / 'x.py'}:f")
    assert f(None) == 42
    assert load_objective(f"{tmp_path / 'x.py'}:f") is f  # loaded once per process


def test_load_objective_from_module() -> None:
    import json

    assert load_objective("json:dumps") is json.dumps


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("{d}/missing.py:f", r"file '.*missing\.py' not found"),
        ("{d}/broken.py:f", r"error while loading .*broken\.py.*ZeroDivisionError: division by zero"),
        ("{d}/x.py:g", r"has no attribute 'g'; its functions are \['f'\]"),
        ("{d}/x.py:NOT_CALLABLE", r"'NOT_CALLABLE' is a int, not a callable"),
        ("no_such_module_xyz.sub:f", r"cannot import module 'no_such_module_xyz\.sub'.*ModuleNotFoundError"),
        ("json:no_such_function", r"'json' has no attribute 'no_such_function'"),
        (
            "nope",
            r"unknown task 'nope'; known tasks are \['char-lm', 'crossing-curves', 'digits-aug-mlp', 'digits-cnn', 'digits-mlp', 'diverge-mlp', 'friedman-mlp', 'schedule-mlp'\]",
        ),
        ("json:", r"expected 'module:function'"),
        ("", r"expected a task name"),
    ],
)
def test_load_objective_failures(tmp_path: Any, ref: str, message: str) -> None:
    (tmp_path / "x.py").write_text("NOT_CALLABLE = 3\n\ndef f(trial):\n    return 42\n")
    (tmp_path / "broken.py").write_text("1 / 0\n")
    with pytest.raises(ConfigError, match=message):
        load_objective(ref.format(d=tmp_path))


def test_load_objective_import_error_inside_module(tmp_path: Any, monkeypatch: Any) -> None:
    (tmp_path / "itero_test_pkg_bad.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="No module named 'no_such_dependency_xyz'"):
        load_objective("itero_test_pkg_bad:f")


# ---------------------------------------------------------------------------------------------- digits-mlp


def test_digits_search_space() -> None:
    trial = _run(max_steps=1)
    assert trial.suggested == {
        "lr": ("float", 1e-4, 0.3, True),
        "weight_decay": ("float", 1e-6, 1e-2, True),
        "width": ("int", 16, 512, True),
        "depth": ("int", 1, 4, False),
        "dropout": ("float", 0.0, 0.5, False),
        "batch_size": ("categorical", (16, 32, 64, 128, 256)),
        "optimizer": ("categorical", ("sgd", "adam")),
    }
    assert trial.params == GOOD
    assert set(trial.reports[1]) == {"val_acc", "val_loss", "test_acc", "params", "flops", "peak_mem_mb"}


def test_digits_default_max_steps_is_20() -> None:
    trial = _run({**GOOD, "width": 16, "depth": 1, "batch_size": 256})
    assert sorted(trial.reports) == list(range(1, 21))


def test_digits_learns() -> None:
    trial = _run(max_steps=5)
    assert sorted(trial.reports) == [1, 2, 3, 4, 5]
    last = trial.reports[5]
    assert last["val_acc"] > 0.85, last  # chance is 0.1
    assert last["test_acc"] > 0.85, last
    assert last["val_loss"] < trial.reports[1]["val_loss"]


def test_digits_sgd_learns() -> None:
    trial = _run({**GOOD, "optimizer": "sgd", "lr": 0.03}, max_steps=5)
    assert trial.reports[5]["val_acc"] > 0.85, trial.reports[5]


def test_digits_is_deterministic() -> None:
    a = _run(number=7, max_steps=3, keep_state_at=(3,))
    b = _run(number=7, max_steps=3, keep_state_at=(3,))
    assert a.reports == b.reports
    assert _same_tensors(a.states[3]["model"], b.states[3]["model"])
    c = _run(number=8, max_steps=3)
    assert c.reports != a.reports  # the seeds come from the trial number


def test_digits_does_not_touch_global_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _run(max_steps=1)
    assert torch.equal(torch.rand(3), expected)


def test_digits_resume_matches_uninterrupted_run() -> None:
    full = _run(number=3, max_steps=6, keep_state_at=(3, 6))
    first = _run(number=3, max_steps=3, keep_state_at=(3,))
    assert first.reports == {k: full.reports[k] for k in (1, 2, 3)}
    assert _same_tensors(first.states[3]["model"], full.states[3]["model"])

    resumed = _run(number=3, max_steps=6, state=first.states[3], start_step=3, keep_state_at=(6,))
    assert sorted(resumed.reports) == [4, 5, 6]
    assert resumed.reports == {k: full.reports[k] for k in (4, 5, 6)}
    assert _same_tensors(resumed.states[6]["model"], full.states[6]["model"])
    assert resumed.states[6]["opt"]["param_groups"] == full.states[6]["opt"]["param_groups"]


def test_digits_clone_trains_with_its_own_hparams() -> None:
    donor = _run({**GOOD, "lr": 1e-3, "weight_decay": 1e-5}, number=1, max_steps=2, keep_state_at=(2,))
    assert donor.states[2]["opt"]["param_groups"][0]["lr"] == 1e-3
    clone_values = {**GOOD, "lr": 2e-2, "weight_decay": 1e-3}
    clone = _run(clone_values, number=2, max_steps=3, state=donor.states[2], start_step=2, keep_state_at=(3,))
    group = clone.states[3]["opt"]["param_groups"][0]
    assert group["lr"] == 2e-2
    assert group["weight_decay"] == 1e-3
    assert sorted(clone.reports) == [3]


def test_digits_resume_with_wrong_architecture_is_explained() -> None:
    donor = _run(max_steps=1, keep_state_at=(1,))
    with pytest.raises(RuntimeError, match=r"does not fit.*width=128"):
        _run({**GOOD, "width": 128}, max_steps=2, state=donor.states[1], start_step=1)


# ---------------------------------------------------------------------------------------------- torchutil


@pytest.mark.parametrize(
    ("make", "extra"), [(torch.optim.SGD, {"momentum": 0.9}), (torch.optim.Adam, {"betas": (0.9, 0.99)})]
)
def test_apply_hparams_after_load_state_dict(make: Any, extra: dict[str, Any]) -> None:
    donor_param = torch.nn.Parameter(torch.ones(3))
    donor = make([donor_param], lr=0.5, weight_decay=0.1, **extra)
    donor_param.sum().backward()
    donor.step()

    own = make([torch.nn.Parameter(torch.ones(3))], lr=0.01, weight_decay=0.0, **extra)
    own.load_state_dict(donor.state_dict())
    assert own.param_groups[0]["lr"] == 0.5  # load_state_dict brings the donor's values ...
    apply_hparams(own, lr=0.01, weight_decay=0.0)
    assert own.param_groups[0]["lr"] == 0.01  # ... and apply_hparams puts this trial's back
    assert own.param_groups[0]["weight_decay"] == 0.0
    assert own.state_dict()["state"]  # the donor's moments are kept


def test_apply_hparams_every_group_and_tensor_values() -> None:
    a, b = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.2}], lr=torch.tensor(0.1))
    apply_hparams(opt, lr=0.03)
    for group in opt.param_groups:
        assert float(group["lr"]) == pytest.approx(0.03)


def test_apply_hparams_rejects_unknown_keys() -> None:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    with pytest.raises(ValueError, match=r"Adam has no hyper-parameter 'momentum'"):
        apply_hparams(opt, lr=0.2, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.1  # nothing changed
    with pytest.raises(TypeError, match=r"expected a torch\.optim\.Optimizer"):
        apply_hparams(object(), lr=0.1)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- more tasks
def test_friedman_learns_to_near_its_noise_floor() -> None:
    from itero.tasks._friedman import friedman_mlp

    trial = FakeTrial({**GOOD, "lr": 0.003, "optimizer": "adam", "width": 256}, 0, max_steps=8)
    friedman_mlp(trial)
    first, last = trial.reports[1]["val_rmse"], trial.reports[8]["val_rmse"]
    assert set(trial.reports[8]) == {"val_rmse", "test_rmse", "params", "flops", "peak_mem_mb"}
    assert last < 0.75 * first and last < 2.5  # the noise floor is 1.0; predicting the mean gives about 5
    assert get_task("friedman-mlp").objectives == {"val_rmse": "minimize"}


def test_crossing_curves_cross_and_end_at_their_known_optimum() -> None:
    from itero.tasks._synthetic import SUITE

    f = SUITE["crossing-curves"]
    best, worse = [0.2, 0.4, 0.6, 0.8], [0.5, 0.4, 0.6, 0.8]
    assert f.value(best, 27) == 0.0 < f.value(worse, 27)  # the best configuration ends best...
    assert f.value(best, 9) > f.value(worse, 9)  # ...but looks worse at the rungs early stopping uses
    assert f.value(best, 3) > f.value(worse, 3)
    for name, fn in SUITE.items():
        x = np.random.default_rng(0).random(fn.dim)
        values = [fn.value(x, t) for t in range(1, 28)]
        assert all(a >= b for a, b in itertools.pairwise(values)), name  # curves only go down
        assert min(values) >= 0.0
