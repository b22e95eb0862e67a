"""Opening a database: engine settings per backend, and schema migrations applied under a lock.

SQLite runs in WAL mode; write transactions start with ``BEGIN IMMEDIATE`` so that two writers queue instead of
failing with "database is locked" when a read lock cannot be upgraded. Writers queue on ``<database>.lock`` (see
``_writer_lock``) before SQLite's own busy timeout could see them. Reads run outside explicit transactions (one
snapshot per statement), which incremental reads allow (see ``_schema``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
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
            # No ping at checkout (a round trip each time): a call that finds its connection gone is retried on
            # a new pool (``_retry``).
            engine = create_engine(parsed, pool_size=2, max_overflow=4)
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
        connect_args: dict[str, Any] = {"timeout": 60, "check_same_thread": False}
        if not read_only:
            connect_args["factory"] = _writer_lock(f"{path}.lock")
        engine = create_engine(
            url, poolclass=NullPool if os.environ.get("ITERO_SQLITE_NULLPOOL") else None, connect_args=connect_args
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
            dbapi = conn.connection.dbapi_connection
            if isinstance(dbapi, LockedConnection):
                dbapi.begin_immediate()
            else:  # in memory: one connection, nothing to queue
                dbapi.cursor().execute("BEGIN IMMEDIATE")  # the driver's cursor: no SQLAlchemy result

    return engine


LOCK_SECONDS = 60.0  # as SQLite's busy timeout: a writer waits this long for another before "database is locked"


class LockedConnection(sqlite3.Connection):
    """An SQLite connection whose write transactions hold an exclusive ``flock`` on a lock file beside the
    database, from ``BEGIN IMMEDIATE`` to commit or rollback (the kernel drops it if the process dies).

    Why: writers that find SQLite's write lock taken wait in its busy handler, which sleeps 1, 2, 5, 10... ms
    between tries, many times the length of itero's transactions (a fraction of a millisecond): with a few
    processes on one study most of a write's latency was that sleep. Here a waiting writer polls the lock file
    every 50-800 us instead, so it starts about when the other commits; SQLite's busy timeout stays as the
    fallback for writers that do not take the file lock (another program, an older itero)."""

    lock_path = ""
    _fd: int | None = None

    def lock(self) -> None:
        if self._fd is None:
            self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline, pause = time.monotonic() + LOCK_SECONDS, 50e-6
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StorageError(
                        f"another process has held the write lock {self.lock_path} for {LOCK_SECONDS:g} s; "
                        "a writer is stuck mid-transaction (stopped with Ctrl-Z, or hung): end it, or find it "
                        f"with `fuser {self.lock_path}`"
                    ) from None
                time.sleep(pause)
                pause = min(2 * pause, 800e-6)

    def begin_immediate(self) -> None:
        """Take the lock file, then SQLite's write lock."""
        self.lock()
        try:
            self.cursor().execute("BEGIN IMMEDIATE")
        except BaseException:
            self.unlock()
            raise

    def unlock(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.unlock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.unlock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)  # drops the lock with it


def _writer_lock(path: str) -> type[LockedConnection]:
    """A ``sqlite3.connect`` factory: connections that queue their writes on the lock file ``path``."""
    return type("LockedConnection", (LockedConnection,), {"lock_path": path})


def _readable(path: Path) -> bool:
    """Whether SQLite can read ``path`` read-only and see a writer's changes as they come: when a writer has it
    open (its ``-wal`` and ``-shm`` files are there, the latter sized). Otherwise only an immutable open reads it
    without making a ``-shm`` file beside it — a snapshot of the file as it is (no one is writing it now)."""
    shm = Path(f"{path}-shm")
    return Path(f"{path}-wal").exists() and shm.exists() and shm.stat().st_size >= 32768


def reader(engine: Engine) -> Engine:
    """``engine`` for reads: no write lock on SQLite; no transaction on PostgreSQL (autocommit: no BEGIN and
    ROLLBACK round trips). Each statement reads its own snapshot, which the store's reads allow (see
    ``Trials.read_changes``)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(itero_read=True, isolation_level="AUTOCOMMIT")
    return engine.execution_options(itero_read=True)


def current_revision(engine: Engine) -> str | None:
    with reader(engine).connect() as conn:
        return _revision(conn)


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(7242001)"))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(7242001)"))
                conn.commit()
        return
    yield  # SQLite: the migration's write transaction holds the writer lock (LockedConnection)


def _migrate(engine: Engine, url: str) -> None:
    try:
        if current_revision(engine) == SCHEMA_REVISION:
            return
        with _migration_lock(engine), engine.begin() as conn:
            revision = _revision(conn)
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
