"""TPE-specific behaviour: options, the split into below/above groups, search quality, multivariate mode, the
constant liar, multi-objective ranking, the incremental cache and its cost."""

from __future__ import annotations

import itertools
import math
import pickle
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from itero._hypervolume import hypervolume
from itero._ranking import _hv_gains, hssp_select, mo_select
from itero._spec import spec_of
from itero.exceptions import ConfigError
from itero.samplers import TPE, BaseSampler, Random, intersection_space, make_sampler
from itero.samplers._tpe import State, default_gamma
from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History, TrialState

X = FloatDistribution(-10.0, 10.0)


def complete(number: int, params: dict[str, Any], dists: dict[str, Distribution], **metrics: float) -> FrozenTrial:
    return FrozenTrial(
        id=number + 1,
        number=number,
        state=TrialState.COMPLETE,
        params=params,
        distributions=dists,
        metrics=dict(metrics),
    )


def running(number: int, params: dict[str, Any] | None = None, dists: dict[str, Distribution] | None = None):
    return FrozenTrial(
        id=number + 1, number=number, state=TrialState.RUNNING, params=params or {}, distributions=dists or {}
    )


def optimize(
    sampler: BaseSampler, space: dict[str, Distribution], f: Callable[[dict[str, Any]], float], n: int
) -> tuple[float, History]:
    """A sequential loop at the sampler level; returns the best value and the history."""
    history = History({"loss": "minimize"})
    best = math.inf
    for i in range(n):
        history.upsert([running(i)])
        params = dict(sampler.sample_joint(history, running(i)))
        for name, dist in space.items():
            if name not in params:
                params[name] = sampler.sample(history, running(i, dict(params)), name, dist)
            assert dist.contains(params[name])
        value = f(params)
        best = min(best, value)
        history.upsert([complete(i, params, dict(space), loss=value)])
    return best, history


# ----------------------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("n_startup_trials", -1),
        ("n_startup_trials", 2.5),
        ("n_startup_trials", True),
        ("n_ei_candidates", 0),
        ("multivariate", "yes"),
        ("constant_liar", 1),
        ("consider_endpoints", None),
        ("gamma", 0),
        ("gamma", 1.5),
        ("gamma", "0.1"),
        ("prior_weight", 0),
        ("prior_weight", -1.0),
        ("prior_weight", float("inf")),
        ("random_fraction", 1.0),
        ("random_fraction", -0.1),
        ("seed", 1.5),
    ],
)
def test_invalid_options_name_the_option_and_the_value(option: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=option) as info:
        TPE(**{option: value})
    assert repr(value) in str(info.value)
    with pytest.raises(ConfigError, match=option):
        make_sampler({"name": "tpe", option: value})


@pytest.mark.parametrize("seed", [5, None])
def test_a_random_fraction_of_trials_ignores_the_model(seed: int | None) -> None:
    space = {"x": X, "y": X}

    def far(sampler: TPE) -> float:
        """The share of the last 150 of 200 proposals far from the optimum at (1, 1)."""
        _, history = optimize(sampler, space, lambda p: (p["x"] - 1) ** 2 + (p["y"] - 1) ** 2, 200)
        return float(np.mean([max(abs(t.params["x"] - 1), abs(t.params["y"] - 1)) > 5 for t in history.trials[50:]]))

    plain, half = far(TPE(seed=seed)), far(TPE(seed=seed, random_fraction=0.5))
    assert plain < 0.15
    assert 0.25 < half < 0.55 and half > plain + 0.15  # half of them uniform, 3/4 of which are far


def test_options_repr_spec_and_pickle() -> None:
    sampler = TPE(seed=3, n_startup_trials=5, multivariate=True, gamma=0.2, prior_weight=2.0)
    assert repr(sampler) == "TPE(seed=3, n_startup_trials=5, multivariate=True, gamma=0.2, prior_weight=2.0)"
    assert repr(make_sampler(spec_of(sampler))) == repr(sampler)
    assert repr(make_sampler("tpe")) == "TPE(seed=None)"
    history = History({"loss": "minimize"})
    history.upsert([complete(i, {"x": float(i)}, {"x": X}, loss=float(i)) for i in range(8)])
    before = sampler.sample(history, running(8), "x", X)
    clone = pickle.loads(pickle.dumps(sampler))
    assert repr(clone) == repr(sampler)
    assert clone.sample(history, running(8), "x", X) == before


