"""What the dashboard keeps between requests: one store, each study read incrementally (twice: quick reads and
slow builds never wait on each other), and the parts of pages built from each version.

>>> board = Board("sqlite://")
>>> board.names()
[]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from itero.exceptions import StudyNotFoundError
from itero.store import Store
from itero.study import Study, load_study

T = TypeVar("T")

#: Things built per study (parts of pages, table pages); the oldest is dropped beyond this.
CACHE_SIZE = 64
#: A part is rebuilt after a change no sooner than this many times its last build's duration; a slow one (built
#: from the rendering copy: figures, sections) no sooner than ``SLOW_REBUILD_FACTOR`` times, so that while a big
#: study changes all the time, its figures use at most a fifth of a core and the table stays quick.
REBUILD_FACTOR = 2.0
SLOW_REBUILD_FACTOR = 5.0


@dataclass(frozen=True)
class Built:
    """Something built from a study: its value, the study's version then, when and in how many seconds."""

    value: Any
    version: int
    at: float
    seconds: float


@dataclass
class Reader:
    """One copy of a study (its own incremental cache), the lock its reads and builds take, and what was built
    from it, by key."""

    study: Study
    lock: threading.Lock = field(default_factory=threading.Lock)
    built: dict[tuple[Any, ...], Built] = field(default_factory=dict)


@dataclass
class Watched:
    """A study the dashboard has opened, read by two copies: ``live`` answers the quick requests (the version a
    page polls, the trial table) and is never held up by ``render``, which builds the slow parts (figures,
    sections, trial pages) — a 10,000-trial study's figures take seconds to build, a table page milliseconds."""

    id: int
    live: Reader
    render: Reader


def _keep(built: dict[tuple[Any, ...], Built], key: tuple[Any, ...], entry: Built) -> None:
    built.pop(key, None)
    while len(built) >= CACHE_SIZE:
        built.pop(next(iter(built)))
    built[key] = entry


class Board:
    """The dashboard's view of one store. ``study(name)`` returns the study brought up to date (one incremental
    read of what changed since the last request); ``version(name)`` is the number that changes with every write
    to the study (the live page polls it)."""

    def __init__(self, storage: str | Store) -> None:
        self.store = storage if isinstance(storage, Store) else Store(storage)
        self.owns_store = not isinstance(storage, Store)
        self._watched: dict[str, Watched] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return [rec.name for rec in self.store.list_studies()]

    def _watch(self, name: str) -> Watched:
        with self._lock:
            w = self._watched.get(name)
            if w is None:
                # Reading needs neither a sampler nor a scheduler; load_study raises StudyNotFoundError.
                live, render = (load_study(name, storage=self.store, sampler="random", scheduler="fifo") for _ in "lr")
                w = self._watched[name] = Watched(live.id, Reader(live), Reader(render))
            return w

    def _check(self, name: str, w: Watched) -> None:
        if self.store.get_study(name).id != w.id:
            raise StudyNotFoundError(f"study {name!r} was deleted (and created again) since it was opened")

    def study(self, name: str) -> Study:
        """The study (its quick-reading copy), up to date. Raises ``StudyNotFoundError`` for an unknown name,
        also one deleted (or deleted and created again) since it was opened."""
        w = self._watch(name)
        try:
            self._check(name, w)
            with w.live.lock:
                w.live.study.refresh()
        except Exception:
            self.forget(name)
            raise
        return w.live.study

    def version(self, name: str) -> int:
        """The study's version after an incremental refresh: equal versions mean nothing changed."""
        return self.study(name).version

    def cached(
        self, name: str, key: tuple[Any, ...], build: Callable[[Study], T], *, slow: bool = False, track: bool = True
    ) -> tuple[T, int]:
        """``(build(study), version it was built at)``, built again only when the study changed — and then no
        sooner than ``REBUILD_FACTOR`` (slow parts: ``SLOW_REBUILD_FACTOR``) times the last build's duration after it, so that a 10,000-trial study
        whose workers write every few milliseconds is not rebuilt on every request (the page asks again until
        what it shows is at the latest version).

        ``slow=True``: built from the rendering copy of the study, one build at a time, beside the quick ones.
        ``track=False``: what ``build`` makes depends on ``key`` alone (e.g. a part of a context of a known
        version): once built it is kept whatever the study does."""
        w = self._watch(name)
        reader = w.render if slow else w.live
        try:
            self._check(name, w)
            with reader.lock:
                version = reader.study.refresh()
                entry = reader.built.get(key)
                now = time.monotonic()
                factor = SLOW_REBUILD_FACTOR if slow else REBUILD_FACTOR
                fresh = entry is not None and (
                    not track or entry.version == version or now - entry.at < factor * entry.seconds
                )
                if not fresh:
                    value = build(reader.study)
                    entry = Built(value, version, now, time.monotonic() - now)
                    _keep(reader.built, key, entry)
        except StudyNotFoundError:
            self.forget(name)
            raise
        assert entry is not None
        return entry.value, entry.version

    def forget(self, name: str) -> None:
        with self._lock:
            self._watched.pop(name, None)

    def dispose(self) -> None:
        """Close the store's connections if the board opened it (a Store passed in stays open)."""
        if self.owns_store:
            self.store.dispose()


__all__ = ["Board"]
