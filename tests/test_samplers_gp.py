"""The GP sampler: optimisation quality on Branin, log EI numerics, pending trials, mixed spaces, options."""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import pytest
from scipy.stats import norm

import itero
from itero.exceptions import ConfigError
from itero.samplers import GP, make_sampler
from itero.samplers._gp import warp
from itero.samplers._gp_kernel import log_ei, log_h
from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History, TrialState

BRANIN_MIN = 0.397887


def branin(trial: itero.Trial) -> float:
    x = trial.suggest_float("x", -5.0, 10.0)
    y = trial.suggest_float("y", 0.0, 15.0)
    return (
        (y - 5.1 / (4 * math.pi**2) * x * x + 5 / math.pi * x - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x)
        + 10
    )


def best_of(sampler: dict[str, Any], n_trials: int = 40) -> float:
    study = itero.create_study(f"branin-{sampler}", storage="sqlite://", sampler=sampler)
    study.optimize(branin, n_trials=n_trials, show_progress=False)
    return min(t.metrics["value"] for t in study.trials if "value" in t.metrics)


def test_branin_gp_finds_the_minimum_and_beats_random() -> None:
    gp = [best_of({"name": "gp", "seed": s}) for s in range(3)]
    rnd = [best_of({"name": "random", "seed": s}) for s in range(3)]
    assert all(b >= BRANIN_MIN - 1e-6 for b in gp)
    assert statistics.median(gp) < 0.6, gp
    # Clearly better than random search with the same 40 trials: regret at least 5x smaller.
    assert statistics.median(gp) - BRANIN_MIN < 0.2 * (statistics.median(rnd) - BRANIN_MIN), (gp, rnd)


# --------------------------------------------------------------------------------------------- log EI
def test_log_ei_matches_direct_ei_where_that_is_accurate() -> None:
    mu = np.array([0.0, 0.3, -0.5, 1.0, 2.0, 0.1])
    sigma = np.array([1.0, 0.2, 0.7, 0.5, 0.4, 3.0])
    best = 0.2
    z = (best - mu) / sigma
    direct = sigma * (norm.pdf(z) + z * norm.cdf(z))
    assert np.all(direct > 1e-10)
    np.testing.assert_allclose(log_ei(mu, sigma, best), np.log(direct), rtol=1e-9, atol=1e-12)


def test_log_h_is_finite_and_accurate_where_ei_underflows() -> None:
    z = np.array([-5.0, -10.0, -20.0, -40.0, -1e3, -1e9])
    with np.errstate(divide="ignore"):
        naive = np.log(norm.pdf(z) + z * norm.cdf(z))
    assert not np.isfinite(naive[3])  # EI underflows to 0 at z = -40 ...
    lh = log_h(z)
    assert np.all(np.isfinite(lh))  # ... log EI does not
    assert np.all(np.diff(lh) < 0)  # and keeps its order
    # Where the direct form is still accurate (z >= -20), both agree.
    np.testing.assert_allclose(lh[:3], naive[:3], rtol=1e-8)
    # Asymptotically h(z) ~ phi(z) / z^2: log h(z) = -z^2/2 - log(sqrt(2 pi)) - 2 log|z| + O(1/z^2).
    asym = -0.5 * z**2 - 0.5 * math.log(2 * math.pi) - 2 * np.log(np.abs(z))
    np.testing.assert_allclose(lh[3:], asym[3:], rtol=1e-5)
    assert abs(lh[3] - asym[3]) < 3 / 40**2 * 1.1  # the next term of the expansion is -3/z^2


def test_warp_standardises_monotonically() -> None:
    y = np.array([0.4, 0.5, 1.0, 3.0, 5.0, 1e6])
    w = warp(y.copy())
    assert np.all(np.diff(w) > 0)
    assert abs(w.mean()) < 1e-12 and abs(w.std() - 1) < 1e-12
    assert np.all(warp(np.full(4, 2.0)) == 0.0)


# --------------------------------------------------------------------------------------------- driving by hand
def _trial(number: int, state: TrialState, params: dict[str, Any], space: dict[str, Distribution], **kw: Any):
    return FrozenTrial(
        id=number + 1,
        number=number,
        state=state,
        params=dict(params),
        distributions={k: space[k] for k in params},
        **kw,
    )


def _history(space: dict[str, Distribution], f: Any, n: int, seed: int = 0) -> History:
    h = History({"value": "minimize"}, "gp-test")
    rng = np.random.default_rng(seed)
    trials = []
    for i in range(n):
        p = {k: d.from_unit(float(rng.random())) for k, d in space.items()}
        trials.append(_trial(i, TrialState.COMPLETE, p, space, metrics={"value": f(p)}))
    h.upsert(trials)
    return h


