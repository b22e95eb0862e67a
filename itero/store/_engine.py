"""Opening a database: engine settings per backend, and schema migrations applied under a lock.

SQLite runs in WAL mode with a busy timeout; write transactions start with ``BEGIN IMMEDIATE`` so that two
writers queue on the busy timeout instead of failing with "database is locked" when a read lock cannot be
upgraded. Reads run outside explicit transactions (one snapshot per statement), which incremental reads allow
(see ``_schema``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DatabaseError, NoSuchModuleError
from sqlalchemy.pool import NullPool, StaticPool

from itero.exceptions import StorageError
from itero.store._schema import SCHEMA_REVISION
from itero.store._urls import check_url, parse_url, sqlite_file

_MIGRATIONS = Path(__file__).with_name("migrations")


def open_engine(url: str) -> Engine:
    """A SQLAlchemy engine for ``url`` with itero's settings; raises StorageError with the URL on failure."""
    backend = check_url(url)
    parsed = parse_url(url)
    try:
        if backend == "sqlite":
            engine = _sqlite_engine(url, parsed.database)
        else:
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            engine = create_engine(parsed, pool_pre_ping=True, pool_size=2, max_overflow=4)
    except NoSuchModuleError as exc:
        raise StorageError(f"storage {url!r}: database driver missing ({exc}); pip install 'itero[postgres]'") from None
    except ModuleNotFoundError as exc:
        raise StorageError(f"storage {url!r}: database driver missing ({exc}); pip install 'itero[postgres]'") from None
    _migrate(engine, url)
    return engine


def _sqlite_engine(url: str, database: str | None) -> Engine:
    memory = not database or database == ":memory:"
    read_only = False
    if memory:
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        path = Path(database).expanduser().resolve()  # type: ignore[arg-type]
        read_only = path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
        if read_only:  # still readable: list, show and report it; any write is refused with one line
            url = f"sqlite:///file:{path}?mode=ro{'' if _readable(path) else '&immutable=1'}&uri=true"
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            poolclass=NullPool if os.environ.get("ITERO_SQLITE_NULLPOOL") else None,
            connect_args={"timeout": 60, "check_same_thread": False},
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # itero emits BEGIN itself
        cur = dbapi_conn.cursor()
        if not memory and not read_only:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not conn.get_execution_options().get("itero_read"):
            if read_only:
                raise StorageError(cannot_open(f"sqlite:///{database}", "the file or its folder is read-only"))
            conn.connection.cursor().execute("BEGIN IMMEDIATE")  # the driver's cursor: no SQLAlchemy result

    return engine


def _readable(path: Path) -> bool:
    """Whether SQLite can read ``path`` read-only and see a writer's changes as they come: when a writer has it
    open (its ``-wal`` and ``-shm`` files are there, the latter sized). Otherwise only an immutable open reads it
    without making a ``-shm`` file beside it — a snapshot of the file as it is (no one is writing it now)."""
    shm = Path(f"{path}-shm")
    return Path(f"{path}-wal").exists() and shm.exists() and shm.stat().st_size >= 32768


def current_revision(engine: Engine) -> str | None:
    with engine.execution_options(itero_read=True).connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


@contextlib.contextmanager
def _migration_lock(engine: Engine, url: str) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(7242001)"))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(7242001)"))
                conn.commit()
        return
    database = sqlite_file(url)
    if database is None:  # in memory
        yield
        return
    with open(f"{database}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _migrate(engine: Engine, url: str) -> None:
    try:
        if current_revision(engine) == SCHEMA_REVISION:
            return
        with _migration_lock(engine, url):
            revision = current_revision(engine)
            if revision == SCHEMA_REVISION:
                return
            known = {p.name.split("_", 1)[0] for p in (_MIGRATIONS / "versions").glob("*.py")}
            if revision is not None and revision not in known:
                raise StorageError(
                    f"storage {url!r} has schema revision {revision!r}, newer than this itero knows "
                    f"({SCHEMA_REVISION!r}); upgrade itero"
                )
            from alembic import command  # only when the schema must change (alembic costs ~0.2 s to import)
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(_MIGRATIONS))
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
    except DatabaseError as exc:
        raise StorageError(cannot_open(url, str(exc.orig))) from None
    except PermissionError as exc:
        raise StorageError(cannot_open(url, f"{exc.strerror}: {exc.filename}")) from None


def cannot_open(url: str, reason: str) -> str:
    """One line saying why ``url`` cannot be opened and what to do about it."""
    database = sqlite_file(url)
    if database is not None and ("not a database" in reason or "malformed" in reason):
        return (
            f"cannot open storage {url!r}: {database} is not an SQLite database or is damaged ({reason}); "
            "restore it from a copy, or give another storage"
        )
    if database is not None and any(
        w in reason for w in ("readonly", "read-only", "Permission denied", "unable to open")
    ):
        return (
            f"cannot open storage {url!r}: {database} cannot be written ({reason}); itero writes to the database "
            "and beside it (its -wal, -shm and .lock files): make the file and its folder writable, or copy them "
            "to a folder that is"
        )
    return f"cannot open storage {url!r}: {reason}"
