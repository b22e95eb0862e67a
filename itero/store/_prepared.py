"""Statements compiled once per database dialect and run through the driver directly.

SQLAlchemy Core builds and caches each statement, but rebuilding the statement object and its cache key costs
about 0.1 ms per execution, and even ``exec_driver_sql`` spends ~10 µs per call setting up its result — most of a
trial's overhead for cheap objectives. The store's hot statements (create, report, finish, incremental read) are
built once with bind parameters, compiled for the engine's dialect, and executed on the driver's own cursor of
the connection (inside the SQLAlchemy transaction of a write; a read runs on the connection as it is, and the
pool rolls it back when the connection is returned): ``run`` returns that DB-API cursor. Errors surface as the
driver's own exceptions (``sqlite3.Error``, ``psycopg.Error``), not SQLAlchemy's.

    >>> from sqlalchemy import bindparam, select, create_engine
    >>> from itero.store._schema import studies
    >>> q = Prepared(select(studies.c.clock).where(studies.c.id == bindparam("sid")), create_engine("sqlite://"))
    >>> q.sql
    'SELECT itero_studies.clock \\nFROM itero_studies \\nWHERE itero_studies.id = ?'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import closing
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.sql import Executable


class Prepared:
    """One statement compiled for one engine; ``run(conn, {name: value})`` executes it."""

    def __init__(self, stmt: Executable, engine: Engine) -> None:
        compiled = stmt.compile(dialect=engine.dialect)  # type: ignore[attr-defined]
        self.sql: str = compiled.string
        self._order: Sequence[str] | None = compiled.positiontup if compiled.positional else None
        self._defaults: dict[str, Any] = dict(compiled.params)  # literals such as the 1 of "clock + 1"

    def _params(self, values: Mapping[str, Any]) -> Any:
        merged = {**self._defaults, **values}
        if self._order is None:
            return merged
        return tuple(merged[name] for name in self._order)

    def run(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """Execute on ``conn``'s driver connection; returns the DB-API cursor (``rowcount``, ``fetchone``...)."""
        cursor = conn.connection.cursor()
        cursor.execute(self.sql, self._params(values))
        return cursor

    def scalar(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """The first column of the one row the statement returns."""
        with closing(self.run(conn, values)) as cursor:
            row = cursor.fetchone()
        if row is None:
            raise LookupError(f"no row for {values}: {self.sql}")
        return row[0]

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        conn.connection.cursor().executemany(self.sql, [self._params(r) for r in rows])
