"""Learning-curve tables: the file format the replay recorder writes, and :func:`load_table`, which checks it.

A table is a gzip'd JSON-lines file. Line 1 is the header (``"kind": "header"``): the task, its objectives,
``max_steps``, the metric names, the search space (``Distribution.to_dict()`` per parameter), the number of
configurations and the training seeds, and the provenance (command, versions, machine). Every other line is one
row, one configuration trained with one seed::

    {"kind": "row", "config": 12, "seed": 0, "params": {"lr": 0.0031, ...},
     "metrics": {"val_acc": [0.51, 0.64, ...], "test_acc": [...]},      # one value per step 1..max_steps
     "step_seconds": [0.081, ...], "diverged_at": null, "costs": {"flops": 21120.0},
     "save_seconds": 0.0012, "load_seconds": 0.0009, "checkpoint_bytes": 41733}

A value that is not finite is written ``null`` and read as NaN. A run that diverged at step ``k`` has
``diverged_at = k``, NaN metrics from step ``k`` on and ``null`` step seconds after ``k`` (never trained); only a
task whose header says ``"diverges": true`` may have such rows. ``costs`` are per-configuration constants
(FLOPs, parameters) of the tasks that report them; :func:`load_table` adds them to the curves, constant over
the steps, so that ``table.curves["flops"]`` is an objective like any other.

>>> import gzip, json, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "t.jsonl.gz")
>>> header = {"kind": "header", "format": FORMAT, "task": "t", "objectives": {"loss": "minimize"},
...           "max_steps": 2, "metrics": ["loss"], "n_configs": 1, "seeds": [0], "diverges": False,
...           "space": {"x": {"type": "float", "low": 0.0, "high": 1.0, "log": False, "step": None}}}
>>> row = {"kind": "row", "config": 0, "seed": 0, "params": {"x": 0.5}, "metrics": {"loss": [2.0, 1.0]},
...        "step_seconds": [0.1, 0.1], "diverged_at": None, "costs": {}, "save_seconds": 0.01,
...        "load_seconds": 0.01, "checkpoint_bytes": 100}
>>> with gzip.open(path, "wt") as fh:
...     _ = fh.write(json.dumps(header) + "\\n" + json.dumps(row) + "\\n")
>>> table = load_table(path)
>>> table.curves["loss"].shape, float(table.curves["loss"][0, 0, -1])
((1, 1, 2), 1.0)
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from itero.space import Distribution, distribution_from_dict

FORMAT = "itero-replay-table/1"


class TableError(ValueError):
    """A table that cannot be replayed; the message names the file and the row."""


@dataclass(frozen=True)
class Table:
    """A loaded, validated table. Arrays are indexed ``[config, seed_index, step - 1]``."""

    path: str
    header: dict[str, Any]
    params: list[dict[str, Any]]
    space: dict[str, Distribution]
    curves: dict[str, np.ndarray]  # metric -> (configs, seeds, steps); NaN after a divergence
    step_seconds: np.ndarray  # (configs, seeds, steps); NaN for steps never trained
    save_seconds: np.ndarray  # (configs, seeds)
    load_seconds: np.ndarray  # (configs, seeds)
    checkpoint_bytes: np.ndarray  # (configs, seeds)
    diverged_at: np.ndarray  # (configs, seeds): the step the run diverged at, 0 when it did not

    @property
    def task(self) -> str:
        return str(self.header["task"])

    @property
    def objectives(self) -> dict[str, str]:
        return dict(self.header["objectives"])

    @property
    def max_steps(self) -> int:
        return int(self.header["max_steps"])

    @property
    def seeds(self) -> list[int]:
        return list(self.header["seeds"])

    def test_metric(self, metric: str) -> str:
        """The test metric recorded beside validation metric ``metric`` (``val_acc`` -> ``test_acc``); a cost
        such as ``flops`` is its own test metric."""
        if metric.startswith("val_") and "test_" + metric[4:] in self.curves:
            return "test_" + metric[4:]
        return metric


def read_records(path: str | Path) -> tuple[list[dict[str, Any]], bool]:
    """Every complete JSON line of a gzip'd JSON-lines file, and whether its tail was cut (a writer killed
    mid-line): the cut part is ignored. A file made of several gzip members (rows appended one at a time) reads
    as one stream."""
    records: list[dict[str, Any]] = []
    truncated = False
    buffer = b""
    try:
        with gzip.open(path, "rb") as fh:
            for line in fh:
                buffer = line
                if not line.endswith(b"\n"):
                    truncated = True
                    break
                records.append(json.loads(line))
                buffer = b""
    except (EOFError, gzip.BadGzipFile, zlib.error):
        truncated = True
    except json.JSONDecodeError:
        truncated = True  # a line cut inside a member that still ended with a newline byte: treat as cut
    return records, truncated or bool(buffer)


def finite_or_none(x: float, digits: int) -> float | None:
    """``x`` rounded to ``digits`` significant digits; ``None`` (JSON ``null``) when not finite."""
    return float(f"{x:.{digits}g}") if math.isfinite(x) else None


def load_table(path: str | Path) -> Table:
    """Read and validate the table at ``path``; a :class:`TableError` names the first bad row (its line)."""
    records, truncated = read_records(path)
    if truncated:
        raise TableError(f"{path}: the file is cut after line {len(records)} (an unfinished recording?)")
    if not records or records[0].get("kind") != "header":
        raise TableError(f"{path}: line 1 must be the header record")
    header = records[0]
    if header.get("format") != FORMAT:
        raise TableError(f"{path}: format {header.get('format')!r}; expected {FORMAT!r}")
    try:
        space = {name: distribution_from_dict(d) for name, d in header["space"].items()}
        n, seeds, steps = int(header["n_configs"]), list(header["seeds"]), int(header["max_steps"])
        names, diverges = list(header["metrics"]), bool(header.get("diverges", False))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # SpaceError is a ValueError
        raise TableError(f"{path}: line 1: a bad header ({type(exc).__name__}: {exc})") from None
    shape = (n, len(seeds), steps)
    curves = {m: np.full(shape, np.nan) for m in names}
    step_seconds = np.full(shape, np.nan)
    scalars = {k: np.full(shape[:2], np.nan) for k in ("save_seconds", "load_seconds", "checkpoint_bytes")}
    diverged = np.zeros(shape[:2], dtype=np.int64)
    params: list[dict[str, Any] | None] = [None] * n
    seen: set[tuple[int, int]] = set()
    costs: dict[int, dict[str, float]] = {}
    for line, row in enumerate(records[1:], start=2):
        where = f"{path}: line {line} (config {row.get('config')}, seed {row.get('seed')})"
        config, seed = row.get("config"), row.get("seed")
        if row.get("kind") != "row" or not isinstance(config, int) or not 0 <= config < n:
            raise TableError(f"{where}: not a row of this table (configs 0..{n - 1}, seeds {seeds})")
        if not isinstance(seed, int) or seed not in seeds:
            raise TableError(f"{where}: not a row of this table (configs 0..{n - 1}, seeds {seeds})")
        if (config, seed) in seen:
            raise TableError(f"{where}: a second row for this configuration and seed")
        seen.add((config, seed))
        _check_params(where, row.get("params"), space)
        if params[config] is None:
            params[config] = row["params"]
        elif params[config] != row["params"]:
            raise TableError(f"{where}: params differ from another seed's row of the same configuration")
        k = row.get("diverged_at") or 0
        if not isinstance(k, int) or not 0 <= k <= steps:
            raise TableError(f"{where}: diverged_at must be a step in 1..{steps} or null, got {k!r}")
        if k and not diverges:
            raise TableError(f"{where}: diverged at step {k}, but task {header['task']!r} does not diverge")
        s = seeds.index(seed)
        for m in names:
            curves[m][config, s] = _curve(f"{where}: metric {m!r}", (row.get("metrics") or {}).get(m), steps, k, k)
        step_seconds[config, s] = _curve(f"{where}: step_seconds", row.get("step_seconds"), steps, k, k + 1)
        for key, arr in scalars.items():
            if not isinstance(row.get(key), (int, float)):
                raise TableError(f"{where}: {key} must be a number, got {row.get(key)!r}")
            arr[config, s] = float(row[key])
        diverged[config, s] = k
        costs[config] = {key: np.nan if v is None else float(v) for key, v in (row.get("costs") or {}).items()}
    missing = [(c, sd) for c in range(n) for sd in seeds if (c, sd) not in seen]
    if missing:
        raise TableError(f"{path}: {len(missing)} rows missing, first config {missing[0][0]} seed {missing[0][1]}")
    for key in sorted({key for c in costs.values() for key in c}):
        per_config = np.array([costs[c].get(key, np.nan) for c in range(n)])
        curves[key] = np.broadcast_to(per_config[:, None, None], shape).copy()
    return Table(
        str(path), header, [p or {} for p in params], space, curves, step_seconds,
        scalars["save_seconds"], scalars["load_seconds"], scalars["checkpoint_bytes"], diverged,
    )  # fmt: skip


def _check_params(where: str, values: Any, space: dict[str, Distribution]) -> None:
    if not isinstance(values, dict):
        raise TableError(f"{where}: params must be a dict, got {values!r}")
    unknown = sorted(set(values) - set(space))
    if unknown:
        raise TableError(f"{where}: unknown parameter {unknown[0]!r}; the space has {sorted(space)}")
    absent = sorted(set(space) - set(values))
    if absent:
        raise TableError(f"{where}: parameter {absent[0]!r} is missing")
    for name, value in values.items():
        if not space[name].contains(value):
            raise TableError(f"{where}: parameter {name!r} = {value!r} is outside the space ({space[name]})")


def _curve(where: str, values: Any, steps: int, diverged_at: int, nan_from: int) -> np.ndarray:
    """``values`` as floats; ``null`` allowed only from step ``nan_from`` on (when the run diverged)."""
    if not isinstance(values, list):
        raise TableError(f"{where}: missing")
    if len(values) != steps:
        raise TableError(f"{where}: {len(values)} steps; expected {steps}")
    out = np.array([np.nan if v is None else float(v) for v in values])
    for step, v in enumerate(out, start=1):
        finite = math.isfinite(v)
        if not finite and not (diverged_at and step >= nan_from):
            reason = "before the run diverged" if diverged_at else "and the row did not diverge"
            raise TableError(f"{where}: step {step} is missing or NaN {reason}")
        if finite and diverged_at and step > nan_from and nan_from == diverged_at:
            raise TableError(f"{where}: step {step} is finite after the run diverged at step {diverged_at}")
    return out
