"""What the dashboard keeps between requests: one store, each study read incrementally, figures per version.

>>> board = Board("sqlite://")
>>> board.names()
[]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from itero.exceptions import StudyNotFoundError
from itero.store import Store
from itero.study import Study, load_study

T = TypeVar("T")

#: Things built per study (parts of pages, table pages); the oldest is dropped beyond this.
CACHE_SIZE = 64
#: A part is rebuilt after a change no sooner than this many times its last build's duration.
REBUILD_FACTOR = 2.0


@dataclass(frozen=True)
class Built:
    """Something built from a study: its value, the study's version then, when and in how many seconds."""

    value: Any
    version: int
    at: float
    seconds: float


@dataclass
class Watched:
    """One study the dashboard has opened: the study (its cache is refreshed incrementally), a lock so that
    one request at a time refreshes it, and what was already built from it, keyed by (version, what)."""

    study: Study
    lock: threading.Lock
    built: dict[tuple[Any, ...], Built]


class Board:
    """The dashboard's view of one store. ``study(name)`` returns the study brought up to date (one incremental
    read of what changed since the last request); ``version(name)`` is the number that changes with every write
    to the study (the live page polls it)."""

    def __init__(self, storage: str | Store) -> None:
        self.store = storage if isinstance(storage, Store) else Store(storage)
        self._watched: dict[str, Watched] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return [rec.name for rec in self.store.list_studies()]

    def _watch(self, name: str) -> Watched:
        with self._lock:
            w = self._watched.get(name)
            if w is None:
                # Reading needs neither a sampler nor a scheduler; load_study raises StudyNotFoundError.
                study = load_study(name, storage=self.store, sampler="random", scheduler="fifo")
                w = self._watched[name] = Watched(study, threading.Lock(), {})
            return w

    def study(self, name: str) -> Study:
        """The study, up to date. Raises ``StudyNotFoundError`` for an unknown name (also one deleted since)."""
        w = self._watch(name)
        with w.lock:
            try:
                w.study.refresh()
            except Exception:
                self.forget(name)
                raise
        return w.study

    def version(self, name: str) -> int:
        """The study's version after an incremental refresh: equal versions mean nothing changed."""
        return self.study(name).version

    def cached(
        self, name: str, key: tuple[Any, ...], build: Callable[[Study], T], *, track: bool = True
    ) -> tuple[T, int]:
        """``(build(study), version it was built at)``, built again only when the study changed — and then no
        sooner than ``REBUILD_FACTOR`` times the last build's duration after it, so that a 10,000-trial study
        whose workers write every few milliseconds is not rebuilt on every request (the page asks again until
        what it shows is at the latest version). Builds of one study run one at a time.

        ``track=False``: what ``build`` makes depends on ``key`` alone (e.g. a part of a context of a known
        version): once built it is kept whatever the study does."""
        study = self.study(name)
        w = self._watch(name)
        with w.lock:
            entry = w.built.get(key)
            now = time.monotonic()
            if entry is not None and (
                not track or entry.version == study.version or now - entry.at < REBUILD_FACTOR * entry.seconds
            ):
                return entry.value, entry.version
            version = study.version
            value = build(study)
            w.built.pop(key, None)
            while len(w.built) >= CACHE_SIZE:
                w.built.pop(next(iter(w.built)))
            w.built[key] = Built(value, version, now, time.monotonic() - now)
        return value, version

    def forget(self, name: str) -> None:
        with self._lock:
            self._watched.pop(name, None)

    def dispose(self) -> None:
        self.store.dispose()


__all__ = ["Board", "StudyNotFoundError", "Watched"]