def _suggest(sampler: GP, h: History, number: int, space: dict[str, Distribution]) -> dict[str, Any]:
    snap = FrozenTrial(id=number + 1, number=number, state=TrialState.RUNNING)
    out = dict(sampler.sample_joint(h, snap))
    for k, d in space.items():
        if k not in out:
            out[k] = sampler.sample(h, snap, k, d)
    return out


SPACE2: dict[str, Distribution] = {"a": FloatDistribution(0.0, 1.0), "b": FloatDistribution(0.0, 1.0)}


def _bowl(p: dict[str, Any]) -> float:
    return (p["a"] - 0.3) ** 2 + (p["b"] - 0.6) ** 2


def test_pending_points_change_the_proposal_and_are_avoided() -> None:
    h = _history(SPACE2, _bowl, 20, seed=1)
    first = _suggest(GP(seed=0), h, 20, SPACE2)
    # The same proposal becomes a running trial; the next proposal must move away from it.
    h.upsert([_trial(20, TrialState.RUNNING, first, SPACE2)])
    second = _suggest(GP(seed=0), h, 21, SPACE2)
    h2 = _history(SPACE2, _bowl, 20, seed=1)
    alone = _suggest(GP(seed=0), h2, 21, SPACE2)
    assert second != alone
    gap = math.dist((first["a"], first["b"]), (second["a"], second["b"]))
    assert gap > 1e-3, (first, second)
    # Ignoring pending trials gives the proposal made without them.
    assert _suggest(GP(seed=0, pending="ignore"), h, 21, SPACE2) == alone


def test_gp_converges_on_a_bowl() -> None:
    h = _history(SPACE2, _bowl, 12, seed=2)
    sampler = GP(seed=0)
    for n in range(12, 30):
        p = _suggest(sampler, h, n, SPACE2)
        h.upsert([_trial(n, TrialState.COMPLETE, p, SPACE2, metrics={"value": _bowl(p)})])
    assert min(t.metrics["value"] for t in h.completed()) < 1e-3


MIXED: dict[str, Distribution] = {
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "width": IntDistribution(16, 512, log=True),
    "depth": IntDistribution(1, 8),
    "drop": FloatDistribution(0.0, 0.5, step=0.1),
    "opt": CategoricalDistribution(("sgd", "adam", "rmsprop")),
    "bn": CategoricalDistribution((False, True)),
}


def _mixed_loss(p: dict[str, Any]) -> float:
    loss = (math.log10(p["lr"]) + 2.5) ** 2 + (math.log2(p["width"]) - 7) ** 2 / 4 + abs(p["depth"] - 3)
    return loss + (0.0 if p["opt"] == "adam" else 1.0) + (0.0 if p["bn"] else 0.5) + p["drop"]


def test_mixed_space_types_bounds_and_reproducibility() -> None:
    h = _history(MIXED, _mixed_loss, 15, seed=3)
    proposals = []
    for number in range(15, 19):
        a = _suggest(GP(seed=7), h, number, MIXED)
        b = _suggest(GP(seed=7), h, number, MIXED)  # a fresh sampler, same history: same values
        assert a == b
        for k, d in MIXED.items():
            assert d.contains(a[k]), (k, a[k])
        assert type(a["width"]) is int and type(a["depth"]) is int
        assert type(a["lr"]) is float and type(a["drop"]) is float
        assert a["opt"] in ("sgd", "adam", "rmsprop") and type(a["bn"]) is bool
        proposals.append(a)
    assert len({p["lr"] for p in proposals}) > 1
    # The seed decides the random start-up proposals (the GP's own proposal is the acquisition's maximum,
    # which different seeds may well agree on).
    assert _suggest(GP(seed=8, n_startup_trials=20), h, 15, MIXED) != _suggest(
        GP(seed=7, n_startup_trials=20), h, 15, MIXED
    )


def test_conditional_parameters_are_sampled_at_random() -> None:
    h = _history(SPACE2, _bowl, 12)
    sampler = GP(seed=0)
    snap = FrozenTrial(id=13, number=12, state=TrialState.RUNNING)
    extra = CategoricalDistribution(("x", "y"))
    assert set(sampler.sample_joint(h, snap)) == {"a", "b"}
    assert sampler.sample(h, snap, "extra", extra) in ("x", "y")


