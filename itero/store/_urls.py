"""Storage URLs (SQLAlchemy's form): which backend, which SQLite file, and a form safe to show.

    >>> check_url("sqlite:///itero.db")
    'sqlite'
    >>> sqlite_file("sqlite:///runs/itero.db")
    PosixPath('runs/itero.db')
    >>> public_url("postgresql://me:secret@db.example/itero")
    'postgresql://me:***@db.example/itero'

Only the store parses URLs; everything else asks these functions.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from itero.exceptions import StorageError

BACKENDS = ("sqlite", "postgresql")
EXAMPLES = "e.g. 'sqlite:///itero.db' or 'postgresql://user@host/db'"


def parse_url(url: str) -> URL:
    """``url`` parsed; StorageError naming it when it is not a database URL."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise StorageError(f"storage {url!r} is not a database URL; expected {EXAMPLES}") from None


def url_backend(url: str) -> str | None:
    """The backend named by ``url`` (``"sqlite"``, ``"postgresql"``, ``"mysql"``, ...); None when it is not a
    database URL."""
    try:
        return make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        return None


def check_url(url: str) -> str:
    """The backend of ``url``, one of :data:`BACKENDS`; StorageError naming the URL otherwise."""
    backend = parse_url(url).get_backend_name()
    if backend not in BACKENDS:
        raise StorageError(f"storage {url!r}: backend {backend!r} is not supported; use sqlite or postgresql")
    return backend


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases, in-memory SQLite or a malformed URL)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser()


def public_url(url: str) -> str:
    """``url`` with its password hidden (``***``); a malformed URL loses everything up to its last ``@``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url.split("@")[-1] if "@" in url else url
