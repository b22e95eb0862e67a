"""Option checks shared by samplers and schedulers: one wording naming the owner, the option, the expectation and
the value."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from itero._validation import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_list,
    check_names,
    check_numbers,
    check_probability,
)
from itero.exceptions import ConfigError
from itero.samplers import SAMPLERS
from itero.schedulers import SCHEDULERS


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (lambda: check_int("asha", "eta", 1, 2), "asha option 'eta' must be an integer >= 2, got 1"),
        (lambda: check_int("o", "k", True, 0), "o option 'k' must be an integer >= 0, got True"),
        (lambda: check_int("o", "k", 2.0, 0), "o option 'k' must be an integer >= 0, got 2.0"),
        (lambda: check_int("o", "k", "x", 1, allow_none=True), "o option 'k' must be an integer >= 1 or null, got 'x'"),
        (lambda: check_int("o", "k", 9, 1, 5), "o option 'k' must be an integer in [1, 5], got 9"),
        (lambda: check_int("o", "k", 1.5, allow_none=True), "o option 'k' must be an integer or null, got 1.5"),
        (lambda: check_float("o", "k", 0, 0, low_open=True), "o option 'k' must be a finite number > 0, got 0"),
        (lambda: check_float("o", "k", math.inf, 0), "o option 'k' must be a finite number >= 0, got inf"),
        (lambda: check_float("o", "k", math.nan, 0), "o option 'k' must be a finite number >= 0, got nan"),
        (
            lambda: check_float("o", "k", 0.7, 0.0, 0.5, low_open=True),
            "o option 'k' must be a number in (0.0, 0.5], got 0.7",
        ),
        (lambda: check_float("o", "k", False, 0), "o option 'k' must be a finite number >= 0, got False"),
        (lambda: check_float("o", "k", "1", expected="a ratio"), "o option 'k' must be a ratio, got '1'"),
        (lambda: check_probability("o", "p", 2), "o option 'p' must be a number in [0, 1], got 2"),
        (lambda: check_bool("o", "b", 1), "o option 'b' must be true or false, got 1"),
        (lambda: check_bool("o", "b", "yes", allow_none=True), "o option 'b' must be true, false or null, got 'yes'"),
        (lambda: check_choice("o", "c", "bipop", ("ipop", None)), "o option 'c' must be 'ipop' or null, got 'bipop'"),
        (lambda: check_choice("o", "c", "x", ("a", "b", "c")), "o option 'c' must be 'a', 'b' or 'c', got 'x'"),
        (lambda: check_names("o", "n", "lr"), "o option 'n' must be a list of parameter names, got 'lr'"),
        (lambda: check_names("o", "n", ["lr", 1]), "o option 'n' must be a list of parameter names, got ['lr', 1]"),
        (
            lambda: check_numbers("o", "f", [], 0, low_open=True),
            "o option 'f' must be a non-empty list of finite numbers > 0, got []",
        ),
        (
            lambda: check_numbers("o", "f", [1.2, -1], 0, low_open=True),
            "must be a non-empty list of finite numbers > 0",
        ),
        (lambda: check_numbers("o", "f", 3, 0), "o option 'f' must be a non-empty list of finite numbers >= 0, got 3"),
        (lambda: check_list("o", "l", "abc"), "o option 'l' must be a non-empty list, got 'abc'"),
        (lambda: check_list("o", "l", []), "o option 'l' must be a non-empty list, got []"),
    ],
)
def test_messages_name_owner_option_expectation_and_value(check: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        check()
    assert message in str(info.value)


def test_valid_values_pass() -> None:
    check_int("o", "k", None, 1, allow_none=True)
    check_int("o", "k", 5, 1, 5)
    check_float("o", "k", 0.5, 0.0, 0.5, low_open=True)
    check_float("o", "k", math.inf, 0, finite=False)
    check_float("o", "k", 1, 0, low_open=True)
    check_probability("o", "p", 0)
    check_bool("o", "b", None, allow_none=True)
    check_choice("o", "c", None, ("ipop", None))
    check_names("o", "n", ("lr", "wd"))
    check_names("o", "n", None, allow_none=True)
    check_numbers("o", "f", (0.8, 1.2), 0, low_open=True)
    check_list("o", "l", [1])


@pytest.mark.parametrize("cls", sorted({**SAMPLERS, **SCHEDULERS}.values(), key=lambda c: c.__name__))
def test_constructors_check_their_options_through_the_shared_module(cls: type) -> None:
    """No sampler or scheduler keeps a checker of its own."""
    import inspect

    source = Path(inspect.getfile(cls)).read_text()
    assert not re.search(r"^def _?check", source, re.M), cls


def test_no_sampler_or_scheduler_module_defines_a_checker():
    import itero.samplers
    import itero.schedulers

    for package in (itero.samplers, itero.schedulers):
        for path in Path(package.__file__).parent.rglob("*.py"):
            assert not re.search(r"^\s*def _?check_?(int|float|bool|prob|choice|names)", path.read_text(), re.M), path