def test_default_gamma_is_optunas() -> None:
    assert [default_gamma(n) for n in (0, 1, 9, 10, 11, 100, 250, 251, 10_000)] == [0, 1, 1, 1, 2, 10, 25, 25, 25]


# ----------------------------------------------------------------------------------------------- search
def quadratic(p: dict[str, Any]) -> float:
    return (p["x"] - 1.3) ** 2


def test_startup_trials_are_random_search() -> None:
    _, h_tpe = optimize(TPE(seed=4), {"x": X}, quadratic, 10)
    _, h_random = optimize(Random(seed=4), {"x": X}, quadratic, 10)
    assert [t.params for t in h_tpe.trials] == [t.params for t in h_random.trials]


def test_tpe_beats_random_on_a_quadratic() -> None:
    seeds = range(5)
    tpe = [optimize(TPE(seed=s), {"x": X}, quadratic, 60)[0] for s in seeds]
    rnd = [optimize(Random(seed=s), {"x": X}, quadratic, 60)[0] for s in seeds]
    # Seeded, hence deterministic; TPE's median is ~1e-4, random search's ~4e-2.
    assert np.median(tpe) < 0.1 * np.median(rnd), (tpe, rnd)
    assert np.median(tpe) < 0.01


def test_int_log_and_categorical_parameters_converge() -> None:
    space: dict[str, Distribution] = {
        "width": IntDistribution(8, 1024, log=True),
        "depth": IntDistribution(1, 12),
        "lr": FloatDistribution(1e-5, 1.0, log=True),
        "opt": CategoricalDistribution(("sgd", "adam", None, True)),
    }

    def f(p: dict[str, Any]) -> float:
        return (
            (math.log2(p["width"]) - 7) ** 2
            + (p["depth"] - 4) ** 2
            + (math.log10(p["lr"]) + 3) ** 2
            + (0.0 if p["opt"] is None else 2.0)
        )

    seeds = range(3)
    tpe = [optimize(TPE(seed=s), space, f, 80) for s in seeds]
    rnd = [optimize(Random(seed=s), space, f, 80)[0] for s in seeds]
    assert np.median([b for b, _ in tpe]) < 0.5 * np.median(rnd)
    # The best category dominates the second half of the run in most seeds. (With the joint model, on by
    # default for one objective as in Optuna 5, a seed can lock in on a good-but-not-best category early.)
    dominated = [sum(t.params["opt"] is None for t in h.trials[40:]) > len(h.trials[40:]) / 2 for _, h in tpe]
    assert sum(dominated) >= 2, dominated


def test_multivariate_proposes_the_intersection_jointly() -> None:
    space: dict[str, Distribution] = {"x": X, "y": FloatDistribution(-10.0, 10.0)}
    sampler = TPE(seed=0, multivariate=True, n_startup_trials=5)
    history = History({"loss": "minimize"})
    history.upsert([complete(i, {"x": float(i - 2)}, {"x": X}, loss=float(i)) for i in range(4)])
    assert sampler.sample_joint(history, running(4)) == {}  # still in the startup phase
    history.upsert([complete(i, {"x": float(i - 2), "y": 0.5}, dict(space), loss=float(i)) for i in range(4, 8)])
    joint = sampler.sample_joint(history, running(8))
    assert set(joint) == {"x"} == set(intersection_space(history))  # y is not in every finished trial
    assert X.contains(joint["x"])
    # Single-valued ranges are not proposed.
    history.upsert([complete(i, {"x": 0.0, "c": 1}, {"x": X, "c": IntDistribution(1, 1)}, loss=0.0) for i in range(8)])
    assert set(sampler.sample_joint(history, running(8))) == {"x"}


