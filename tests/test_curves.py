"""The learning-curve model (``itero.curves``) on synthetic curves with known limits: calibrated intervals where
early values predict final ones, wide ones where curves cross, diverged curves left out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from itero import curves
from itero.curves import MIN_PAIRS, fit


def _power_law(rng: np.random.Generator, n: int, steps: int = 30) -> np.ndarray:
    """Loss curves limit + a * step**-alpha with per-curve limits, amplitudes, rates and noise."""
    limit = rng.uniform(0.1, 1.0, n)[:, None]
    amp = rng.uniform(0.5, 2.0, n)[:, None]
    alpha = rng.uniform(0.3, 1.0, n)[:, None]
    s = np.arange(1, steps + 1)[None, :]
    return limit + amp * s**-alpha + rng.normal(0.0, 0.01, (n, steps))


def _exponential(rng: np.random.Generator, n: int, steps: int = 30) -> np.ndarray:
    limit = rng.uniform(0.0, 0.5, n)[:, None]
    rate = rng.uniform(0.05, 0.4, n)[:, None]
    s = np.arange(1, steps + 1)[None, :]
    return limit + (1.0 - limit) * np.exp(-rate * s) + rng.normal(0.0, 0.01, (n, steps))


def _coverage(curves: np.ndarray, step: int, level: float) -> tuple[float, float]:
    """Fit on the first half of the curves, cover the second half: the share of final values inside the
    ``level`` interval, and the mean interval width."""
    half = len(curves) // 2
    model = fit(curves[:half, step - 1], curves[:half, -1])
    assert model is not None
    inside, widths = [], []
    for c in curves[half:]:
        lo, hi = model.predict(float(c[step - 1])).interval(level)
        inside.append(lo <= c[-1] <= hi)
        widths.append(hi - lo)
    return float(np.mean(inside)), float(np.mean(widths))


@pytest.mark.parametrize("family", [_power_law, _exponential])
@pytest.mark.parametrize("level", [0.5, 0.9])
def test_intervals_cover_unseen_curves_at_their_level(family, level: float) -> None:
    rng = np.random.default_rng(0)
    covered, _ = _coverage(family(rng, 800), step=5, level=level)
    assert abs(covered - level) <= 0.05, covered


@pytest.mark.parametrize(("family", "ratio"), [(_power_law, 0.25), (_exponential, 0.6)])
def test_intervals_are_narrower_than_the_naive_ones(family, ratio: float) -> None:
    """The naive interval: the last value plus or minus the spread of the study's final values."""
    curves = family(np.random.default_rng(1), 400)
    _, width = _coverage(curves, step=10, level=0.9)
    naive = float(np.quantile(curves[:, -1], 0.95) - np.quantile(curves[:, -1], 0.05))
    assert width < ratio * naive


def test_crossing_curves_give_wide_intervals_and_no_confident_verdict() -> None:
    # The best configurations start slowest: value at step 3 is anti-correlated with the limit, plus noise.
    rng = np.random.default_rng(2)
    limit = rng.uniform(0.0, 1.0, 200)
    early = 2.0 - limit + rng.normal(0.0, 0.8, 200)
    model = fit(early, limit)
    assert model is not None
    worst_start = model.predict(float(early.max()))
    assert worst_start.prob_below(float(np.quantile(limit, 0.2))) > 0.05  # never sure enough to stop it


def test_a_power_law_that_has_not_flattened_is_predicted_below_its_last_value() -> None:
    curves = _power_law(np.random.default_rng(3), 200)
    model = fit(curves[:100, 2], curves[:100, -1])
    assert model is not None
    c = curves[150]
    p = model.predict(float(c[2]))
    assert p.mean < c[2]
    assert p.interval(0.9)[0] <= c[-1] <= p.interval(0.9)[1]


def test_diverged_curves_are_left_out_and_too_few_pairs_give_no_model() -> None:
    early = [1.0, 2.0, math.nan, 3.0, math.inf, 4.0, 5.0, 6.0]
    final = [0.5, 1.0, 0.1, math.nan, 0.2, 2.0, 2.5, 3.0]
    model = fit(early, final)
    assert model is not None and model.n == 5  # the pairs with both values finite
    assert model.slope == pytest.approx(0.5, abs=0.01)
    assert fit(early[:6], final[:6]) is None and MIN_PAIRS == 5  # three finite pairs
    assert fit([1.0] * 6, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) is None  # no spread in the early values


def test_expected_improvement_by_hand() -> None:
    errors = np.array([-1.0, 0.0, 2.0])  # sorted, as a fit keeps them
    # gap = incumbent - predicted mean; the final value is mean + e, so the improvement is max(0, gap - e).
    got = curves.expected_improvements(np.array([1.0, -3.0, 5.0]), errors)
    assert got == pytest.approx([(2 + 1 + 0) / 3, 0.0, (6 + 5 + 3) / 3])
    prediction = curves.Prediction(mean=2.0, errors=tuple(errors))
    assert prediction.expected_improvement(3.0) == pytest.approx(1.0)


def test_predicted_finals_follow_the_completed_curves():
    """Completed trials end at half their value at step 3 (times a small noise); a trial stopped at step 3 is
    predicted to end near half its value there, with an interval around it; complete and failed trials are not
    predicted, and a maximised metric is handled as its negation."""
    from itero.curves import predicted_finals
    from itero.trial import FrozenTrial, TrialState

    rng = np.random.default_rng(0)

    def trial(i: int, state: TrialState, reports: dict[int, float]) -> FrozenTrial:
        return FrozenTrial(id=i, number=i, state=state, reports={s: {"loss": v} for s, v in reports.items()})

    trials = []
    for i in range(30):
        early = float(rng.uniform(1.0, 4.0))
        trials.append(trial(i, TrialState.COMPLETE, {3: early, 9: early / 2 * float(rng.uniform(0.98, 1.02))}))
    trials.append(trial(30, TrialState.PRUNED, {1: 5.0, 3: 2.0}))
    trials.append(trial(31, TrialState.FAILED, {3: 2.0}))
    final_step, out = predicted_finals(trials, "loss", maximize=False)
    assert final_step == 9 and set(out) == {30}
    mean, low, high = out[30]
    assert mean == pytest.approx(1.0, rel=0.03) and low < mean < high and high - low < 0.1
    flipped = [trial(t.id, t.state, {s: -r["loss"] for s, r in t.reports.items()}) for t in trials]
    mean_max = predicted_finals(flipped, "loss", maximize=True)[1][30][0]  # type: ignore[index]
    assert mean_max == pytest.approx(-mean, rel=1e-9)
    assert predicted_finals(trials[30:], "loss", maximize=False) is None  # nothing completed
