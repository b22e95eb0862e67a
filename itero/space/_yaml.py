"""Declaring a search space as plain data (the ``space:`` block of a YAML study).

    >>> space = parse_space({"lr": {"low": 1e-4, "high": 1.0, "log": True}, "opt": {"choices": ["sgd", "adam"]}})
    >>> space["lr"]
    FloatDistribution(low=0.0001, high=1.0, log=True, step=None)

An entry with ``choices`` is categorical; ``type: int`` or ``type: float`` states the kind; otherwise a range whose
``low``, ``high`` (and ``step``) are all integers is an int range and anything else a float range. When the entry
overrides a parameter the objective suggests, it takes the kind of that suggestion (see ``apply_override``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from itero.exceptions import ConfigError, SpaceError
from itero.space._distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)

_KEYS = {"type", "low", "high", "log", "step", "choices"}


def parse_distribution(spec: Any, where: str) -> Distribution:
    """One entry of a ``space:`` block; errors name ``where`` (for example ``space.lr``)."""
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping such as {{low: 0.001, high: 0.1, log: true}} or {{choices: [a, b]}}, "
            f"got {spec!r}"
        )
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed keys are {sorted(_KEYS)}")
    kind = spec.get("type")
    if kind is None:
        if "choices" in spec:
            kind = "categorical"
        elif all(
            isinstance(spec.get(k, 1), int) and not isinstance(spec.get(k), bool) for k in ("low", "high", "step")
        ) and not spec.get("log", False):
            kind = "int"
        else:
            kind = "float"
    try:
        if kind == "categorical":
            if "choices" not in spec:
                raise ConfigError(f"{where}: a categorical parameter needs 'choices'")
            return CategoricalDistribution(
                tuple(spec["choices"]) if isinstance(spec["choices"], list) else spec["choices"]
            )
        for req in ("low", "high"):
            if req not in spec:
                raise ConfigError(f"{where}: missing key {req!r} (a {kind} range needs low and high)")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise ConfigError(f"{where}.log: expected true or false, got {log!r}")
        if kind == "int":
            return IntDistribution(spec["low"], spec["high"], log, spec.get("step", 1))
        if kind == "float":
            return FloatDistribution(spec["low"], spec["high"], log, spec.get("step"))
    except SpaceError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    raise ConfigError(f"{where}.type: got {kind!r}; expected one of 'float', 'int', 'categorical'")


def parse_space(spec: Any, where: str = "space") -> dict[str, Distribution]:
    """A whole ``space:`` mapping of parameter name to range."""
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping of parameter name to range, got {spec!r}")
    return {str(name): parse_distribution(entry, f"{where}.{name}") for name, entry in spec.items()}


def apply_override(name: str, suggested: Distribution, override: Distribution) -> Distribution:
    """The range to sample when the study overrides what the objective suggests for ``name``."""
    if isinstance(suggested, CategoricalDistribution) != isinstance(override, CategoricalDistribution):
        raise SpaceError(
            f"space override for {name!r} is {type(override).__name__} but the objective suggests "
            f"{type(suggested).__name__}; give choices for a categorical, low/high for a range"
        )
    if isinstance(suggested, IntDistribution) and isinstance(override, FloatDistribution):
        if not (float(override.low).is_integer() and float(override.high).is_integer()):
            raise SpaceError(f"space override for {name!r}: the objective suggests an int, got {override}")
        step = int(override.step) if override.step else suggested.step
        return IntDistribution(int(override.low), int(override.high), override.log, 1 if override.log else step)
    if isinstance(suggested, FloatDistribution) and isinstance(override, IntDistribution):
        return FloatDistribution(
            float(override.low),
            float(override.high),
            override.log,
            None if override.step == 1 else float(override.step),
        )
    return override
