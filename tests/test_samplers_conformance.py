"""Every sampler honours the sampler contract (itero/samplers/_base.py).

The tests drive samplers directly, the way a trial does: ``sample_joint`` once at the start of a trial, then
``sample`` for each parameter the joint proposal did not cover, with a ``History`` and ``FrozenTrial``s built by
hand. They are parametrised over ``itero.samplers.SAMPLERS``, so a new sampler is covered as soon as it is
registered, plus the TPE variants that exercise its model code on small histories.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from itero._spec import spec_of
from itero.exceptions import ConfigError
from itero.samplers import SAMPLERS, TPE, BaseSampler, make_sampler
from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History, TrialState

SamplerFactory = Callable[[int | None], BaseSampler]


def _registered(name: str) -> SamplerFactory:
    return lambda seed: make_sampler({"name": name, "seed": seed})


FACTORIES: list[Any] = [pytest.param(_registered(name), id=name) for name in SAMPLERS]
FACTORIES += [
    pytest.param(lambda seed: TPE(seed=seed, multivariate=True), id="tpe-multivariate"),
    # Small startup phases so that the model (not the uniform start) runs on the small histories below.
    pytest.param(lambda seed: TPE(seed=seed, n_startup_trials=1), id="tpe-eager"),
    pytest.param(lambda seed: TPE(seed=seed, n_startup_trials=1, multivariate=True), id="tpe-multivariate-eager"),
    pytest.param(
        lambda seed: TPE(seed=seed, n_startup_trials=0, constant_liar=False, consider_endpoints=True, gamma=0.5),
        id="tpe-options",
    ),
]

SPACE: dict[str, Distribution] = {
    "f": FloatDistribution(-3.0, 5.0),
    "logf": FloatDistribution(1e-5, 1.0, log=True),
    "stepf": FloatDistribution(0.0, 1.0, step=0.3),
    "i": IntDistribution(1, 10),
    "logi": IntDistribution(16, 512, log=True),
    "stepi": IntDistribution(0, 100, step=5),
    "cat": CategoricalDistribution(("a", None, True, 3, 2.5)),
    "flag": CategoricalDistribution((False, True)),
    "none_or_int": CategoricalDistribution((None, 0, 1)),
}
COND = FloatDistribution(0.1, 10.0, log=True)  # only suggested when cat == "a"


def check_value(name: str, dist: Distribution, value: Any) -> None:
    assert dist.contains(value), f"{name}={value!r} is outside {dist}"
    if isinstance(dist, FloatDistribution):
        assert type(value) is float, f"{name}={value!r} should be a float"
        assert math.isfinite(value) and dist.low <= value <= dist.high
    elif isinstance(dist, IntDistribution):
        assert type(value) is int, f"{name}={value!r} should be an int"
        assert dist.low <= value <= dist.high and (value - dist.low) % dist.step == 0
    else:
        assert any(value is c or (type(value) is type(c) and value == c) for c in dist.choices), (
            f"{name}={value!r} ({type(value).__name__}) is not one of {dist.choices!r} with its type"
        )


def score(params: dict[str, Any]) -> float:
    """A cheap objective over SPACE (and COND) with a clear optimum."""
    loss = (params.get("f", 0.0) - 1.0) ** 2 + (math.log10(params.get("logf", 1e-3)) + 3.0) ** 2
    loss += abs(params.get("i", 5) - 7) + (0.0 if params.get("cat") == "a" else 1.0)
    if "cond" in params:
        loss += math.log(params["cond"]) ** 2
    return loss


class Driver:
    """Runs trials against a sampler the way ``Trial._suggest`` does, and records them in a History."""

    def __init__(self, sampler: BaseSampler, directions: dict[str, str] | None = None) -> None:
        self.sampler = sampler
        self.history = History(directions or {"loss": "minimize"}, "conformance")
        self.number = 0

    def add(self, state: TrialState, params: dict[str, Any], metrics: dict[str, float] | None = None, **kw: Any):
        dists = {k: (COND if k == "cond" else SPACE[k]) for k in params}
        t = FrozenTrial(
            id=self.number + 1,
            number=self.number,
            state=state,
            params=dict(params),
            distributions=dists,
            metrics=dict(metrics or {}),
            **kw,
        )
        self.history.upsert([t])
        self.number += 1
        return t

    def suggest(self, number: int, names: list[str] | None = None, conditional: bool = True) -> dict[str, Any]:
        """Suggest ``names`` (default: all of SPACE, plus ``cond`` when cat == "a") for trial ``number``."""
        names = list(SPACE) if names is None else names
        params: dict[str, Any] = {}
        dists: dict[str, Distribution] = {}

        def snapshot() -> FrozenTrial:
            return FrozenTrial(
                id=number + 1, number=number, state=TrialState.RUNNING, params=dict(params), distributions=dict(dists)
            )

        joint = self.sampler.sample_joint(self.history, snapshot())
        assert isinstance(joint, dict)
        todo = [(n, SPACE[n]) for n in names]
        while todo:
            name, dist = todo.pop(0)
            value = joint[name] if name in joint else self.sampler.sample(self.history, snapshot(), name, dist)
            check_value(name, dist, value)
            params[name] = value
            dists[name] = dist
            if conditional and name == "cat" and value == "a" and type(value) is str:
                todo.append(("cond", COND))
        return params

    def run(self, n_trials: int, directions: int = 1, faults: bool = False) -> list[dict[str, Any]]:
        """A sequential loop: each trial starts RUNNING in the history, is suggested, then finishes."""
        out = []
        for _ in range(n_trials):
            number = self.number
            self.add(TrialState.RUNNING, {})
            self.number = number
            params = self.suggest(number)
            loss = score(params)
            if faults and number % 7 == 3:
                self.add(TrialState.FAILED, params)
            elif faults and number % 5 == 4:
                self.add(TrialState.PRUNED, params, {"loss": loss * 2}, step=3, reports={3: {"loss": loss * 2}})
            else:
                metrics = {"loss": loss} if directions == 1 else {"loss": loss, "size": -abs(params["f"])}
                self.add(TrialState.COMPLETE, params, metrics)
            out.append(params)
        return out


def finished_history(driver: Driver, n: int, seed: int = 0) -> None:
    """``n`` COMPLETE trials with random parameters (some with the conditional parameter)."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        params = {k: d.from_unit(float(rng.random())) for k, d in SPACE.items()}
        if params["cat"] == "a":
            params["cond"] = COND.from_unit(float(rng.random()))
        driver.add(TrialState.COMPLETE, params, {"loss": score(params)})


