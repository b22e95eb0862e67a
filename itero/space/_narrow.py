"""A parameter narrowed mid-study (``study.narrow``), as data: a range ``{"low": ..., "high": ...}``, a subset of
the choices ``{"choices": [...]}`` or a pinned value ``{"value": ...}``, cut out of the range a trial suggests.

    >>> narrow_distribution("lr", FloatDistribution(1e-4, 1.0, log=True), {"low": 1e-3, "high": 0.1})
    FloatDistribution(low=0.001, high=0.1, log=True, step=None)
    >>> narrow_distribution("width", IntDistribution(16, 512, step=16), {"low": 20, "high": 100})
    IntDistribution(low=32, high=96, log=False, step=16)
    >>> holds({"choices": ["adam"]}, "sgd"), holds({"low": 0.0, "high": 0.5}, 0.25), holds({"value": 3}, 3.0)
    (False, True, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from itero.exceptions import SpaceError
from itero.space._distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    describe_distribution,
    distribution_from_dict,
)


def same_value(a: Any, b: Any) -> bool:
    """``a == b`` where numbers compare by value (``3 == 3.0``) and anything else by type too (``True != 1``)."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    return bool(a == b) if numbers else type(a) is type(b) and a == b


def narrow_distribution(name: str, dist: Distribution, entry: Mapping[str, Any]) -> Distribution:
    """``dist`` cut down to a narrow's range or choices ``entry`` (a range keeps the kind, scale and grid of
    ``dist``); a SpaceError naming ``name`` when the kinds differ or nothing of ``dist`` is left."""
    if "choices" in entry:
        if not isinstance(dist, CategoricalDistribution):
            raise SpaceError(
                f"parameter {name!r} is narrowed to choices {list(entry['choices'])!r} but suggested as "
                f"{describe_distribution(dist)}"
            )
        kept = tuple(c for c in dist.choices if any(same_value(c, x) for x in entry["choices"]))
        if not kept:
            raise SpaceError(
                f"parameter {name!r}: none of its narrowed choices {list(entry['choices'])!r} is one of "
                f"{list(dist.choices)!r}, the choices it is suggested with"
            )
        return CategoricalDistribution(kept)
    if isinstance(dist, CategoricalDistribution):
        raise SpaceError(
            f"parameter {name!r} is narrowed to a range [{entry['low']}, {entry['high']}] but suggested as "
            f"{describe_distribution(dist)}"
        )
    low, high = max(dist.low, entry["low"]), min(dist.high, entry["high"])
    step = dist.step
    if step is not None and not dist.log:  # onto the grid of the suggested range
        low = dist.low + math.ceil((low - dist.low) / step - 1e-9) * step
    if isinstance(dist, IntDistribution):
        low, high = math.ceil(low), math.floor(high)
    if low > high:
        raise SpaceError(
            f"parameter {name!r}: its narrowed range [{entry['low']}, {entry['high']}] holds no value of "
            f"{describe_distribution(dist)}, the range it is suggested with"
        )
    if isinstance(dist, IntDistribution):
        return IntDistribution(int(low), int(high), dist.log, dist.step)
    return FloatDistribution(low, high, dist.log, dist.step)


def holds(entry: Mapping[str, Any], value: Any) -> bool:
    """Whether ``value`` lies in a narrow's range, choices or pinned value ``entry``."""
    if "value" in entry:
        return same_value(entry["value"], value)
    if "choices" in entry:
        return any(same_value(c, value) for c in entry["choices"])
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return bool(entry["low"] <= value <= entry["high"])


def describe_narrow(entry: Mapping[str, Any], base: Distribution | None = None) -> str:
    """A narrow as people write it: the narrowed range of ``base`` when it is known, else the bounds given.

    >>> describe_narrow({"low": 1e-3, "high": 0.1}, FloatDistribution(1e-4, 1.0, log=True))
    'float[0.001, 0.1, log]'
    >>> describe_narrow({"value": "adam"}), describe_narrow({"low": 1, "high": 4})
    ("pinned to 'adam'", '[1, 4]')
    """
    if "value" in entry:
        return f"pinned to {entry['value']!r}"
    if base is not None:
        try:
            return describe_distribution(narrow_distribution("", base, entry))
        except SpaceError:
            pass
    if "choices" in entry:
        return f"categorical{list(entry['choices'])!r}"
    return f"[{entry['low']}, {entry['high']}]"


def outside_reason(narrowed: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any]) -> str | None:
    """Why a trial with ``params`` is outside the narrowed parameters ``narrowed`` (name -> entry, with ``who``
    narrowed it and the ``base`` range it narrowed, when known), naming the first parameter out; None when it is
    inside (a parameter it lacks is no reason).

    >>> outside_reason({"lr": {"low": 0.001, "high": 0.1, "who": "ana"}}, {"lr": 0.5})
    'outside the narrowed space (narrowed by ana): lr=0.5 is not in [0.001, 0.1]'
    """
    for name, entry in narrowed.items():
        if name in params and not holds(entry, params[name]):
            base = distribution_from_dict(entry["base"]) if entry.get("base") else None
            where = describe_narrow(entry) if "value" in entry else f"in {describe_narrow(entry, base)}"
            who = entry.get("who", "someone")
            return f"outside the narrowed space (narrowed by {who}): {name}={params[name]!r} is not {where}"
    return None


def is_active(entry: Any) -> bool:
    """Whether a stored narrow ``entry`` narrows (a widened one keeps only the range to check later narrows by)."""
    return isinstance(entry, Mapping) and any(k in entry for k in ("low", "choices", "value"))


__all__ = ["describe_narrow", "holds", "is_active", "narrow_distribution", "outside_reason", "same_value"]