def test_multivariate_beats_random_on_a_correlated_quadratic() -> None:
    space: dict[str, Distribution] = {"x": X, "y": FloatDistribution(-10.0, 10.0)}

    def f(p: dict[str, Any]) -> float:
        return (p["x"] - 1.0) ** 2 + (p["y"] - p["x"] - 2.0) ** 2

    seeds = range(4)
    tpe = [optimize(TPE(seed=s, multivariate=True), space, f, 60)[0] for s in seeds]
    rnd = [optimize(Random(seed=s), space, f, 60)[0] for s in seeds]
    assert np.median(tpe) < 0.3 * np.median(rnd), (tpe, rnd)


def test_constant_liar_spreads_simultaneous_proposals() -> None:
    def batch(liar: bool, seed: int) -> list[float]:
        history = History({"loss": "minimize"})
        rng = np.random.default_rng(seed)
        for i in range(30):
            x = X.from_unit(float(rng.random()))
            history.upsert([complete(i, {"x": x}, {"x": X}, loss=(x - 1.3) ** 2)])
        sampler = TPE(seed=seed, constant_liar=liar)
        xs = []
        for j in range(30, 38):  # eight workers start a trial before any of them finishes
            x = sampler.sample(history, running(j), "x", X)
            xs.append(x)
            history.upsert([running(j, {"x": x}, {"x": X})])
        return xs

    for seed in range(4):
        with_liar, without = batch(True, seed), batch(False, seed)
        assert len(set(with_liar)) == len(with_liar)
        assert np.std(with_liar) > 2 * np.std(without), (seed, with_liar, without)


# ----------------------------------------------------------------------------------------------- the split
def _history_for_split() -> History:
    h = History({"acc": "maximize"})
    d: dict[str, Distribution] = {"x": X}
    trials = [complete(i, {"x": float(i % 10)}, d, acc=float(i)) for i in range(10)]  # best: 9, 8, 7, ...
    for j, (step, acc) in enumerate([(3, 0.5), (5, 0.1), (5, 0.9), (1, 99.0), (5, float("nan"))]):
        trials.append(
            FrozenTrial(
                id=100 + j,
                number=10 + j,
                state=TrialState.PRUNED,
                params={"x": 1.0},
                distributions=d,
                metrics={"acc": acc},
                step=step,
                reports={step: {"acc": acc}},
            )
        )
    trials.append(FrozenTrial(id=200, number=15, state=TrialState.FAILED, params={"x": 0.0}, distributions=d))
    trials.append(FrozenTrial(id=201, number=16, state=TrialState.RUNNING, params={"x": 0.0}, distributions=d))
    trials.append(FrozenTrial(id=202, number=17, state=TrialState.WAITING, params={"x": 0.0}, distributions=d))
    trials.append(FrozenTrial(id=203, number=18, state=TrialState.RUNNING, params={"x": 2.0}, distributions=d))
    trials.append(FrozenTrial(id=204, number=19, state=TrialState.COMPLETE, params={}, distributions={}))
    h.upsert(trials)
    return h


def _constant(k: int) -> Callable[[int], int]:
    return lambda n: k


def _split(sampler: TPE, history: History, number: int) -> tuple[list[int], list[int]]:
    state = sampler._state(history)
    below, above = sampler._split(state, [state.column("x", X)], number)
    return below.tolist(), above.tolist()


def test_split_ranks_complete_then_pruned_and_lies_about_running_trials() -> None:
    history = _history_for_split()
    # 15 finished trials have x (10 complete, 5 pruned); gamma(15) = 2.
    below, above = _split(TPE(), history, 18)
    assert below == [8, 9]
    assert above == [*range(8), *range(10, 15), 16, 17]  # failed 15 ignored, current 18 excluded
    below, _ = _split(TPE(constant_liar=False), history, 18)
    assert below == [8, 9]
    _, above = _split(TPE(constant_liar=False), history, 18)
    assert above == [*range(8), *range(10, 15)]
    # Pruned trials come after every complete one: by step reached, then by last value (NaN last).
    # (acc is maximised: at step 5, #12 with 0.9 ranks before #11 with 0.1, then #14 with NaN; then #10, #13.)
    picked = [_split(TPE(gamma=_constant(k)), history, 18)[0] for k in range(11, 16)]
    assert [sorted(set(b) - set(a)) for a, b in itertools.pairwise([list(range(10)), *picked])] == [
        [12],
        [11],
        [14],
        [10],
        [13],
    ]
    below, above = _split(TPE(gamma=1.0), history, 16)
    assert below == list(range(15)) and above == [17, 18]


