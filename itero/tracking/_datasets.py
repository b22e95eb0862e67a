"""Dataset versions: ``itero.track_dataset(name, data)`` hashes data and records it on the trials that use it.

Inside an objective the version is recorded on the running trial. Called before ``study.optimize`` (outside any
trial), it is recorded on every trial this process runs afterwards — convenient when data is loaded once.

    def objective(trial):
        X, y = load()
        itero.track_dataset("train", (X, y))     # or a path: itero.track_dataset("train", "data/train/")
        ...
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from itero.tracking._hashing import DatasetError, hash_data


class DatasetTracker(Protocol):
    """What ``track_dataset`` needs of the running trial (``itero.Trial`` is one)."""

    def track_dataset(self, name: str, data: Any) -> DatasetVersion: ...


_current: contextvars.ContextVar[DatasetTracker | None] = contextvars.ContextVar("itero_current_trial", default=None)
_session: dict[str, DatasetVersion] = {}


@dataclass(frozen=True)
class DatasetVersion:
    """One version of a named dataset: its content digest, kind and a short description."""

    name: str
    digest: str
    kind: str
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def short(self) -> str:
        return self.digest[:12]


def version_of(name: str, data: Any) -> DatasetVersion:
    """Hash ``data`` (or take an already computed DatasetVersion) as a version of dataset ``name``."""
    if not isinstance(name, str) or not name.strip():
        raise DatasetError(f"dataset name must be a non-empty string, got {name!r}")
    if len(name) > 255:
        raise DatasetError(f"dataset name is longer than 255 characters: {name[:40]!r}…")
    if isinstance(data, DatasetVersion):
        return data if data.name == name else DatasetVersion(name, data.digest, data.kind, data.info)
    try:
        digest, kind, info = hash_data(data)
    except DatasetError as exc:
        raise DatasetError(f"dataset {name!r}: {exc}") from None
    return DatasetVersion(name, digest, kind, info)


def track_dataset(name: str, data: Any) -> DatasetVersion:
    """Record the version of dataset ``name`` (arrays, tensors, torch datasets, pandas objects, or a path to a
    file or folder) on the running trial, or — outside a trial — on every trial this process runs next."""
    version = version_of(name, data)
    trial = _current.get()
    if trial is not None:
        trial.track_dataset(name, version)
    else:
        _session[name] = version
    return version


def session_datasets() -> dict[str, DatasetVersion]:
    """Versions tracked outside any trial in this process (recorded on each trial it runs)."""
    return dict(_session)


def clear_session_datasets() -> None:
    _session.clear()


def current_trial() -> DatasetTracker | None:
    """The trial this thread is running, if any."""
    return _current.get()


def set_current_trial(trial: DatasetTracker | None) -> contextvars.Token[DatasetTracker | None]:
    return _current.set(trial)


def reset_current_trial(token: contextvars.Token[DatasetTracker | None]) -> None:
    _current.reset(token)


def compare_versions(trials: Any) -> list[str]:
    """Warnings for datasets whose trials saw different versions, e.g. ``"dataset 'train': 2 versions —
    a1b2c3d4e5f6 (trials 0-11), 0f9e8d7c6b5a (trials 12-30)"``; empty when every trial saw the same data."""
    seen: dict[str, dict[str, list[int]]] = {}
    for t in trials:
        for name, digest in t.datasets.items():
            seen.setdefault(name, {}).setdefault(digest, []).append(t.number)
    out = []
    for name, versions in sorted(seen.items()):
        if len(versions) > 1:
            parts = [
                f"{d[:12]} (trials {number_ranges(ns)})" for d, ns in sorted(versions.items(), key=lambda kv: kv[1][0])
            ]
            out.append(f"dataset {name!r}: {len(versions)} versions — " + ", ".join(parts))
    return out


def number_ranges(numbers: Iterable[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2, 5, 7-8"`` (trial numbers; ``"none"`` when empty)."""
    ns = sorted(set(numbers))
    if not ns:
        return "none"
    spans: list[str] = []
    start = prev = ns[0]
    for n in [*ns[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(spans)