@pytest.fixture(params=FACTORIES)
def factory(request: pytest.FixtureRequest) -> SamplerFactory:
    return request.param


@pytest.mark.parametrize("n_finished", [0, 1, 2, 15])
def test_values_in_bounds_and_of_the_right_type(factory: SamplerFactory, n_finished: int) -> None:
    driver = Driver(factory(0))
    finished_history(driver, n_finished)
    for number in range(n_finished, n_finished + 6):
        driver.suggest(number)


def test_unseeded_samplers_work(factory: SamplerFactory) -> None:
    driver = Driver(factory(None))
    finished_history(driver, 12)
    for number in range(12, 16):
        driver.suggest(number)


def test_conditional_parameters(factory: SamplerFactory) -> None:
    driver = Driver(factory(1))
    finished_history(driver, 14, seed=3)
    # Trials that lack most parameters, and a parameter no finished trial has.
    driver.add(TrialState.COMPLETE, {"f": 0.5}, {"loss": 0.1})
    driver.add(TrialState.COMPLETE, {"i": 3, "cat": "a", "cond": 2.0}, {"loss": 0.2})
    for number in range(driver.number, driver.number + 5):
        driver.suggest(number)
        driver.suggest(number, names=["cat", "i"], conditional=False)
        snap = FrozenTrial(id=number + 1, number=number, state=TrialState.RUNNING)
        new = FloatDistribution(-1.0, 1.0)
        check_value("never_seen", new, driver.sampler.sample(driver.history, snap, "never_seen", new))


