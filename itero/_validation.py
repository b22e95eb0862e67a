"""Checks of the options of samplers and schedulers (and other components built from user settings).

Every failure is a :class:`~itero.exceptions.ConfigError` naming the owner, the option, what was expected and
the value given, in one wording: ``"<owner> option '<key>' must be <expected>, got <value!r>"``.

    >>> check_int("asha", "eta", 1, 2)
    Traceback (most recent call last):
    ...
    itero.exceptions.ConfigError: asha option 'eta' must be an integer >= 2, got 1

Each checker takes ``expected=`` to replace the generated description when the option means more than its type
(``"null (Optuna's default), a fraction in (0, 1] or a callable"``), and ``allow_none=True`` to accept
``None`` (described as ``null``, as in YAML).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from itero.exceptions import ConfigError


def invalid(owner: str, key: str, value: object, expected: str) -> ConfigError:
    """The error for option ``key`` of ``owner``: ``value`` is not ``expected`` (for checks of their own)."""
    return ConfigError(f"{owner} option {key!r} must be {expected}, got {value!r}")


def is_number(value: object) -> bool:
    """An int or a float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _or_null(text: str, allow_none: bool) -> str:
    return f"{text} or null" if allow_none else text


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def check_int(
    owner: str,
    key: str,
    value: object,
    low: int | None = None,
    high: int | None = None,
    *,
    allow_none: bool = False,
    expected: str | None = None,
) -> None:
    """An integer (not a bool) in ``[low, high]``; either bound may be None."""
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        raise invalid(
            owner, key, value, expected or _or_null("an integer" + _bounds(low, high, False, False), allow_none)
        )


def check_float(
    owner: str,
    key: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
    allow_none: bool = False,
    expected: str | None = None,
) -> None:
    """A number (an int or a float, not a bool) between ``low`` and ``high``, each bound closed unless
    ``low_open`` / ``high_open``; finite unless ``finite=False``. Described as ``a finite number > 0`` or, with
    both bounds, ``a number in (0, 1]``."""
    if value is None and allow_none:
        return
    ok = is_number(value)
    if ok:
        x = float(value)  # type: ignore[arg-type]
        ok = not math.isnan(x) and (not finite or math.isfinite(x))
        if ok and low is not None:
            ok = x > low if low_open else x >= low
        if ok and high is not None:
            ok = x < high if high_open else x <= high
    if not ok:
        if expected is None:
            both = low is not None and high is not None
            kind = "a finite number" if finite and not both else "a number"
            expected = _or_null(kind + _bounds(low, high, low_open, high_open), allow_none)
        raise invalid(owner, key, value, expected)


def check_probability(owner: str, key: str, value: object, *, allow_none: bool = False) -> None:
    """A number in ``[0, 1]``."""
    check_float(owner, key, value, 0, 1, allow_none=allow_none)


def check_bool(owner: str, key: str, value: object, *, allow_none: bool = False) -> None:
    """``True`` or ``False`` (not 0 or 1)."""
    if value is None and allow_none:
        return
    if not isinstance(value, bool):
        raise invalid(owner, key, value, "true, false or null" if allow_none else "true or false")


def _alternatives(choices: Sequence[object]) -> str:
    names = ["null" if c is None else repr(c) for c in choices]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def check_choice(owner: str, key: str, value: object, choices: Sequence[object]) -> None:
    """One of ``choices`` (``None`` among them reads ``null``): ``must be 'ipop' or null``."""
    if value not in choices:
        raise invalid(owner, key, value, _alternatives(choices))


def _is_list(value: object) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping))


def check_names(owner: str, key: str, value: object, *, allow_none: bool = False) -> None:
    """A list of strings (parameter names); a lone string is refused rather than read as its letters."""
    if value is None and allow_none:
        return
    if not _is_list(value) or not all(isinstance(v, str) for v in value):  # type: ignore[attr-defined]
        raise invalid(owner, key, value, _or_null("a list of parameter names", allow_none))


def check_numbers(
    owner: str,
    key: str,
    value: object,
    low: float | None = None,
    *,
    low_open: bool = False,
    expected: str | None = None,
) -> None:
    """A non-empty list of finite numbers above ``low`` (``>`` when ``low_open``)."""
    items = list(value) if _is_list(value) else []  # type: ignore[call-overload]
    for v in items:
        if not is_number(v) or not math.isfinite(v) or (low is not None and (v <= low if low_open else v < low)):
            items = []
            break
    if not items:
        raise invalid(
            owner, key, value, expected or "a non-empty list of finite numbers" + _bounds(low, None, low_open, False)
        )


def check_list(owner: str, key: str, value: object) -> None:
    """A non-empty list (or tuple) of values; a string is not one."""
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)) or not value:
        raise invalid(owner, key, value, "a non-empty list")
