"""Parameter kinds and their encoding to and from the unit interval.

Every distribution maps its values onto ``[0, 1]`` so that samplers can work in one cube::

    >>> d = FloatDistribution(1e-4, 1.0, log=True)
    >>> round(d.from_unit(d.to_unit(0.01)), 12)
    0.01
    >>> IntDistribution(16, 512, log=True).from_unit(0.0)
    16
    >>> CategoricalDistribution(("sgd", "adam")).from_unit(0.9)
    'adam'

Integers and categories get equal mass per value: an integer ``k`` owns ``[k - 1/2, k + 1/2]`` (on the log scale
when ``log=True``) and category ``i`` of ``n`` owns ``[i/n, (i+1)/n)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from itero.exceptions import SpaceError

CategoricalChoice = None | bool | int | float | str


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpaceError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class FloatDistribution:
    """A real number in ``[low, high]``; ``log=True`` samples uniformly in log space; ``step`` discretises."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        low = _check_number("low", self.low)
        high = _check_number("high", self.high)
        if low > high:
            raise SpaceError(f"low must be <= high, got low={self.low!r} > high={self.high!r}")
        if self.log and low <= 0:
            raise SpaceError(f"log=True needs low > 0, got low={self.low!r}")
        if self.step is not None:
            step = _check_number("step", self.step)
            if step <= 0:
                raise SpaceError(f"step must be > 0, got step={self.step!r}")
            if self.log:
                raise SpaceError("step and log=True cannot be combined")
            # Like Optuna: high is adjusted down to the last point of the grid.
            n = math.floor((high - low) / step + 1e-9)
            object.__setattr__(self, "high", low + n * step)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", float(self.high))

    def _lo_hi(self) -> tuple[float, float]:
        if self.log:
            return math.log(self.low), math.log(self.high)
        if self.step is not None:
            return self.low - self.step / 2, self.high + self.step / 2
        return self.low, self.high

    def to_unit(self, value: Any) -> float:
        lo, hi = self._lo_hi()
        if hi == lo:
            return 0.5
        x = math.log(value) if self.log else float(value)
        return min(1.0, max(0.0, (x - lo) / (hi - lo)))

    def from_unit(self, u: float) -> float:
        lo, hi = self._lo_hi()
        x = lo + min(1.0, max(0.0, float(u))) * (hi - lo)
        if self.log:
            x = math.exp(x)
        if self.step is not None:
            x = self.low + round((x - self.low) / self.step) * self.step
        return min(self.high, max(self.low, x))

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is not None:
            k = (value - self.low) / self.step
            return abs(k - round(k)) < 1e-6
        return True

    def is_single(self) -> bool:
        return self.low == self.high

    def to_dict(self) -> dict[str, Any]:
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log, "step": self.step}


@dataclass(frozen=True)
class IntDistribution:
    """An integer in ``[low, high]`` on a grid of ``step``; ``log=True`` samples uniformly in log space."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        for key in ("low", "high", "step"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    object.__setattr__(self, key, int(value))
                else:
                    raise SpaceError(f"{key} must be an integer, got {value!r}")
        if self.low > self.high:
            raise SpaceError(f"low must be <= high, got low={self.low!r} > high={self.high!r}")
        if self.log and self.low <= 0:
            raise SpaceError(f"log=True needs low > 0, got low={self.low!r}")
        if self.step <= 0:
            raise SpaceError(f"step must be > 0, got step={self.step!r}")
        if self.log and self.step != 1:
            raise SpaceError("step != 1 and log=True cannot be combined")
        n = (self.high - self.low) // self.step
        object.__setattr__(self, "high", self.low + n * self.step)

    def _lo_hi(self) -> tuple[float, float]:
        if self.log:
            return math.log(self.low - 0.5), math.log(self.high + 0.5)
        return self.low - self.step / 2, self.high + self.step / 2

    def to_unit(self, value: Any) -> float:
        lo, hi = self._lo_hi()
        x = math.log(value) if self.log else float(value)
        return min(1.0, max(0.0, (x - lo) / (hi - lo)))

    def from_unit(self, u: float) -> int:
        lo, hi = self._lo_hi()
        x = lo + min(1.0, max(0.0, float(u))) * (hi - lo)
        if self.log:
            x = math.exp(x)
        k = round((x - self.low) / self.step)
        return int(min(self.high, max(self.low, self.low + k * self.step)))

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return self.low <= value <= self.high and (value - self.low) % self.step == 0

    def is_single(self) -> bool:
        return self.low == self.high

    def to_dict(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log, "step": self.step}


@dataclass(frozen=True)
class CategoricalDistribution:
    """One of a fixed tuple of choices (None, bool, int, float or str)."""

    choices: tuple[CategoricalChoice, ...]

    def __post_init__(self) -> None:
        if isinstance(self.choices, (str, bytes)) or not isinstance(self.choices, Sequence):
            raise SpaceError(f"choices must be a list, got {self.choices!r}")
        choices = tuple(self.choices)
        if not choices:
            raise SpaceError("choices must not be empty")
        for c in choices:
            if c is not None and not isinstance(c, (bool, int, float, str)):
                raise SpaceError(f"choices must be None, bool, int, float or str, got {c!r} ({type(c).__name__})")
        if len(set(map(repr, choices))) != len(choices):
            raise SpaceError(f"choices must be distinct, got {list(choices)!r}")
        object.__setattr__(self, "choices", choices)

    def index(self, value: Any) -> int:
        for i, c in enumerate(self.choices):
            if c == value and type(c) is type(value):
                return i
        for i, c in enumerate(self.choices):
            if c == value:
                return i
        raise SpaceError(f"{value!r} is not one of the choices {list(self.choices)!r}")

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> CategoricalChoice:
        n = len(self.choices)
        return self.choices[min(n - 1, max(0, int(float(u) * n)))]

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except SpaceError:
            return False
        return True

    def is_single(self) -> bool:
        return len(self.choices) == 1

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)}


Distribution = FloatDistribution | IntDistribution | CategoricalDistribution


def distribution_from_dict(data: dict[str, Any]) -> Distribution:
    """Inverse of ``Distribution.to_dict()``."""
    kind = data.get("type")
    if kind == "float":
        return FloatDistribution(data["low"], data["high"], bool(data.get("log", False)), data.get("step"))
    if kind == "int":
        return IntDistribution(data["low"], data["high"], bool(data.get("log", False)), data.get("step", 1))
    if kind == "categorical":
        return CategoricalDistribution(tuple(data["choices"]))
    raise SpaceError(f"unknown distribution type {kind!r}; expected float, int or categorical")


def check_compatible(name: str, old: Distribution, new: Distribution) -> None:
    """Raise when the same parameter name is suggested again with a different range."""
    if old != new:
        raise SpaceError(
            f"parameter {name!r} was already suggested as {describe_distribution(old)} and is now suggested as "
            f"{describe_distribution(new)}; a parameter name must keep one range within a trial"
        )


def describe_distribution(d: Distribution) -> str:
    """A range as people write it.

    >>> describe_distribution(FloatDistribution(1e-4, 1.0, log=True)), describe_distribution(IntDistribution(1, 8))
    ('float[0.0001, 1.0, log]', 'int[1, 8]')
    """
    if isinstance(d, CategoricalDistribution):
        return f"categorical{list(d.choices)!r}"
    kind = "float" if isinstance(d, FloatDistribution) else "int"
    extra = ", log" if d.log else ""
    if d.step not in (None, 1):
        extra += f", step={d.step}"
    return f"{kind}[{d.low}, {d.high}{extra}]"
