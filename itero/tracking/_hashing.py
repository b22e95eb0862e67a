"""Content hashes of datasets: arrays, tensors, torch datasets, data frames, files and folders.

A digest depends only on content (and, for arrays, dtype and shape), never on object identity or time, so it
is the same in every process. Files are hashed by content; their digests are cached keyed on device, inode,
size and modification time (in ``$ITERO_CACHE_DIR``, default ``~/.cache/itero``) so that an unchanged large
folder is not read again.

    >>> import numpy as np
    >>> digest, kind, info = hash_data(np.arange(4))
    >>> kind, info["shape"]
    ('array', [4])
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from itero.exceptions import IteroError

logger = logging.getLogger("itero")

_CHUNK = 1 << 20


class DatasetError(IteroError, ValueError):
    """A dataset cannot be read or hashed."""


def _new() -> Any:
    return hashlib.blake2b(digest_size=32)


# ------------------------------------------------------------------ files
class FileHashCache:
    """``(path, device, inode, size, mtime_ns) -> digest`` in a small SQLite file; silent when unwritable."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        root = folder or os.environ.get("ITERO_CACHE_DIR") or Path.home() / ".cache" / "itero"
        self.path = Path(root) / "file-hashes.sqlite3"
        self._mem: dict[tuple[Any, ...], str] = {}
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._tried = False

    def _db(self) -> sqlite3.Connection | None:
        if not self._tried:
            self._tried = True
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS files (path TEXT, dev INTEGER, ino INTEGER, size INTEGER,"
                    " mtime INTEGER, digest TEXT, PRIMARY KEY (path, dev, ino, size, mtime))"
                )
                self._conn = conn
            except (OSError, sqlite3.Error) as exc:
                logger.debug("file hash cache disabled (%s): %s", self.path, exc)
        return self._conn

    def get(self, key: tuple[Any, ...]) -> str | None:
        with self._lock:
            if key in self._mem:
                return self._mem[key]
            db = self._db()
            if db is None:
                return None
            try:
                row = db.execute(
                    "SELECT digest FROM files WHERE path=? AND dev=? AND ino=? AND size=? AND mtime=?", key
                ).fetchone()
            except sqlite3.Error:
                return None
            if row is not None:
                self._mem[key] = row[0]
            return row[0] if row else None

    def put(self, key: tuple[Any, ...], digest: str) -> None:
        with self._lock:
            self._mem[key] = digest
            db = self._db()
            if db is None:
                return
            try:
                db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", (*key, digest))
            except sqlite3.Error as exc:
                logger.debug("file hash cache write failed: %s", exc)


_cache: FileHashCache | None = None


def file_cache() -> FileHashCache:
    global _cache
    if _cache is None:
        _cache = FileHashCache()
    return _cache


def hash_file(path: Path, cache: FileHashCache | None = None) -> str:
    """The content digest of one file, from the cache when its inode and modification time are unchanged."""
    cache = cache or file_cache()
    st = path.stat()
    key = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    hit = cache.get(key)
    if hit is not None:
        return hit
    h = _new()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    cache.put(key, digest)
    return digest


def hash_path(path: Path, cache: FileHashCache | None = None) -> tuple[str, str, dict[str, Any]]:
    """A file's digest, or a folder's: the hash of every file's relative path and content digest."""
    try:
        if path.is_file():
            return hash_file(path, cache), "file", {"path": str(path.resolve()), "bytes": path.stat().st_size}
        if not path.is_dir():
            raise DatasetError(f"cannot read dataset at {str(path)!r}: no such file or folder")
        h = _new()
        n = size = 0
        for root, dirs, files in os.walk(path, onerror=_raise):
            dirs.sort()
            for name in sorted(files):
                f = Path(root) / name
                if not f.is_file():
                    continue  # broken links, sockets
                rel = f.relative_to(path).as_posix()
                h.update(rel.encode() + b"\0" + hash_file(f, cache).encode() + b"\n")
                n += 1
                size += f.stat().st_size
        return h.hexdigest(), "folder", {"path": str(path.resolve()), "files": n, "bytes": size}
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DatasetError(f"cannot read dataset at {str(path)!r}: {reason}") from exc


def _raise(exc: OSError) -> None:
    raise exc


# ------------------------------------------------------------------ in-memory data
def _hash_array(h: Any, a: Any) -> dict[str, Any]:
    import numpy as np

    a = np.asarray(a)
    if a.dtype == object:
        raise DatasetError("cannot hash an object array: convert it to a numeric or string dtype")
    a = np.ascontiguousarray(a)
    h.update(f"array:{a.dtype.str}:{a.shape}\0".encode())
    h.update(memoryview(a).cast("B") if a.size else b"")
    return {"shape": list(a.shape), "dtype": str(a.dtype)}


