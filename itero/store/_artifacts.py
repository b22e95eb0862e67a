"""Content-addressed artifacts (checkpoints): stored by SHA-256, verified before use, loaded without running code.

    >>> import tempfile
    >>> arts = FolderArtifacts(tempfile.mkdtemp())
    >>> digest = arts.put(dump_state({"step": 3, "weights": [0.5, 1.5]}))
    >>> load_state(arts.get(digest))
    {'step': 3, 'weights': [0.5, 1.5]}

States made of plain data are stored as JSON; states holding tensors go through ``torch.save`` and come back
through ``torch.load(weights_only=True)``, which refuses to execute code. Pickle is never used.

Where the bytes live is an ``ArtifactStore``: a local folder here (``FolderArtifacts``), an fsspec URL or the
database itself (``_remote``); ``open_artifacts`` picks one from a study's recorded location.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import tempfile
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy.engine import make_url

from itero.exceptions import ArtifactError, ArtifactUnavailableError

_JSON = b"ITERO-JSON\n"
_TORCH = b"ITERO-TORCH\n"


def default_root(storage_url: str) -> Path:
    """``<dir of the SQLite file>/<stem>-artifacts``; a new temporary folder for an in-memory database;
    ``./itero-artifacts`` for other databases (their studies record ``database`` instead, see ``_remote``)."""
    url = make_url(storage_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return Path(tempfile.mkdtemp(prefix="itero-artifacts-"))
        db = Path(url.database).expanduser()
        return db.with_name(db.stem + "-artifacts")
    return Path("itero-artifacts")


def dump_state(state: Any) -> bytes:
    """Serialise a checkpoint state: JSON when it is plain data, ``torch.save`` otherwise."""
    try:
        return _JSON + json.dumps(state, allow_nan=True).encode()
    except (TypeError, ValueError):
        pass
    try:
        import torch
    except ImportError:
        raise ArtifactError(
            "the reported state is not plain data (dicts, lists, numbers, strings) and torch is not installed "
            "to serialise it"
        ) from None
    buf = io.BytesIO()
    torch.save(state, buf)
    return _TORCH + buf.getvalue()


def load_state(data: bytes) -> Any:
    """Inverse of ``dump_state``; tensors are loaded with ``weights_only=True`` (no code runs)."""
    if data.startswith(_JSON):
        return json.loads(data[len(_JSON) :])
    if data.startswith(_TORCH):
        import torch

        return torch.load(io.BytesIO(data[len(_TORCH) :]), weights_only=True, map_location="cpu")
    raise ArtifactError("unknown checkpoint format (not written by itero)")


class Entry(NamedTuple):
    """One stored object: its name (a digest, or a temporary name of an unfinished write), size and age."""

    name: str
    size: int
    mtime: float


class ArtifactStore(ABC):
    """Bytes named by their SHA-256 digest, verified when read. Subclasses say where they live by implementing
    ``_exists``, ``_write``, ``_read`` (None when missing), ``remove`` and ``entries``."""

    location: str  # what the user gave or sees: a folder, a URL, "database"

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.restore(digest, data)
        return digest

    def restore(self, digest: str, data: bytes) -> None:
        """Write ``data`` again under ``digest`` if it is missing (a peer collected the same content between our
        write and the row that names it); no hashing when it is there."""
        if not self._exists(digest):
            self._write(digest, data)

    def get(self, digest: str) -> bytes:
        data = self._read(digest)
        if data is None:
            raise ArtifactError(f"checkpoint {digest[:12]}… is missing from {self.location}")
        if hashlib.sha256(data).hexdigest() != digest:
            raise ArtifactError(
                f"checkpoint {digest[:12]}… in {self.location} is corrupt: its content does not match its hash"
            )
        return data

    def delete(self, digest: str) -> None:
        self.remove(digest)

    def disk_usage(self) -> int:
        """Bytes used by every stored object."""
        return sum(e.size for e in self.entries())

    def check(self) -> None:
        """Write, read back and delete a small object; ``ArtifactUnavailableError`` saying what to do when that
        fails, so a worker learns at start-up, not at its first checkpoint, that it cannot reach the study's
        artifacts."""
        try:
            ok = self._probe()
        except Exception as exc:  # any backend's error: reported with the location
            raise ArtifactUnavailableError(self._unreachable(f"{type(exc).__name__}: {exc}")) from None
        if not ok:
            raise ArtifactUnavailableError(self._unreachable("an object written there could not be read back"))

    def _probe(self) -> bool:
        name = f"probe-{uuid.uuid4().hex}"
        self._write(name, b"itero")
        ok = self._read(name) == b"itero"
        self.remove(name)
        return ok

    def _unreachable(self, reason: str) -> str:
        return (
            f"cannot use the study's artifacts (checkpoints) at {self.location}: {reason}; give where this machine "
            "reaches them with --artifacts or ITERO_ARTIFACTS, or fix the permissions or credentials"
        )

    @abstractmethod
    def _exists(self, digest: str) -> bool: ...

    @abstractmethod
    def _write(self, digest: str, data: bytes) -> None: ...

    @abstractmethod
    def _read(self, digest: str) -> bytes | None: ...

    @abstractmethod
    def remove(self, name: str) -> None:
        """Delete one object (missing: nothing to do)."""

    @abstractmethod
    def entries(self) -> list[Entry]:
        """Every stored object, with its size and modification time (Unix seconds)."""


class FolderArtifacts(ArtifactStore):
    """Files under ``root/ab/abcdef…``; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def _probe(self) -> bool:  # a temporary file in the root, gone afterwards (no probe folder left behind)
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-") as fh:
            fh.write(b"itero")
            fh.flush()
            return Path(fh.name).read_bytes() == b"itero"

    def _exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def _write(self, digest: str, data: bytes) -> None:
        target = self.path(digest)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        except OSError as exc:
            raise self._unavailable(exc, len(data)) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise self._unavailable(exc, len(data)) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _unavailable(self, exc: OSError, size: int) -> Exception:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return ArtifactUnavailableError(
                f"no space left for a checkpoint of {size:,} bytes in {self.location} ({exc.strerror}): free disk "
                "space (`itero gc` removes checkpoints no trial can resume) or give the study's artifacts another "
                "place; the running trial was given back and resumes at the next run"
            )
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return ArtifactUnavailableError(self._unreachable(f"{exc.strerror}: {exc.filename}"))
        return exc

    def _read(self, digest: str) -> bytes | None:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            return None

    def remove(self, name: str) -> None:
        (self.root / name if "/" in name else self.path(name)).unlink(missing_ok=True)

    def entries(self) -> list[Entry]:
        if not self.root.exists():
            return []
        out = []
        for p in self.root.glob("*/*"):
            try:
                st = p.stat()
            except FileNotFoundError:  # removed meanwhile
                continue
            if p.is_file():  # a temporary file of an unfinished write is named by its path under the root
                name = f"{p.parent.name}/{p.name}" if p.name.startswith(".tmp-") else p.name
                out.append(Entry(name, st.st_size, st.st_mtime))
        return out