def test_startup_trials_use_no_model() -> None:
    h = _history(SPACE2, _bowl, 4)
    snap = FrozenTrial(id=5, number=4, state=TrialState.RUNNING)
    assert GP(seed=0, n_startup_trials=5).sample_joint(h, snap) == {}
    assert set(GP(seed=0, n_startup_trials=4).sample_joint(h, snap)) == {"a", "b"}


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"n_startup_trials": -1}, "n_startup_trials"),
        ({"n_startup_trials": 2.5}, "n_startup_trials"),
        ({"n_candidates": 4}, "n_candidates"),
        ({"n_polish": True}, "n_polish"),
        ({"pending": "liar"}, "pending"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        make_sampler({"name": "gp", **options})


def test_multi_objective_is_refused() -> None:
    with pytest.raises(ConfigError, match="gp"):
        GP().check_objectives({"a": "minimize", "b": "maximize"})


def test_batched_lbfgsb_runs_are_independent() -> None:
    """Each run ends where scipy's L-BFGS-B ends alone from its start, though evaluations are batched."""
    import scipy.optimize

    from itero.samplers._lbfgsb import batched_lbfgsb

    centres = np.array([[0.2, 0.7, 0.5], [0.9, 0.1, 0.4], [0.5, 0.5, 0.5], [0.0, 1.0, 0.3]])
    calls: list[int] = []

    def fg(X: np.ndarray, runs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls.append(len(X))
        c = centres[runs]
        r = X - c
        return (r**2).sum(axis=1) + np.sin(5 * X).sum(axis=1), 2 * r + 5 * np.cos(5 * X)

    rng = np.random.default_rng(0)
    x0 = rng.random((4, 3))
    bounds = [(0.0, 1.0)] * 3
    got = batched_lbfgsb(fg, x0, bounds, maxiter=50, gtol=1e-8)
    for i in range(4):

        def one(x: np.ndarray, i: int = i) -> tuple[float, np.ndarray]:
            f, g = fg(x[None, :], np.array([i]))
            return float(f[0]), g[0]

        alone = scipy.optimize.minimize(
            one, x0[i], jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 50, "gtol": 1e-8}
        ).x
        np.testing.assert_allclose(got[i], alone, atol=1e-12)
    assert max(calls) == 4  # the runs were evaluated together


def test_batched_lbfgsb_gives_up_hopeless_runs() -> None:
    from itero.samplers._lbfgsb import batched_lbfgsb

    # Two basins: a deep one at 0.2 (value -20) and a shallow one at 0.8 (value 0); the run started in the
    # shallow basin is more than give_up worse than the other and stops early, at the best point it saw.
    def fg(X: np.ndarray, runs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        deep = X[:, 0] < 0.5
        centre = np.where(deep, 0.2, 0.8)
        f = (X[:, 0] - centre) ** 2 - np.where(deep, 20.0, 0.0)
        return f, 2 * (X - centre[:, None])

    evaluated: list[float] = []

    def counted(X: np.ndarray, runs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        evaluated.extend(X[runs == 1, 0].tolist())
        return fg(X, runs)

    x0 = np.array([[0.3], [0.95]])
    full = batched_lbfgsb(fg, x0, [(0.0, 1.0)], gtol=1e-10)
    cut = batched_lbfgsb(counted, x0, [(0.0, 1.0)], gtol=1e-10, give_up=5.0)
    assert full[0, 0] == pytest.approx(0.2) and full[1, 0] == pytest.approx(0.8)
    assert cut[0, 0] == pytest.approx(0.2)
    assert len(evaluated) == 1 and cut[1, 0] == evaluated[0]  # stopped after its first evaluation


def test_batched_lbfgsb_merges_runs_that_meet() -> None:
    from itero.samplers._lbfgsb import batched_lbfgsb

    per_run: dict[int, int] = {0: 0, 1: 0, 2: 0}

    def fg(X: np.ndarray, runs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for i in runs.tolist():
            per_run[i] += 1
        return ((X - 0.5) ** 2).sum(axis=1), 2 * (X - 0.5)

    x0 = np.array([[0.5001, 0.5], [0.5, 0.4999], [0.0, 1.0]])  # runs 0 and 1 start on top of each other
    out = batched_lbfgsb(fg, x0, [(0.0, 1.0)] * 2, gtol=1e-12, merge=1e-2)
    np.testing.assert_allclose(out, 0.5, atol=1e-3)
    assert per_run[1] == 1 and per_run[0] > 1  # the worse of the two stopped after one evaluation