def test_split_of_a_conditional_parameter_uses_the_trials_that_have_it() -> None:
    h = History({"loss": "minimize"})
    y = FloatDistribution(0.0, 1.0)
    h.upsert(
        [complete(i, {"x": 0.0, "y": 0.05 * i} if i % 2 else {"x": 0.0}, {"x": X, "y": y}, loss=-i) for i in range(20)]
    )
    sampler = TPE()
    state = sampler._state(h)
    below, above = sampler._split(state, [state.column("y", y)], 20)
    assert below.tolist() == [19] and above.tolist() == list(range(1, 19, 2))


def _fronts_brute_force(points: np.ndarray) -> list[int]:
    n = len(points)
    rank = np.full(n, -1)
    r = 0
    left = set(range(n))
    while left:
        front = {
            i
            for i in left
            if not any(np.all(points[j] <= points[i]) and np.any(points[j] < points[i]) for j in left if j != i)
        }
        for i in front:
            rank[i] = r
        left -= front
        r += 1
    return rank.tolist()


@pytest.mark.parametrize("tiebreak", ["crowding", "hssp"])
@pytest.mark.parametrize(("n", "m", "k"), [(12, 2, 4), (40, 2, 5), (150, 2, 25), (150, 3, 10), (60, 3, 25)])
def test_multi_objective_selection_takes_whole_fronts_first(n: int, m: int, k: int, tiebreak: str) -> None:
    for seed in range(4):
        rng = np.random.default_rng(seed)
        points = rng.integers(0, 8, size=(n, m)).astype(float)  # many ties and duplicates
        if seed % 2:
            points[:, 1] = 8 - points[:, 0] + rng.integers(0, 3, size=n)  # a trade-off front
        rank = _fronts_brute_force(points)
        chosen = mo_select(points, k, tiebreak).tolist()
        assert len(chosen) == len(set(chosen)) == k
        worst = max(rank[i] for i in chosen)
        # Every row of a better front is chosen, nothing from a worse one.
        assert all(i in chosen for i in range(n) if rank[i] < worst)
        assert all(rank[i] <= worst for i in chosen)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_hypervolume_gains_are_exact(m: int) -> None:
    rng = np.random.default_rng(m)
    ref = np.full(m, 1.1)
    for size in (0, 1, 5):
        pts = rng.random((size + 8, m))
        chosen, cand = pts[:size], pts[size:]
        base = hypervolume(chosen, ref)
        want = [hypervolume(np.vstack([chosen, c]), ref) - base for c in cand]
        np.testing.assert_allclose(_hv_gains(chosen, cand, np.zeros(m), ref), want, atol=1e-12)


def _greedy_hssp_brute_force(points: np.ndarray, k: int) -> list[int]:
    lo, hi = points.min(axis=0), points.max(axis=0)
    z = (points - lo) / np.where(hi > lo, hi - lo, 1.0)
    ref = np.full(points.shape[1], 1.1)
    chosen: list[int] = []
    for _ in range(k):
        gains = [(hypervolume(z[[*chosen, j]], ref), -j) for j in range(len(z)) if j not in chosen]
        chosen.append(-max(gains)[1])
    return sorted(chosen)


@pytest.mark.parametrize("m", [2, 3])
def test_hssp_select_is_the_greedy_hypervolume_subset(m: int) -> None:
    rng = np.random.default_rng(7)
    for _ in range(10):
        front = rng.random((14, m))
        front /= np.linalg.norm(front, axis=1, keepdims=True)  # a concave front, as DTLZ2's
        k = int(rng.integers(1, 14))
        assert hssp_select(front, k).tolist() == _greedy_hssp_brute_force(front, k)
    assert hssp_select(front, 14).tolist() == list(range(14))
    assert hssp_select(front, 0).tolist() == []


def test_hssp_select_takes_duplicates_last() -> None:
    front = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.5, 0.5, 0.7], [0.5, 0.5, 0.7]])
    assert hssp_select(front, 1).tolist() == [3]  # the largest box first
    assert hssp_select(front, 4).tolist() == [0, 1, 2, 3]  # then the extremes: the duplicate adds nothing
    dup = np.repeat(front[:1], 4, axis=0)
    assert hssp_select(dup, 2).tolist() == [0, 1]