def _hash_tensor(h: Any, t: Any) -> dict[str, Any]:
    import torch

    t = t.detach().cpu().contiguous()
    h.update(f"tensor:{t.dtype}:{tuple(t.shape)}\0".encode())
    if t.numel():
        h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _is_torch_dataset(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.utils.data.Dataset)


def _update(h: Any, x: Any, depth: int = 0) -> dict[str, Any]:
    """Feed ``x`` to ``h``; returns a description (shape, dtype, length)."""
    if depth > 50:
        raise DatasetError("data nested more than 50 levels deep")
    if _is_tensor(x):
        return _hash_tensor(h, x)
    if type(x).__module__.startswith("numpy"):
        return _hash_array(h, x)
    if type(x).__module__.startswith("pandas"):
        import pandas as pd

        rows = pd.util.hash_pandas_object(x, index=True).to_numpy()
        cols = [str(c) for c in getattr(x, "columns", [getattr(x, "name", "")])]
        h.update(("pandas:" + "\0".join(cols) + "\0").encode())
        _hash_array(h, rows)
        return {"shape": list(x.shape), "columns": cols[:50]}
    if _is_torch_dataset(x):
        return _hash_torch_dataset(h, x, depth)
    if isinstance(x, (bytes, bytearray, memoryview)):
        h.update(b"bytes\0" + bytes(x))
        return {"bytes": len(x)}
    if isinstance(x, (str, int, float, bool)) or x is None:
        h.update(f"{type(x).__name__}:{x!r}\0".encode())
        return {}
    if isinstance(x, Mapping):
        h.update(f"map:{len(x)}\0".encode())
        parts = {}
        for k in sorted(x, key=str):
            h.update(f"key:{k}\0".encode())
            parts[str(k)] = _update(h, x[k], depth + 1)
        return {"parts": parts} if depth <= 1 and len(x) <= 8 else {"keys": [str(k) for k in list(x)[:50]]}
    if isinstance(x, Sequence):
        h.update(f"seq:{len(x)}\0".encode())
        items = [_update(h, item, depth + 1) for item in x]
        return {"length": len(x), "parts": items} if depth <= 1 and len(x) <= 8 else {"length": len(x)}
    if hasattr(x, "__array__"):
        return _hash_array(h, x)
    raise DatasetError(
        f"cannot hash {type(x).__name__}: pass a numpy array, a torch tensor or Dataset, a pandas object, "
        f"bytes, a path to a file or folder, or a list/tuple/dict of these"
    )


def _hash_torch_dataset(h: Any, ds: Any, depth: int) -> dict[str, Any]:
    from torch.utils.data import Subset, TensorDataset

    if isinstance(ds, TensorDataset):
        h.update(b"TensorDataset\0")
        for t in ds.tensors:
            _hash_tensor(h, t)
        return {"kind": "TensorDataset", "length": len(ds), "tensors": len(ds.tensors)}
    if isinstance(ds, Subset):
        h.update(b"Subset\0")
        _update(h, list(map(int, ds.indices)), depth + 1)
        inner = _update(h, ds.dataset, depth + 1)
        return {"kind": "Subset", "length": len(ds), "of": inner}
    try:
        n = len(ds)
    except TypeError:
        raise DatasetError(
            f"cannot hash {type(ds).__name__}: an iterable dataset has no fixed content; hash its source files"
        ) from None
    h.update(f"{type(ds).__name__}:{n}\0".encode())
    for i in range(n):
        _update(h, ds[i], depth + 1)
    return {"kind": type(ds).__name__, "length": n}


def hash_data(data: Any) -> tuple[str, str, dict[str, Any]]:
    """``(digest, kind, info)`` of ``data``: a path (str or PathLike: file or folder) or in-memory data."""
    if isinstance(data, (str, os.PathLike)):
        return hash_path(Path(data))
    h = _new()
    info = _update(h, data)
    if _is_tensor(data):
        kind = "tensor"
    elif _is_torch_dataset(data):
        kind = "torch-dataset"
    elif type(data).__module__.startswith("numpy"):
        kind = "array"
    elif type(data).__module__.startswith("pandas"):
        kind = "dataframe"
    else:
        kind = type(data).__name__
    return h.hexdigest(), kind, info
