"""Content-addressed artifacts (checkpoints): stored by SHA-256, verified before use, loaded without running code.

    >>> import tempfile
    >>> arts = ArtifactStore(tempfile.mkdtemp())
    >>> digest = arts.put(dump_state({"step": 3, "weights": [0.5, 1.5]}))
    >>> load_state(arts.get(digest))
    {'step': 3, 'weights': [0.5, 1.5]}

States made of plain data are stored as JSON; states holding tensors go through ``torch.save`` and come back
through ``torch.load(weights_only=True)``, which refuses to execute code. Pickle is never used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from itero.exceptions import ArtifactError

_JSON = b"ITERO-JSON\n"
_TORCH = b"ITERO-TORCH\n"


def default_root(storage_url: str) -> Path:
    """``<dir of the SQLite file>/<stem>-artifacts``; ``./itero-artifacts`` for other databases."""
    env = os.environ.get("ITERO_ARTIFACTS")
    if env:
        return Path(env)
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


class ArtifactStore:
    """Files named by their SHA-256 under ``root/ab/abcdef…``; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def restore(self, digest: str, data: bytes) -> None:
        """Write ``data`` again under ``digest`` if its file is missing (a peer collected the same content
        between our write and the row that names it); no hashing when the file is there."""
        if not self.path(digest).exists():
            self.put(data)

    def get(self, digest: str) -> bytes:
        target = self.path(digest)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise ArtifactError(f"checkpoint {digest[:12]}… is missing from {self.root}") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ArtifactError(f"checkpoint {target} is corrupt: its content does not match its hash")
        return data

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def files(self) -> list[Path]:
        """Every file under the root: checkpoints named by their hash, and temporary files of unfinished writes."""
        if not self.root.exists():
            return []
        return [p for p in self.root.glob("*/*") if p.is_file()]

    def disk_usage(self) -> int:
        """Bytes used by all artifacts under the root."""
        if not self.root.exists():
            return 0
        return sum(p.stat().st_size for p in self.root.glob("*/*") if p.is_file())