def test_hssp_select_falls_back_to_crowding_distance_when_too_large() -> None:
    rng = np.random.default_rng(0)
    front = rng.random((40, 6))
    chosen = hssp_select(front, 30)
    assert len(set(chosen.tolist())) == 30


def test_three_objective_split_breaks_ties_by_hypervolume() -> None:
    h = History({"a": "minimize", "b": "minimize", "c": "minimize"})
    d: dict[str, Distribution] = {"x": X}
    rng = np.random.default_rng(1)
    front = rng.random((25, 3))
    front /= np.linalg.norm(front, axis=1, keepdims=True)
    h.upsert([complete(i, {"x": float(i % 7)}, d, a=p[0], b=p[1], c=p[2]) for i, p in enumerate(front)])
    below, _ = _split(TPE(gamma=lambda n: 6), h, 25)
    assert below == _greedy_hssp_brute_force(front, 6)


def test_multi_objective_split_puts_the_pareto_front_below() -> None:
    h = History({"acc": "maximize", "flops": "minimize"})
    d: dict[str, Distribution] = {"x": X}
    trials = []
    for i in range(30):
        on_front = i % 10 == 0
        acc, flops = (0.9 + i / 1000, 10.0 - i / 10) if on_front else (0.5, 50.0 + i)
        trials.append(complete(i, {"x": float(i % 7)}, d, acc=acc, flops=flops))
    h.upsert(trials)
    sampler = TPE(gamma=lambda n: 3)
    assert sampler._state(h).n_obj == 2
    below, _ = _split(sampler, h, 30)
    assert below == [0, 10, 20]
    sampler.check_objectives({"acc": "maximize", "flops": "minimize"})
    value = sampler.sample(h, running(30), "x", X)
    assert X.contains(value)


# ----------------------------------------------------------------------------------------------- the cache
def _fresh_equals_incremental(history: History, sampler: TPE) -> None:
    inc = sampler._state(history)
    fresh = State(history)
    fresh.refresh(history)
    n = max(inc.size, fresh.size)
    assert inc.size == fresh.size
    assert inc.n_finished == fresh.n_finished
    np.testing.assert_array_equal(inc.status[:n], fresh.status[:n])
    np.testing.assert_array_equal(inc.loss[:n], fresh.loss[:n])
    np.testing.assert_array_equal(inc.step[:n], fresh.step[:n])
    for key, col in inc.columns.items():
        np.testing.assert_array_equal(col.u[:n], fresh.column(*key).u[:n])
    assert inc.intersection() == intersection_space(history)


def test_incremental_cache_matches_a_fresh_one_through_state_changes() -> None:
    sampler = TPE(seed=0, n_startup_trials=0)
    h = History({"loss": "minimize"})
    y = CategoricalDistribution(("a", "b"))
    rng = np.random.default_rng(0)
    for step in range(60):
        i = int(rng.integers(0, 25))
        old = h.get(i + 1)
        params = dict(old.params) if old else {}
        params.setdefault("x", X.from_unit(float(rng.random())))
        if rng.random() < 0.5:
            params.setdefault("y", "a" if rng.random() < 0.5 else "b")
        dists: dict[str, Distribution] = {"x": X, "y": y} if "y" in params else {"x": X}
        state = [TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED, TrialState.WAITING][
            int(rng.integers(0, 5))
        ]
        metrics = {"loss": float(rng.random())} if state != TrialState.FAILED else {}
        h.upsert([FrozenTrial(id=i + 1, number=i, state=state, params=params, distributions=dists, metrics=metrics)])
        sampler.sample(h, running(30), "x", X)
        if step % 3 == 0:
            sampler.sample(h, running(30), "y", y)
            sampler.sample_joint(h, running(30))
        _fresh_equals_incremental(h, sampler)


