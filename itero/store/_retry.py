"""Riding out a database server that restarts or drops connections: a store call that loses its connection to
PostgreSQL is retried, with growing pauses, for up to ``ITERO_DB_RETRY_SECONDS`` (60 by default).

A call fails on a lost connection before its transaction commits in all but a vanishing window (the commit
itself), so a retry does the work once. SQLite needs none of this: it is a file, and a busy one is waited on
through its busy timeout.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError

logger = logging.getLogger("itero")

RETRY_SECONDS = float(os.environ.get("ITERO_DB_RETRY_SECONDS", "60"))
F = TypeVar("F", bound=Callable[..., Any])


def lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection to the server is gone or cannot be made (not a failed statement)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # SQLAlchemy's wrappers, or the driver's own errors: the store's prepared statements run on the driver's
    # cursor (see _prepared), so psycopg's OperationalError reaches here unwrapped.
    kinds = {k.__name__ for k in type(exc).__mro__}
    return bool(kinds & {"OperationalError", "InterfaceError"}) and any(
        words in str(exc).lower()
        for words in (
            "connection refused",
            "connection failed",
            "server closed the connection",
            "terminating connection",
            "connection is closed",
            "the database system is starting up",
            "the database system is shutting down",
            "could not receive data",
            "ssl connection has been closed",
            "consuming input failed",
        )
    )


def retrying(method: F) -> F:
    """``method`` of a store, retried while its PostgreSQL connection is lost (see module docstring)."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.engine.dialect.name != "postgresql":
            return method(self, *args, **kwargs)
        deadline = None
        pause = 0.2
        while True:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                if not lost_connection(exc):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + RETRY_SECONDS
                    reason = getattr(exc, "orig", None) or exc
                    logger.warning(
                        "lost the connection to the database (%s); retrying for up to %.0f s",
                        (str(reason).strip().splitlines() or [""])[0],
                        RETRY_SECONDS,
                    )
                if now >= deadline:
                    raise
                self.engine.dispose()  # the pool's other connections are as dead: the retry opens new ones
                time.sleep(min(pause, max(0.0, deadline - now)))
                pause = min(pause * 2, 5.0)

    return call  # type: ignore[return-value]


def retry_public_methods(cls: type) -> type:
    """Wrap every public method ``cls`` has (its own and its bases') with ``retrying``."""
    for klass in reversed(cls.__mro__[:-1]):
        for name, value in vars(klass).items():
            if name.startswith("_") or not callable(value) or isinstance(value, (staticmethod, classmethod, type)):
                continue
            if name in ("dispose", "artifacts_for"):
                continue
            setattr(cls, name, retrying(getattr(klass, name)))
    return cls
