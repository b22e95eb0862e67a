"""The live dashboard: every study of a store, updated as workers write, and the expert's actions on them.

From a shell::

    itero dashboard --storage sqlite:///itero.db            # http://127.0.0.1:8080, read-only
    itero dashboard --allow-write                           # prints a token; writes need it

From Python (the ASGI app, for any ASGI server)::

    >>> from itero.dashboard import create_app
    >>> app = create_app("sqlite:///itero.db")                                  # doctest: +SKIP

Pages are server-rendered HTML parts fetched as JSON and redrawn when the study's version changes; plotly.js is
served from the installed ``plotly`` package, so the dashboard works offline and fetches nothing from elsewhere.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping

from itero.dashboard._app import STATIC_FILES, create_app
from itero.dashboard._security import TOKEN_ENV, make_tokens, parse_tokens
from itero.dashboard._state import Board
from itero.store import Store

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.1, ::1 and localhost: the addresses only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    storage: str | Store,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    tokens: Mapping[str, str] | None = None,
    log_level: str = "warning",
) -> None:
    """Run the dashboard until interrupted (Ctrl-C). Beyond loopback every host name is accepted, since the
    caller asked for it; say who may reach the machine with a firewall.

        >>> serve("sqlite:///itero.db", port=8080)                              # doctest: +SKIP
    """
    import uvicorn

    allowed = None if is_loopback(host) else ["*"]
    app = create_app(storage, tokens=tokens, allowed_hosts=allowed)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


__all__ = ["STATIC_FILES", "TOKEN_ENV", "Board", "create_app", "is_loopback", "make_tokens", "parse_tokens", "serve"]
