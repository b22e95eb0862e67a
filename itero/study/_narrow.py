"""Narrow a parameter's range or pin its value mid-study, and undo it (``study.narrow``, ``study.widen``, also
``itero narrow``).

    study.narrow("lr", low=1e-3, high=0.1)               # a range inside the one the study searched
    study.narrow("lr", high=0.1)                         # one bound; the other stays
    study.narrow("optimizer", choices=["adam", "adamw"]) # a subset of the choices
    study.narrow("width", value=256)                     # pin it: every new trial runs width=256
    study.widen("lr")                                    # undo: the study's own range again
    study.narrowed["width"].describe()                   # 'pinned to 256 (of int[16, 512, log]), by ana'

A narrow is stored in the study's settings (``config["narrowed"]``), on top of its ``space:`` and ``params:``: a
range or choices cut down the range each proposal is drawn from (as a ``space:`` entry would), a pin fixes the
value (as ``params:`` would). Every worker of the study, in any process or machine, and those already running,
applies it from its next proposal: the store counts changes of the settings (``config_version``) and a worker
reads the count with the budget it reads anyway, so it reloads the settings only after a narrow.

Finished trials keep their results and running ones finish as they are. PAUSED and WAITING trials outside the
new range are retired at once (PRUNED, "outside the narrowed space (narrowed by WHO): ..."); a trial running then
that pauses outside it later is retired by the worker that would have resumed it (a person's own resume wins).

The bounds are checked against the range the study searched before its first narrow of that parameter (its
latest trial's, else its ``space:`` entry), which ``widen`` restores: a narrow stays inside it. A parameter no
trial has suggested yet may be narrowed, with a warning, once both bounds (or the choices) are given.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from itero.exceptions import ConfigError, SpaceError
from itero.space import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    describe_distribution,
    describe_narrow,
    distribution_from_dict,
    is_active,
    narrow_distribution,
    outside_reason,
    same_value,
)
from itero.store import ActionRecord, Store
from itero.store._cache import StudyCache
from itero.study._steer import check_who


class _Study(Protocol):
    name: str
    id: int
    store: Store
    params: dict[str, Any]
    _cache: StudyCache

    @property
    def config(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Narrowing:
    """A parameter narrowed mid-study: its narrowed ``distribution`` (for a pin, ``pinned`` and its ``value``),
    the ``base`` range ``widen`` restores (None when no trial had suggested it) and ``who`` narrowed it."""

    name: str
    distribution: Distribution | None
    base: Distribution | None
    who: str
    pinned: bool = False
    value: Any = None

    def describe(self) -> str:
        """``float[0.001, 0.1, log] (of float[0.0001, 1.0, log]), by ana``."""
        if self.pinned or self.distribution is None:
            text = f"pinned to {self.value!r}" if self.pinned else "narrowed"
        else:
            text = describe_distribution(self.distribution)
        of = f" (of {describe_distribution(self.base)})" if self.base is not None else ""
        return f"{text}{of}, by {self.who}"


def narrow(
    study: _Study,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: Sequence[Any] | None = None,
    value: Any = None,
    who: str | None = None,
) -> ActionRecord:
    """Narrow parameter ``name`` for every proposal from now on: to ``[low, high]`` (one bound alone keeps the
    other, as narrowed or as the study searched it), to a subset of its ``choices``, or pin it to ``value`` (one
    of the three; to pin None, give ``choices=[None]``). Retires the PAUSED and WAITING trials outside it; returns
    the recorded ``narrow`` action (``details``: ``param``, ``old``, ``new``, ``retired``). A ConfigError names
    the bad value and what is allowed: a range must stay inside the one the study searched, on its kind's terms
    (integers for an int, > 0 on a log scale).

        study.narrow("lr", low=1e-3, high=0.1, who="ana")
    """
    who = check_who(who)
    _check_name("narrow", name)
    config = study.config
    fixed = {**config.get("params", {}), **study.params}
    if name in fixed:
        raise ConfigError(
            f"narrow: parameter {name!r} is fixed to {fixed[name]!r} by the study's params:; a narrow cannot change it"
        )
    stored = config.get("narrowed", {}).get(name) or {}
    base = _base(study, name, stored, config)
    forms = {
        "low/high": low is not None or high is not None,
        "choices": choices is not None,
        "value": value is not None,
    }
    given = [form for form, there in forms.items() if there]
    if len(given) != 1:
        both = f" (got {' and '.join(given)})" if given else ""
        raise ConfigError(
            f"narrow: give one of low/high, choices or value for {name!r}{both}; study.widen({name!r}) undoes a narrow"
        )
    if value is not None:
        entry: dict[str, Any] = {"value": _pin(name, value, base)}
    elif choices is not None:
        entry = {"choices": _choices(name, choices, base)}
    else:
        if "low" in stored:  # one bound alone keeps the other of the current narrow
            low, high = stored["low"] if low is None else low, stored["high"] if high is None else high
        entry = _range(name, low, high, base)
    if base is None:
        _warn_unknown(study, name)
    old = describe_narrow(stored, base) if is_active(stored) else _describe_base(base)
    kept = {**entry, "who": who, "base": None if base is None else base.to_dict()}
    details = {"param": name, "old": old, "new": describe_narrow(entry, base)}
    record = study.store.narrow_param(
        study.id, name, kept, "narrow", who, details, lambda params: outside_reason({name: kept}, params)
    )
    study._cache.refresh()
    return record


def widen(study: _Study, name: str, who: str | None = None) -> ActionRecord:
    """Undo the narrow of parameter ``name``: proposals come from the range the study searched before it again.
    Returns the recorded ``widen`` action. Retired trials stay retired (enqueue their parameters to run them).

        study.widen("lr")
    """
    who = check_who(who)
    _check_name("widen", name)
    narrowed = study.config.get("narrowed", {})
    stored = narrowed.get(name)
    if not is_active(stored):
        active = [n for n, e in narrowed.items() if is_active(e)]
        raise ConfigError(
            f"widen: parameter {name!r} of study {study.name!r} is not narrowed "
            f"(narrowed ones: {', '.join(map(repr, active)) or 'none'})"
        )
    base = None if stored.get("base") is None else distribution_from_dict(stored["base"])
    new = "the objective's range" if base is None else describe_distribution(base)
    details = {"param": name, "old": describe_narrow(stored, base), "new": new}
    record = study.store.narrow_param(study.id, name, {"base": stored.get("base")}, "widen", who, details)
    study._cache.refresh()
    return record


def narrowed(study: _Study) -> dict[str, Narrowing]:
    """The parameters narrowed or pinned now, by name (``study.narrowed``)."""
    out = {}
    for name, entry in study.config.get("narrowed", {}).items():
        if not is_active(entry):
            continue
        base = None if entry.get("base") is None else distribution_from_dict(entry["base"])
        who = str(entry.get("who", ""))
        if "value" in entry:
            out[name] = Narrowing(name, None, base, who, pinned=True, value=entry["value"])
        else:
            out[name] = Narrowing(name, _distribution(name, entry, base), base, who)
    return out


# ---------------------------------------------------------------------------------------------- checks
def _check_name(what: str, name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{what}: the parameter name must be a non-empty string, got {name!r}")


def _base(study: _Study, name: str, stored: Mapping[str, Any], config: Mapping[str, Any]) -> Distribution | None:
    """The range the study searched for ``name`` before its first narrow: kept with the narrow, else the latest
    trial's, else its ``space:`` entry; None when nothing suggested it yet."""
    if stored.get("base") is not None:
        return distribution_from_dict(stored["base"])
    for t in reversed(study._cache.refresh().trials):
        if name in t.distributions:
            return t.distributions[name]
    spec = config.get("space", {}).get(name)
    return None if spec is None else distribution_from_dict(spec)


