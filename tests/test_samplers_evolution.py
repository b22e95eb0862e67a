"""CMA-ES, regularised evolution and REINFORCE: they optimise, replay their state from the history, and check
their options. (The sampler conformance suite runs them too, as registered samplers.)"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import pytest

import itero
from itero.exceptions import ConfigError
from itero.samplers import CMAES, RegularizedEvolution, Reinforce, make_sampler
from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History, TrialState

SEEDS = range(7)


def sphere(trial: itero.Trial) -> float:
    return sum((trial.suggest_float(f"x{i}", -5.0, 5.0) - 1.0) ** 2 for i in range(4))


def best_of(name: str, seed: int, objective: Any = sphere, n_trials: int = 80, **options: Any) -> float:
    study = itero.create_study(f"{name}-{seed}", storage="sqlite://", sampler={"name": name, "seed": seed, **options})
    study.optimize(objective, n_trials=n_trials, show_progress=False)
    return study.best_value


def grid_sphere(trial: itero.Trial) -> float:
    """A discrete sphere (REINFORCE's kind of space): four 10-value integers and a 4-way choice."""
    loss = sum((trial.suggest_int(f"k{i}", 0, 9) - 7) ** 2 for i in range(4))
    return loss + 3 * ["a", "b", "c", "d"].index(trial.suggest_categorical("c", ["a", "b", "c", "d"]))


_RANDOM: dict[str, float] = {}


def random_median(objective: Any) -> float:
    if objective.__name__ not in _RANDOM:
        _RANDOM[objective.__name__] = statistics.median(best_of("random", s, objective) for s in SEEDS)
    return _RANDOM[objective.__name__]


@pytest.mark.parametrize(
    ("name", "objective", "factor"),
    [("cmaes", sphere, 0.2), ("evolution", sphere, 0.4), ("reinforce", grid_sphere, 0.75)],
)
def test_beats_random_search(name: str, objective: Any, factor: float) -> None:
    """Median over seeds of the best value after 80 trials, against random search's (seeded: deterministic)."""
    median = statistics.median(best_of(name, s, objective) for s in SEEDS)
    baseline = random_median(objective)
    print(f"{name} on {objective.__name__}: median best {median:.3f} vs random {baseline:.3f}")
    assert median < factor * baseline


# ---------------------------------------------------------------------------------------------------- CMA-ES
def _add(history: History, number: int, params: dict[str, Any], dists: dict[str, Distribution], loss: float) -> None:
    history.upsert(
        [
            FrozenTrial(
                id=number + 1,
                number=number,
                state=TrialState.COMPLETE,
                params=dict(params),
                distributions=dict(dists),
                metrics={"loss": loss},
            )
        ]
    )


def _running(number: int) -> FrozenTrial:
    return FrozenTrial(id=number + 1, number=number, state=TrialState.RUNNING)


CMA_SPACE: dict[str, Distribution] = {
    "x": FloatDistribution(-2.0, 2.0),
    "lr": FloatDistribution(1e-4, 1.0, log=True),
    "k": IntDistribution(0, 20),
}


def _cma_loss(p: dict[str, Any]) -> float:
    return p["x"] ** 2 + (math.log10(p["lr"]) + 2) ** 2 + (p["k"] - 4) ** 2 / 10


def test_cmaes_replay_is_the_same_in_a_fresh_sampler_even_with_out_of_order_completions() -> None:
    seasoned = CMAES(seed=3, population_size=4)
    history = History({"loss": "minimize"}, "replay")
    proposals = {}
    for n in range(30):
        proposals[n] = seasoned.sample_joint(history, _running(n)) or {
            k: seasoned.sample(history, _running(n), k, d) for k, d in CMA_SPACE.items()
        }
        if n not in (4, 17):  # trials 4 and 17 complete after the next 6: the replay must go back
            _add(history, n, proposals[n], CMA_SPACE, _cma_loss(proposals[n]))
        seasoned.sample_joint(history, _running(100 + n))  # follows the history as it grows
        if n - 6 in (4, 17):
            _add(history, n - 6, proposals[n - 6], CMA_SPACE, _cma_loss(proposals[n - 6]))
            seasoned.sample_joint(history, _running(200 + n))
    fresh = CMAES(seed=3, population_size=4)
    for n in (30, 31, 40):
        a, b = seasoned.sample_joint(history, _running(n)), fresh.sample_joint(history, _running(n))
        assert a == b and set(a) == set(CMA_SPACE)
        assert type(a["k"]) is int and type(a["x"]) is float
    assert CMAES(seed=4, population_size=4).sample_joint(history, _running(30)) != a


def test_cmaes_ipop_restart_doubles_the_population_when_it_converges() -> None:
    def flat(t: itero.Trial) -> float:
        t.suggest_float("x", 0.0, 1.0)
        t.suggest_float("y", 0.0, 1.0)
        return 1.0

    for restarts, expected in (("ipop", 12), (None, 6)):
        sampler = CMAES(seed=0, restarts=restarts)
        study = itero.create_study(f"flat-{restarts}", storage="sqlite://", sampler=sampler)
        study.optimize(flat, n_trials=140, show_progress=False)
        state = sampler.optimizer(study.history)
        assert state is not None
        cma, n_restarts, space = state
        assert set(space) == {"x", "y"}
        assert cma.population_size == expected  # 4 + floor(3 ln 2) = 6, doubled once
        assert n_restarts == (1 if restarts else 0)


def test_cmaes_ints_are_ints_and_categoricals_are_still_sampled() -> None:
    def objective(t: itero.Trial) -> float:
        k = t.suggest_int("k", 1, 64, log=True)
        x = t.suggest_float("x", -1.0, 1.0)
        act = t.suggest_categorical("act", ["relu", "tanh", "gelu"])
        return (math.log2(k) - 3) ** 2 + x**2 + (0.0 if act == "gelu" else 0.5)

    sampler = CMAES(seed=1)
    study = itero.create_study("mixed", storage="sqlite://", sampler=sampler)
    study.optimize(objective, n_trials=40, show_progress=False)
    trials = study.trials
    assert all(type(t.params["k"]) is int and 1 <= t.params["k"] <= 64 for t in trials)
    assert {t.params["act"] for t in trials[5:]} == {"relu", "tanh", "gelu"}
    state = sampler.optimizer(study.history)
    assert state is not None and set(state[2]) == {"k", "x"}  # the categorical is not in the CMA space
    assert abs(math.log2(study.best_params["k"]) - 3) <= 1


# ------------------------------------------------------------------------------------------------- evolution
EVO_SPACE: dict[str, Distribution] = {
    "a": FloatDistribution(0.0, 1.0),
    "b": FloatDistribution(1e-3, 1.0, log=True),
    "n": IntDistribution(0, 3),
    "act": CategoricalDistribution(("relu", "tanh", "gelu")),
    "flag": CategoricalDistribution((False, True)),
}


@pytest.mark.parametrize("n_mutations", [1, 2, 3])
def test_evolution_children_differ_from_their_parent_in_n_mutations_parameters(n_mutations: int) -> None:
    P = 8
    sampler = RegularizedEvolution(seed=0, population_size=P, sample_size=3, n_mutations=n_mutations)
    history = History({"loss": "minimize"}, "evo")
    rng = np.random.default_rng(0)
    for n in range(P):  # random trials; the first ones are the best, so that aging matters
        assert sampler.sample_joint(history, _running(n)) == {}
        _add(history, n, {k: d.from_unit(float(rng.random())) for k, d in EVO_SPACE.items()}, EVO_SPACE, n / 100)
    late_parents = set()
    for n in range(P, P + 40):
        child = sampler.sample_joint(history, _running(n))
        parent = sampler.parent(history, _running(n))
        assert parent is not None and set(child) == set(EVO_SPACE)
        assert parent.number in {t.number for t in history.completed()[-P:]}  # aging: only the P newest
        assert sum(child[k] != parent.params[k] for k in EVO_SPACE) == n_mutations
        assert all(d.contains(child[k]) and type(child[k]) is type(parent.params[k]) for k, d in EVO_SPACE.items())
        if n > P:
            late_parents.add(parent.number)
        _add(history, n, child, EVO_SPACE, 1.0 + float(rng.random()))  # worse than the first P trials
    assert 0 not in late_parents  # trial 0, the best of all, aged out once trial P finished


def test_evolution_inherits_conditional_parameters_from_the_parent() -> None:
    sampler = RegularizedEvolution(seed=2, population_size=2, sample_size=2)
    history = History({"loss": "minimize"}, "cond")
    cond = FloatDistribution(0.1, 10.0, log=True)
    _add(history, 0, {"a": 0.1, "c": 2.0}, {"a": EVO_SPACE["a"], "c": cond}, 0.5)
    _add(history, 1, {"a": 0.9}, {"a": EVO_SPACE["a"]}, 1.0)
    child = sampler.sample_joint(history, _running(2))
    assert child["a"] != 0.1  # the only shared parameter is mutated
    assert sampler.sample(history, _running(2), "c", cond) == 2.0


# ------------------------------------------------------------------------------------------------- REINFORCE
def test_reinforce_policy_learns_the_best_categorical_choice() -> None:
    dist = CategoricalDistribution(("sgd", "adam", "rmsprop"))

    def objective(t: itero.Trial) -> float:
        opt = t.suggest_categorical("opt", ["sgd", "adam", "rmsprop"])
        return (0.0 if opt == "adam" else 1.0) + 0.3 * t.suggest_float("x", 0.0, 1.0)

    probs = []
    for seed in range(5):
        sampler = Reinforce(seed=seed)
        study = itero.create_study(f"rl-{seed}", storage="sqlite://", sampler=sampler)
        study.optimize(objective, n_trials=60, show_progress=False)
        p = sampler.policy(study.history, "opt", dist)
        assert p.shape == (3,) and abs(p.sum() - 1) < 1e-9
        assert Reinforce(seed=seed).policy(study.history, "opt", dist).tolist() == p.tolist()  # a fresh replay
        probs.append(float(p[1]))
    print("p(adam) after 60 trials:", [round(p, 3) for p in probs])
    assert min(probs) > 0.8


def test_reinforce_discretises_numbers_into_bins_or_values() -> None:
    sampler = Reinforce(n_bins=10)
    assert sampler.n_choices(IntDistribution(0, 3)) == 4  # one choice per value
    assert sampler.n_choices(IntDistribution(0, 100)) == 10
    assert sampler.n_choices(FloatDistribution(0.0, 1.0)) == 10
    assert sampler.n_choices(FloatDistribution(0.0, 1.0, step=0.25)) == 5
    assert sampler.n_choices(CategoricalDistribution(tuple(range(30)))) == 30


# --------------------------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("cmaes", "sigma0", 0),
        ("cmaes", "sigma0", "big"),
        ("cmaes", "population_size", 1),
        ("cmaes", "restarts", "bipop"),
        ("cmaes", "n_startup_trials", -1),
        ("evolution", "population_size", 0),
        ("evolution", "sample_size", 64),
        ("evolution", "n_mutations", 0),
        ("evolution", "mutation", "swap"),
        ("evolution", "sigma", -0.1),
        ("reinforce", "lr", 0.0),
        ("reinforce", "entropy", -1.0),
        ("reinforce", "n_bins", 1),
        ("reinforce", "window", 2.5),
        ("reinforce", "seed", "zero"),
    ],
)
def test_bad_options_raise_config_error_naming_the_option(name: str, key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=key):
        make_sampler({"name": name, key: value})


@pytest.mark.parametrize("name", ["cmaes", "evolution", "reinforce"])
def test_multi_objective_studies_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="one objective"):
        itero.create_study(
            f"mo-{name}", storage="sqlite://", objectives={"a": "minimize", "b": "maximize"}, sampler=name
        )
