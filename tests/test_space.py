import math

import pytest

from itero.exceptions import ConfigError, SpaceError
from itero.space import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    apply_override,
    check_compatible,
    distribution_from_dict,
    parse_space,
)


@pytest.mark.parametrize(
    "dist",
    [
        FloatDistribution(-3.0, 5.0),
        FloatDistribution(1e-5, 1.0, log=True),
        FloatDistribution(0.0, 1.0, step=0.25),
        IntDistribution(1, 10),
        IntDistribution(16, 512, log=True),
        IntDistribution(0, 100, step=5),
        CategoricalDistribution(("a", None, True, 3, 2.5)),
    ],
)
def test_unit_round_trip_and_bounds(dist):
    for i in range(101):
        u = i / 100
        value = dist.from_unit(u)
        assert dist.contains(value), (dist, u, value)
        assert dist.from_unit(dist.to_unit(value)) == pytest.approx(value) or value is None or value is True
        assert 0.0 <= dist.to_unit(value) <= 1.0
    assert distribution_from_dict(dist.to_dict()) == dist


def test_int_values_get_equal_mass():
    d = IntDistribution(1, 4)
    counts = {k: 0 for k in range(1, 5)}
    for i in range(4000):
        counts[d.from_unit((i + 0.5) / 4000)] += 1
    assert set(counts.values()) == {1000}


def test_categorical_keeps_types_apart():
    d = CategoricalDistribution((1, True, "1"))
    assert [d.from_unit(d.to_unit(c)) for c in d.choices] == [1, True, "1"]
    assert type(d.from_unit(d.to_unit(True))) is bool


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FloatDistribution(2.0, 1.0), "low must be <= high"),
        (lambda: FloatDistribution(0.0, 1.0, log=True), "log=True needs low > 0"),
        (lambda: FloatDistribution(0.0, math.inf), "high must be a finite number"),
        (lambda: IntDistribution(1, 2.5), "high must be an integer"),  # type: ignore[arg-type]
        (lambda: IntDistribution(1, 10, step=0), "step must be > 0"),
        (lambda: CategoricalDistribution(()), "choices must not be empty"),
        (lambda: CategoricalDistribution(([1],)), "choices must be None, bool, int, float or str"),  # type: ignore[arg-type]
    ],
)
def test_invalid_ranges_are_named(make, message):
    with pytest.raises(SpaceError, match=message):
        make()


def test_changed_range_names_the_parameter():
    with pytest.raises(SpaceError, match=r"parameter 'lr' was already suggested as float\[0.001, 0.1, log\]"):
        check_compatible("lr", FloatDistribution(1e-3, 0.1, log=True), FloatDistribution(1e-3, 1.0, log=True))


def test_parse_space_kinds_and_errors():
    space = parse_space(
        {"lr": {"low": 1e-4, "high": 1.0, "log": True}, "depth": {"low": 1, "high": 4}, "opt": ["sgd", "adam"]}
    )
    assert space["lr"] == FloatDistribution(1e-4, 1.0, log=True)
    assert space["depth"] == IntDistribution(1, 4)
    assert space["opt"] == CategoricalDistribution(("sgd", "adam"))
    with pytest.raises(ConfigError, match=r"space.lr: low must be <= high, got low=1.0 > high=0.1"):
        parse_space({"lr": {"low": 1.0, "high": 0.1}})
    with pytest.raises(ConfigError, match=r"space.lr: log=True needs low > 0, got low=0"):
        parse_space({"lr": {"low": 0, "high": 0.1, "log": True}})
    with pytest.raises(ConfigError, match=r"space.lr: unknown key 'hi'"):
        parse_space({"lr": {"low": 0, "hi": 0.1}})
    with pytest.raises(ConfigError, match=r"space.lr.type: got 'complex'"):
        parse_space({"lr": {"type": "complex", "low": 0, "high": 1}})


def test_override_takes_the_kind_of_the_suggestion():
    assert apply_override("w", IntDistribution(16, 512), FloatDistribution(32, 64)) == IntDistribution(32, 64)
    assert apply_override("lr", FloatDistribution(0, 1), IntDistribution(0, 1)) == FloatDistribution(0.0, 1.0)
    with pytest.raises(SpaceError, match="space override for 'opt'"):
        apply_override("opt", CategoricalDistribution(("a",)), FloatDistribution(0, 1))
