"""``itero dashboard``: the live web dashboard of a store.

    itero dashboard [--storage URL] [--port 8080] [--host 127.0.0.1] [--allow-write]

Registered on the ``itero`` app by ``itero/cli/__init__.py``.
"""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from itero._defaults import DEFAULT_STORAGE
from itero.cli._common import StorageOption, err, fail, user_errors


def dashboard(
    storage: StorageOption = DEFAULT_STORAGE,
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="The port to listen on.")] = 8080,
    host: Annotated[
        str,
        typer.Option("--host", help="The address to listen on; anything but 127.0.0.1/localhost exposes the studies."),
    ] = "127.0.0.1",
    allow_write: Annotated[
        bool,
        typer.Option(
            "--allow-write",
            help="Allow enqueueing, stopping, pausing, resuming and marking trials, with a token "
            "(ITERO_DASHBOARD_TOKEN as 'secret' or 'label=secret,...'; else one is made up and printed).",
        ),
    ] = False,
) -> None:
    """Serve a live dashboard of every study in the store: history, learning curves, parameters, Pareto front,
    lineage, cost and CO₂, the trial table, and each trial in full. Read-only unless --allow-write."""
    from itero.dashboard import is_loopback, make_tokens, serve
    from itero.store import Store, public_url, sqlite_file

    database = sqlite_file(storage)
    if database is not None and not database.exists():
        fail(f"--storage {storage}: no database at {database} (run a study first, or point --storage at one)")
    tokens = None
    if allow_write:
        try:
            tokens, made_up = make_tokens()
        except ValueError as exc:
            fail(str(exc))
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(f"--host {host} --port {port}: cannot listen there ({exc.strerror}); pick another --port")
    with user_errors():
        store = Store(storage)
    console = err()
    if not is_loopback(host):
        console.print(
            f"warning: listening on {host}: anyone who can reach this machine can read every study"
            + (" and, with the token, change them" if tokens else "")
            + "; use 127.0.0.1 behind an SSH tunnel or a proxy with TLS for remote access",
            style="yellow",
        )
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    console.print(f"itero dashboard of {public_url(store.url)} at http://{shown}:{port}  (Ctrl-C stops it)")
    if tokens is not None:
        if made_up:
            console.print(f"writes allowed with the token: {next(iter(tokens))}")
        else:
            console.print(f"writes allowed with the tokens of ITERO_DASHBOARD_TOKEN ({', '.join(tokens.values())})")
    try:
        serve(store, host=host, port=port, tokens=tokens)
    finally:
        store.dispose()


__all__ = ["dashboard"]