def _describe_base(base: Distribution | None) -> str:
    return "not suggested yet" if base is None else describe_distribution(base)


def _number(name: str, key: str, value: Any) -> float | int:
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"narrow: {name}: {key} must be a finite number, got {value!r}")
    return value


def _scalar(name: str, key: str, value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if value is not None and not isinstance(value, (bool, int, float, str)):
        raise ConfigError(
            f"narrow: {name}: {key} must be a number, a string, true/false or null, "
            f"got {type(value).__name__} {value!r}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"narrow: {name}: {key} is {value}; give a finite number")
    return value


def _pin(name: str, value: Any, base: Distribution | None) -> Any:
    value = _scalar(name, "value", value)
    if base is None:
        return value
    if isinstance(base, CategoricalDistribution):
        for c in base.choices:
            if same_value(c, value):
                return c
        raise ConfigError(f"narrow: {name}: value={value!r} is not one of its choices {list(base.choices)!r}")
    if isinstance(base, IntDistribution) and isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(base, FloatDistribution) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not base.contains(value):
        kind = "an integer " if isinstance(base, IntDistribution) and not isinstance(value, int) else ""
        raise ConfigError(
            f"narrow: {name}: value={value!r} is not {kind}in {describe_distribution(base)}, the range the study "
            "searches; a pin stays inside it"
        )
    return value


def _choices(name: str, choices: Any, base: Distribution | None) -> list[Any]:
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence) or not choices:
        raise ConfigError(f"narrow: {name}: choices must be a non-empty list such as ['adam', 'sgd'], got {choices!r}")
    given = [_scalar(name, "choices", c) for c in choices]
    if any(same_value(a, b) for i, a in enumerate(given) for b in given[:i]):
        raise ConfigError(f"narrow: {name}: choices must be distinct, got {given!r}")
    if base is None:
        return given
    if not isinstance(base, CategoricalDistribution):
        raise ConfigError(
            f"narrow: {name} is a range, {describe_distribution(base)}: give low and high (or value), not choices"
        )
    bad = [c for c in given if not any(same_value(c, b) for b in base.choices)]
    if bad:
        raise ConfigError(
            f"narrow: {name}: {bad!r} not among its choices {list(base.choices)!r}; give a subset of them"
        )
    return [next(b for b in base.choices if same_value(c, b)) for c in given]


def _range(name: str, low: Any, high: Any, base: Distribution | None) -> dict[str, Any]:
    lo = None if low is None else _number(name, "low", low)
    hi = None if high is None else _number(name, "high", high)
    if isinstance(base, CategoricalDistribution):
        raise ConfigError(
            f"narrow: {name} is categorical {list(base.choices)!r}: give choices (a subset) or value, not low/high"
        )
    if base is None:
        if lo is None or hi is None:
            raise ConfigError(
                f"narrow: no trial has suggested {name!r} yet, so its range is unknown: give low and high"
            )
    else:
        lo, hi = base.low if lo is None else lo, base.high if hi is None else hi
        if isinstance(base, IntDistribution):
            for key, v in (("low", lo), ("high", hi)):
                if not float(v).is_integer():
                    raise ConfigError(
                        f"narrow: {name} is an int parameter, {describe_distribution(base)}: {key} must be an "
                        f"integer, got {v!r}"
                    )
            lo, hi = int(lo), int(hi)
        else:
            lo, hi = float(lo), float(hi)
    assert lo is not None and hi is not None
    if base is not None:
        if base.log and lo <= 0:
            raise ConfigError(
                f"narrow: {name} is searched on a log scale, {describe_distribution(base)}: low must be > 0, got {lo!r}"
            )
        for key, v in (("low", lo), ("high", hi)):
            if not base.low <= v <= base.high:
                raise ConfigError(
                    f"narrow: {name}: {key}={v!r} is outside {describe_distribution(base)}, the range the study "
                    "searches; a narrow stays inside it (widen the objective's range, or the study's space:, for more)"
                )
    if lo >= hi:
        if lo == hi:
            raise ConfigError(f"narrow: {name}: low={lo!r} equals high; to pin one value give value={lo!r}")
        raise ConfigError(f"narrow: {name}: low={lo!r} must be below high={hi!r}")
    if base is not None:
        try:
            narrow_distribution(name, base, {"low": lo, "high": hi})
        except SpaceError as exc:
            raise ConfigError(f"narrow: {exc}") from None
    return {"low": lo, "high": hi}


def _distribution(name: str, entry: Mapping[str, Any], base: Distribution | None) -> Distribution | None:
    """A narrow's range as a distribution (of ``base``'s kind when it is known)."""
    try:
        if base is not None:
            return narrow_distribution(name, base, entry)
        if "choices" in entry:
            return CategoricalDistribution(tuple(entry["choices"]))
        if all(isinstance(entry[k], int) for k in ("low", "high")):
            return IntDistribution(entry["low"], entry["high"])
        return FloatDistribution(entry["low"], entry["high"])
    except SpaceError:
        return None


def _warn_unknown(study: _Study, name: str) -> None:
    known = sorted(set().union(*(t.params for t in study._cache.history.trials)))
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    warnings.warn(
        f"narrow: no trial of study {study.name!r} has suggested {name!r} yet{hint}; the narrow applies once one "
        f"does (its parameters so far: {', '.join(known) or 'none'})",
        UserWarning,
        stacklevel=3,
    )


__all__ = ["Narrowing", "narrow", "narrowed", "widen"]
