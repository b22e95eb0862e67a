"""Statements compiled once per database dialect and run through the driver directly.

SQLAlchemy Core builds and caches each statement, but rebuilding the statement object and its cache key costs
about 0.1 ms per execution — most of a trial's overhead for cheap objectives. The store's hot statements
(create, report, finish, incremental read) are built once with bind parameters, compiled for the engine's dialect,
and executed with ``exec_driver_sql``.

    >>> from sqlalchemy import bindparam, select, create_engine
    >>> from itero.store._schema import studies
    >>> q = Prepared(select(studies.c.clock).where(studies.c.id == bindparam("sid")), create_engine("sqlite://"))
    >>> q.sql
    'SELECT itero_studies.clock \\nFROM itero_studies \\nWHERE itero_studies.id = ?'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine
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

    def run(self, conn: Connection, values: Mapping[str, Any]) -> CursorResult[Any]:
        return conn.exec_driver_sql(self.sql, self._params(values))

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> CursorResult[Any]:
        return conn.exec_driver_sql(self.sql, [self._params(r) for r in rows])