def test_same_seed_same_history_same_values(factory: SamplerFactory) -> None:
    a, b = Driver(factory(42)), Driver(factory(42))
    finished_history(a, 20, seed=5)
    finished_history(b, 20, seed=5)
    first = [a.suggest(n) for n in range(20, 26)]
    assert first == [b.suggest(n) for n in range(20, 26)]
    # Different trial numbers give (generally) different values.
    assert len({p["f"] for p in first}) > 1
    # A different seed gives a different stream (the grid walks by number: it ignores the seed).
    if driver_uses_seed(factory):
        c = Driver(factory(43))
        finished_history(c, 20, seed=5)
        assert [c.suggest(n) for n in range(20, 26)] != first


def driver_uses_seed(factory: SamplerFactory) -> bool:
    return factory(0).name != "grid"


def test_proposals_do_not_depend_on_what_the_sampler_saw_before(factory: SamplerFactory) -> None:
    """A sampler that followed the study trial by trial proposes what a fresh one (another worker) would."""
    seasoned = Driver(factory(7))
    seasoned.run(25, faults=True)
    fresh = Driver(factory(7))
    fresh.history = seasoned.history
    for number in (25, 26, 30):
        assert seasoned.suggest(number) == fresh.suggest(number)


def test_failed_running_waiting_and_pruned_trials_do_not_break_it(factory: SamplerFactory) -> None:
    driver = Driver(factory(3))
    finished_history(driver, 12, seed=1)
    some = {"f": 0.0, "i": 4, "cat": "a", "cond": 1.0}
    driver.add(TrialState.FAILED, dict(some), error="boom")
    driver.add(TrialState.FAILED, {})
    driver.add(TrialState.RUNNING, dict(some), {"loss": 3.0}, step=2, reports={1: {"loss": 4.0}, 2: {"loss": 3.0}})
    driver.add(TrialState.RUNNING, {"f": 1.5})
    driver.add(TrialState.WAITING, {})
    driver.add(TrialState.PAUSED, dict(some), {"loss": 1.0}, step=3, reports={3: {"loss": 1.0}})
    driver.add(TrialState.PRUNED, dict(some), {"loss": 9.0}, step=1, reports={1: {"loss": 9.0}})
    driver.add(TrialState.PRUNED, {"f": -2.0})  # no reports at all
    driver.add(TrialState.COMPLETE, dict(some), {"loss": float("nan")})
    driver.add(TrialState.COMPLETE, dict(some), {})  # no metric
    for number in range(driver.number, driver.number + 5):
        driver.suggest(number)


def test_multi_objective_works_or_is_refused_clearly(factory: SamplerFactory) -> None:
    sampler = factory(0)
    directions = {"loss": "minimize", "size": "maximize"}
    try:
        sampler.check_objectives(directions)
    except ConfigError as exc:
        assert not sampler.supports_multi_objective
        assert sampler.name in str(exc) and "objective" in str(exc)
        return
    assert sampler.supports_multi_objective
    driver = Driver(sampler, directions)
    driver.run(30, directions=2)


def test_single_objective_is_always_accepted(factory: SamplerFactory) -> None:
    factory(0).check_objectives({"loss": "minimize"})


def test_sixty_trials_stay_in_bounds(factory: SamplerFactory) -> None:
    driver = Driver(factory(11))
    trials = driver.run(60, faults=True)
    assert len(trials) == 60
    assert driver.history.completed()


def test_spec_round_trip(factory: SamplerFactory) -> None:
    """The store keeps ``spec_of(sampler)`` as JSON and rebuilds the sampler from it."""
    sampler = factory(5)
    spec = json.loads(json.dumps(spec_of(sampler)))
    again = make_sampler(spec)
    assert type(again) is type(sampler) and repr(again) == repr(sampler)


def test_is_exhausted_is_a_bool(factory: SamplerFactory) -> None:
    driver = Driver(factory(0))
    assert driver.sampler.is_exhausted(driver.history) in (True, False)
    finished_history(driver, 3)
    assert driver.sampler.is_exhausted(driver.history) in (True, False)
