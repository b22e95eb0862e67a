"""The ``>>>`` examples in the package's docstrings run and print what they show (examples written as plain
code, not as ``>>>`` sessions, are not run)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import itero

MODULES = sorted(m.name for m in pkgutil.walk_packages(itero.__path__, "itero.") if ".migrations" not in m.name)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail: run doctest on it"