def test_cost_per_suggestion_stays_flat_with_many_trials() -> None:
    """The target is well under 1 ms per parameter at 10,000 finished trials; the bound here is loose."""
    space: dict[str, Distribution] = {
        "x": X,
        "lr": FloatDistribution(1e-5, 1.0, log=True),
        "opt": CategoricalDistribution(("a", "b", "c")),
    }
    rng = np.random.default_rng(0)
    h = History({"loss": "minimize"})
    trials = []
    for i in range(10_000):
        p = {k: d.from_unit(float(rng.random())) for k, d in space.items()}
        trials.append(complete(i, p, dict(space), loss=quadratic(p)))
    h.upsert(trials)
    sampler = TPE(seed=0)
    times: list[float] = []
    for number in itertools.count(10_000):
        if len(times) == 30:
            break
        h.upsert([running(number)])
        start = time.perf_counter()
        params = {k: sampler.sample(h, running(number), k, d) for k, d in space.items()}
        times.append((time.perf_counter() - start) / len(space))
        h.upsert([complete(number, params, dict(space), loss=quadratic(params))])
    assert np.median(times) < 0.01, f"median {np.median(times) * 1e3:.2f} ms per parameter"


@pytest.mark.parametrize(
    "dist",
    [
        FloatDistribution(-3.0, 5.0),
        FloatDistribution(1e-5, 1.0, log=True),
        FloatDistribution(0.0, 1.0, step=0.3),
        IntDistribution(1, 10),
        IntDistribution(16, 512, log=True),
        IntDistribution(0, 100, step=5),
    ],
)
def test_vectorised_unit_encoding_matches_the_distribution(dist: FloatDistribution | IntDistribution) -> None:
    from itero.samplers._tpe._state import Values, numeric_unit

    candidates: list[Any] = [dist.from_unit(u) for u in np.linspace(0, 1, 41)]
    candidates += [-1, 0, 0.3, 0.6000000001, 3, 3.0, 7.5, 20, 25, 513, 1e-6, 2.0, True, "a", None]
    values = Values(len(candidates))
    for slot, v in enumerate(candidates):
        values.set(slot, v)
    u = numeric_unit(dist, values.x, values.logx, values.isint)
    for v, got in zip(candidates, u, strict=True):
        if dist.contains(v):
            assert got == pytest.approx(dist.to_unit(v), abs=1e-12), v
            assert dist.from_unit(float(got)) == pytest.approx(v), v
        else:
            assert math.isnan(got), v


@pytest.mark.parametrize(
    "dist",
    [
        FloatDistribution(-3.0, 5.0),
        FloatDistribution(1e-5, 1.0, log=True),
        FloatDistribution(0.0, 1.0, step=0.3),
        FloatDistribution(2.0, 2.0),
        IntDistribution(1, 10),
        IntDistribution(16, 512, log=True),
        IntDistribution(0, 100, step=5),
    ],
)
def test_one_value_encodes_to_the_same_bits_as_the_vectorised_encoding(
    dist: FloatDistribution | IntDistribution,
) -> None:
    from itero.samplers._tpe._state import Column, Values, numeric_unit, numeric_unit_one

    rng = np.random.default_rng(0)
    candidates: list[Any] = [dist.from_unit(u) for u in np.linspace(0, 1, 41)] + [dist.low, dist.high]
    candidates += [*rng.uniform(-5, 600, 200).tolist(), *range(-3, 600, 7), float(dist.low), -0.0, 0.0, 2.0, True, None]
    values = Values(len(candidates))
    for slot, v in enumerate(candidates):
        values.set(slot, v)
    many = numeric_unit(dist, values.x, values.logx, values.isint)
    col = Column("p", dist, np.full(len(candidates), np.nan))
    for slot, v in enumerate(candidates):
        col.set(slot, v, values)
    assert many.tobytes() == col.u.tobytes()
    one = [numeric_unit_one(dist, values.x[i], values.logx[i], bool(values.isint[i]), col.encoding) for i in range(3)]
    assert np.array(one).tobytes() == many[:3].tobytes()


