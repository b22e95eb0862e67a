"""Artifact stores beyond a local folder: any fsspec URL (``s3://``, ``gs://``, ``az://``, ...) and the database.

    arts = open_artifacts("s3://bucket/itero", engine)   # credentials and endpoint as fsspec/s3fs read them
    arts = open_artifacts("database", engine)            # the itero_blobs table of the study's own database

Which one a study uses is recorded when it is created (``Store.artifacts_for``), so every worker finds the same.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from itero.exceptions import ArtifactError, ArtifactUnavailableError
from itero.store._artifacts import ArtifactStore, Entry, FolderArtifacts
from itero.store._engine import reader
from itero.store._schema import blobs

DATABASE = "database"
RETRY_SECONDS = float(os.environ.get("ITERO_ARTIFACTS_RETRY_SECONDS", "60"))
logger = logging.getLogger("itero")


def open_artifacts(location: str | os.PathLike[str], engine: Engine) -> ArtifactStore:
    """The artifact store at ``location``: ``"database"`` (the ``itero_blobs`` table reached through
    ``engine``), a URL with a scheme fsspec knows, or a local folder (``file://`` URLs included)."""
    text = str(location)
    if text == DATABASE:
        return DatabaseArtifacts(engine)
    if "://" in text and not text.startswith("file://"):
        return FsspecArtifacts(text)
    return FolderArtifacts(Path(text.removeprefix("file://")).expanduser())


def recorded_location(location: str | os.PathLike[str]) -> str:
    """What a study records: a URL or ``"database"`` as given, a local folder as an absolute path (a relative
    one would name another folder for each worker's working directory)."""
    text = str(location)
    if text == DATABASE or ("://" in text and not text.startswith("file://")):
        return text
    return str(Path(text.removeprefix("file://")).expanduser().resolve())


class FsspecArtifacts(ArtifactStore):
    """Objects under ``url/ab/abcdef…`` of an fsspec file system; an object store's put is atomic."""

    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError:  # pragma: no cover - fsspec is a dependency
            raise ArtifactError(f"artifacts at {url}: pip install fsspec") from None
        try:
            # A fresh instance: fsspec's cached one may hold another endpoint or credentials from the environment.
            self.fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True)
        except (ImportError, ValueError) as exc:
            raise ArtifactError(
                f"artifacts at {url}: {exc} (an s3:// location needs `pip install 'itero[s3]'`; other schemes "
                "their fsspec package)"
            ) from None
        self.root = root.rstrip("/")
        self.location = url
        self.patience = RETRY_SECONDS  # how long a failing object store is retried

    def check(self) -> None:
        patience, self.patience = self.patience, min(self.patience, 5.0)  # at start-up, say so soon
        try:
            super().check()
        finally:
            self.patience = patience

    def _path(self, name: str) -> str:
        return f"{self.root}/{name[:2]}/{name}"

    def _exists(self, digest: str) -> bool:
        path = self._path(digest)

        def look() -> bool:
            self.fs.invalidate_cache(path)  # a listing cached before a peer wrote or deleted it would lie
            return bool(self.fs.exists(path))

        return bool(self._patiently(look))

    def _write(self, digest: str, data: bytes) -> None:
        self._patiently(lambda: self.fs.pipe_file(self._path(digest), data))

    def _read(self, digest: str) -> bytes | None:
        def read() -> bytes | None:
            try:
                return bytes(self.fs.cat_file(self._path(digest)))
            except FileNotFoundError:
                return None

        result: bytes | None = self._patiently(read)
        return result

    def _patiently(self, call: Callable[[], Any]) -> Any:
        """``call()``, retried with growing pauses while the object store fails (a server restarting, a network
        blip) for up to ``ITERO_ARTIFACTS_RETRY_SECONDS``; then ``ArtifactUnavailableError``."""
        deadline, pause = time.monotonic() + self.patience, 0.2
        while True:
            try:
                return call()
            except (FileNotFoundError, PermissionError):
                raise
            except Exception as exc:
                if time.monotonic() >= deadline:
                    reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                    raise ArtifactUnavailableError(
                        self._unreachable(f"{reason} (still failing after {self.patience:.0f} s)")
                    ) from None
                logger.warning("artifacts at %s: %s; retrying", self.location, type(exc).__name__)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(name))

    def entries(self) -> list[Entry]:
        self.fs.invalidate_cache(self.root)
        try:
            found = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            return []
        return [
            Entry(path.rsplit("/", 1)[-1], int(info.get("size") or 0), _mtime(info)) for path, info in found.items()
        ]


def _mtime(info: dict[str, Any]) -> float:
    """An object's modification time from an fsspec listing (S3: LastModified; local: mtime)."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, dt.datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return time.time()  # unknown age: never old enough to be collected as an orphan


class DatabaseArtifacts(ArtifactStore):
    """Objects as rows of ``itero_blobs`` in the study's database: the store is then the only shared state.
    Each object is held in memory whole when written or read; PostgreSQL caps a value at 1 GB."""

    location = DATABASE

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read_engine = reader(engine)

    def _exists(self, digest: str) -> bool:
        with self._read_engine.connect() as conn:
            return conn.execute(select(blobs.c.digest).where(blobs.c.digest == digest)).first() is not None

    def _write(self, digest: str, data: bytes) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(blobs).values(digest=digest, size=len(data), data=data, created_at=time.time()))
        except IntegrityError:  # a peer stored the same content first
            pass

    def _read(self, digest: str) -> bytes | None:
        with self._read_engine.connect() as conn:
            data = conn.execute(select(blobs.c.data).where(blobs.c.digest == digest)).scalar()
        return None if data is None else bytes(data)

    def remove(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(blobs).where(blobs.c.digest == name))

    def entries(self) -> list[Entry]:
        with self._read_engine.connect() as conn:
            rows = conn.execute(select(blobs.c.digest, blobs.c.size, blobs.c.created_at)).all()
        return [Entry(r.digest, int(r.size), float(r.created_at)) for r in rows]
