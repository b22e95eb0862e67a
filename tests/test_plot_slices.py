"""Slices, contour and empirical distribution: the numbers they draw, their axes, and a sentence instead of a
figure when there is nothing to draw."""

from __future__ import annotations

import numpy as np
import pytest

import itero
import itero.plot


def objective(trial: itero.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    width = trial.suggest_int("width", 8, 64)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    return (np.log10(lr) + 2) ** 2 + width / 64 + (kind == "b")


@pytest.fixture(scope="module")
def study() -> itero.Study:
    s = itero.create_study(
        "slices", storage="sqlite://", objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 0}
    )
    s.optimize(objective, n_trials=30, show_progress=False)
    return s


def test_slices_one_panel_per_parameter_with_the_right_axes(study: itero.Study):
    fig = itero.plot.slices(study)
    assert [tr.xaxis for tr in fig.data] == ["x", "x2", "x3"]
    done = study.history.completed()
    assert sorted(fig.data[0].y) == sorted(t.metrics["loss"] for t in done)
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.title.text == "lr"
    assert fig.layout.xaxis3.type == "category"


def test_contour_interpolates_between_trials_on_log_axes(study: itero.Study):
    fig = itero.plot.contour(study, "lr", "width")
    grid, dots = fig.data
    assert grid.type == "contour" and dots.type == "scatter"
    assert fig.layout.xaxis.type == "log"
    z = np.array(grid.z, dtype=float)
    values = [t.metrics["loss"] for t in study.history.completed()]
    inside = z[np.isfinite(z)]
    assert inside.size > 0 and inside.min() >= min(values) - 1e-9 and inside.max() <= max(values) + 1e-9
    why = itero.plot.contour(study, "lr", "kind").layout.annotations[0].text
    assert why == "'kind' is not a numeric parameter that varies among the completed trials."


def test_empirical_distribution_is_the_share_at_most_each_value(study: itero.Study):
    fig = itero.plot.empirical_distribution(study)
    xs, ys = np.array(fig.data[0].x), np.array(fig.data[0].y)
    assert np.all(np.diff(xs) >= 0) and ys[-1] == 1.0 and ys[0] == pytest.approx(1 / len(xs))


def test_nothing_to_draw_is_said(tmp_path):
    empty = itero.create_study("empty", storage="sqlite://", objectives={"acc": "maximize"})
    for f in (itero.plot.slices, itero.plot.contour, itero.plot.empirical_distribution):
        assert "No trial has completed yet" in f(empty).layout.annotations[0].text


def test_parallel_coordinates_of_many_trials_draw_a_sample_and_say_so():
    from itero.plot import _params
    from itero.plot._data import Snapshot
    from itero.trial import FrozenTrial, TrialState

    trials = [
        FrozenTrial(id=i, number=i, state=TrialState.COMPLETE, params={"x": float(i), "y": float(i % 7)},
                    metrics={"loss": float((i * 37) % 5000)})
        for i in range(5000)
    ]  # fmt: skip
    fig = _params.parallel_figure(Snapshot("s", {"loss": "minimize"}, trials, trials, [], []))
    losses = fig.data[0].dimensions[-1]["values"]
    assert len(losses) == _params.MAX_PARALLEL
    assert sorted(losses)[: _params.MAX_PARALLEL // 4] == list(range(_params.MAX_PARALLEL // 4))  # the best kept
    assert "a sample of 2,000 of 5,000" in fig.layout.title.text
