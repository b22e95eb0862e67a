"""``import itero`` and the ``itero`` command's ``--help`` do not load the engine (numpy, scipy, SQLAlchemy, the
store, the samplers…): the public names of ``itero`` are imported on first use, the commands import what they
need when they run. Each check runs in a fresh interpreter, where nothing is imported yet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import itero

ROOT = Path(itero.__file__).resolve().parents[1]  # the child imports this same tree
HEAVY_PACKAGES = ("numpy", "scipy", "sqlalchemy", "alembic", "yaml", "fsspec", "torch")
ENGINE = ("study", "store", "executors", "samplers", "schedulers", "space", "trial", "tracking", "config", "tasks")
ENGINE += ("report", "export", "plot", "hypergrad", "metrics")

_LOADED = f"""
import sys

def heavy():
    packages = {HEAVY_PACKAGES!r}
    engine = tuple("itero." + name for name in {ENGINE!r})
    return sorted(
        m for m in sys.modules if m.split(".")[0] in packages or any(m == e or m.startswith(e + ".") for e in engine)
    )
"""


def _child(code: str) -> Any:
    """Run ``code`` in a new interpreter and return the JSON it prints."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", _LOADED + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_import_itero_and_its_cli_loads_no_engine():
    loaded = _child(
        """
        import json
        import itero
        after_itero = heavy()
        import itero.cli
        print(json.dumps({"itero": after_itero, "itero.cli": heavy()}))
        """
    )
    assert loaded == {"itero": [], "itero.cli": []}


def test_help_loads_no_engine():
    loaded = _child(
        """
        import json
        from typer.testing import CliRunner
        from itero.cli import app

        out = {}
        for args in (["--help"], [], ["run", "--help"], ["ls", "--help"], ["show", "--help"], ["best", "--help"],
                     ["report", "--help"], ["tasks", "--help"], ["export", "mlflow", "--help"],
                     ["export", "tensorboard", "--help"]):
            result = CliRunner().invoke(app, args)
            assert "Usage:" in result.output, (args, result.output)
            out[" ".join(args)] = heavy()
        print(json.dumps(out))
        """
    )
    assert {args: [] for args in loaded} == loaded


def test_python_m_itero_cli_prints_the_help():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "itero.cli", "--help"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "itero: hyper-parameter search" in done.stdout and "report" in done.stdout


def test_lazy_names_are_the_objects_of_their_modules():
    loaded = _child(
        """
        import json
        import itero
        tpe = repr(itero.samplers.TPE(seed=0))  # a subpackage as an attribute, right after `import itero`
        from itero import *  # every name of __all__ resolves
        import itero.executors, itero.study, itero.trial, itero.tracking, itero._defaults
        same = {
            "Study": itero.Study is itero.study.Study,
            "create_study": create_study is itero.study.create_study,
            "load_study": load_study is itero.study.load_study,
            "Trial": Trial is itero.executors.Trial,
            "FrozenTrial": FrozenTrial is itero.trial.FrozenTrial,
            "TrialState": TrialState is itero.trial.TrialState,
            "track_dataset": track_dataset is itero.tracking.track_dataset,
            "DEFAULT_STORAGE": itero.study.DEFAULT_STORAGE == itero._defaults.DEFAULT_STORAGE == "sqlite:///itero.db",
        }
        print(json.dumps({"tpe": tpe, "same": same, "dir": sorted(set(itero.__all__) - set(dir(itero)))}))
        """
    )
    assert loaded["tpe"].startswith("TPE(")
    assert all(loaded["same"].values()), loaded["same"]
    assert loaded["dir"] == []


def test_the_packages_import_itero_loaded_before_stay_attributes():
    loaded = _child(
        """
        import json
        import itero
        names = ["study", "store", "executors", "samplers", "schedulers", "space", "trial", "tracking"]
        print(json.dumps({name: getattr(itero, name).__name__ for name in names}))
        """
    )
    assert loaded == {name: f"itero.{name}" for name in loaded} and len(loaded) == 8


def test_an_unknown_name_is_an_attribute_error():
    assert not hasattr(itero, "Stduy")
    with pytest.raises(ImportError, match="cannot import name 'Stduy' from 'itero'"):
        from itero import Stduy  # noqa: F401