def test_ranges_that_change_from_trial_to_trial() -> None:
    """Define-by-run ranges (``suggest_int("units", 1, 8 * depth)``): values from other ranges are used when they
    fit, and the number of cached columns stays bounded."""
    from itero.samplers._tpe._state import MAX_COLUMNS

    sampler = TPE(seed=0, n_startup_trials=5)
    h = History({"loss": "minimize"})
    for i in range(120):
        dist = IntDistribution(1, 1 + i)
        h.upsert([running(i)])
        value = sampler.sample(h, running(i), "units", dist)
        assert dist.contains(value)
        h.upsert([complete(i, {"units": value}, {"units": dist}, loss=abs(value - 40))])
    state = sampler._state(h)
    assert len(state.columns) <= MAX_COLUMNS
    col = state.column("units", IntDistribution(1, 50))
    have = ~np.isnan(col.u[: state.size])
    assert have.sum() == sum(1 for t in h.trials if t.params["units"] <= 50)


# ----------------------------------------------------------------------------------- against Optuna's TPE
def test_proposals_follow_optunas_tpe_on_the_same_history() -> None:
    """On one history, 300 seeded proposals of itero's TPE and of Optuna's TPESampler (both with their
    defaults) have the same distribution in every dimension (two-sample Kolmogorov-Smirnov), and the test
    notices a sampler that differs (a wider below group, fewer candidates)."""
    optuna = pytest.importorskip("optuna")
    from scipy.stats import ks_2samp

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(0)
    d, n, reps = 4, 40, 300
    X = rng.random((n, d))
    y = ((X - 0.3) ** 2).sum(1) + 0.3 * np.sin(9 * X[:, 0])
    dists: dict[str, Distribution] = {f"x{j}": FloatDistribution(0, 1) for j in range(d)}
    history = History({"loss": "minimize"})
    history.upsert(
        [complete(i, {f"x{j}": float(X[i, j]) for j in range(d)}, dict(dists), loss=float(y[i])) for i in range(n)]
    )
    od = {f"x{j}": optuna.distributions.FloatDistribution(0, 1) for j in range(d)}
    study = optuna.create_study()
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={f"x{j}": float(X[i, j]) for j in range(d)}, distributions=od, value=float(y[i])
            )
            for i in range(n)
        ]
    )
    theirs = []
    for seed in range(reps):
        study.sampler = optuna.samplers.TPESampler(seed=seed)
        t = study.ask()
        theirs.append([t.suggest_float(f"x{j}", 0, 1) for j in range(d)])
        study.tell(t, state=optuna.trial.TrialState.FAIL)  # failed trials are not in TPE's history
    b = np.array(theirs)

    def pvalues(**options: Any) -> list[float]:
        ours = [TPE(seed=seed, **options).sample_joint(history, running(n)) for seed in range(reps)]
        a = np.array([[p[f"x{j}"] for j in range(d)] for p in ours])
        return [float(ks_2samp(a[:, j], b[:, j]).pvalue) for j in range(d)]

    assert min(pvalues()) > 0.01
    assert min(pvalues(gamma=0.5)) < 1e-6
    assert min(pvalues(n_ei_candidates=4)) < 1e-3


def test_changed_trials_are_found_wherever_they_are() -> None:
    """The state's refresh finds replaced trials at the tail, in the middle and at the start, and falls back to
    identity checks when a trial's attributes cannot be compared."""
    from itero.samplers._tpe._state import _changed

    prev = [complete(i, {"x": float(i)}, {"x": X}, loss=float(i)) for i in range(300)]
    for positions in ([299], [298, 299], [150], [0, 7, 299], list(range(300))):
        cur = list(prev)
        for i in positions:
            cur[i] = complete(i, {"x": -1.0}, {"x": X}, loss=-1.0)
        cur.append(running(300))
        assert _changed(cur, prev) == [cur[i] for i in positions] + [cur[300]]
    cur = list(prev)
    cur[5] = complete(5, {"x": 5.0}, {"x": X}, loss=5.0)  # an equal copy: nothing to update
    assert _changed(cur, prev) == []
    odd = [FrozenTrial(id=i + 1, number=i, state=TrialState.COMPLETE, user_attrs={"a": np.arange(2)}) for i in range(3)]
    cur = [FrozenTrial(id=i + 1, number=i, state=TrialState.COMPLETE, user_attrs={"a": np.arange(2)}) for i in range(3)]
    assert _changed(cur, odd) == cur  # comparing the arrays fails: every replaced object counts
