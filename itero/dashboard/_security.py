"""Who may write, and the headers every answer carries.

The dashboard is read-only unless started with ``--allow-write``. Then every write is a JSON ``POST`` with
``Authorization: Bearer <token>``; the label of the token is recorded as who made the change. Tokens come from
``ITERO_DASHBOARD_TOKEN`` (``secret`` or ``label=secret,label=secret``) or one is made up and printed at start.

Why this stops cross-site requests: a browser on another site cannot add an ``Authorization`` header or send
``application/json`` to this origin without a CORS preflight, which the dashboard never grants; the ``Origin`` of
a write, when the browser sends one, must also be the dashboard's own. Pages never take the token from a cookie.

    >>> tokens = parse_tokens("alice=s3cret-alice,bob=t0ken-bob")
    >>> tokens["s3cret-alice"]
    'alice'
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping

from starlette.requests import Request

TOKEN_ENV = "ITERO_DASHBOARD_TOKEN"
DEFAULT_LABEL = "dashboard"

#: Sent with every answer: scripts only from the dashboard itself, no framing, no referrer, no type sniffing.
#: 'unsafe-eval' is for plotly's WebGL traces (parallel coordinates, large scatter plots): regl compiles its
#: drawing code with ``new Function``. It lets the dashboard's own scripts evaluate strings; no inline script and
#: no script from elsewhere may run.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class WriteRefused(Exception):
    """A write the dashboard will not do; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_tokens(text: str) -> dict[str, str]:
    """``"secret"`` or ``"label=secret,label=secret"`` -> ``{secret: label}``; raises ``ValueError`` on a
    malformed entry (an empty secret, or one shorter than 8 characters)."""
    out: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        label, sep, secret = part.partition("=")
        if not sep:
            label, secret = DEFAULT_LABEL, part
        label, secret = label.strip() or DEFAULT_LABEL, secret.strip()
        if len(secret) < 8:
            raise ValueError(f"{TOKEN_ENV}: the token of {label!r} is shorter than 8 characters")
        out[secret] = label
    if not out:
        raise ValueError(f"{TOKEN_ENV} is set but holds no token (expected 'secret' or 'label=secret,...')")
    return out


def make_tokens(environ: Mapping[str, str] | None = None) -> tuple[dict[str, str], bool]:
    """``({secret: label}, made_up)``: the tokens of ``ITERO_DASHBOARD_TOKEN``, else one new random token."""
    env = os.environ if environ is None else environ
    if env.get(TOKEN_ENV):
        return parse_tokens(env[TOKEN_ENV]), False
    return {secrets.token_urlsafe(24): DEFAULT_LABEL}, True


def check_write(request: Request, tokens: Mapping[str, str] | None) -> str:
    """The label of the token that authorises this write, or ``WriteRefused`` saying why not."""
    if tokens is None:
        raise WriteRefused(403, "this dashboard is read-only: start it with --allow-write to change studies")
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise WriteRefused(403, f"a write from another origin ({origin}) is refused")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise WriteRefused(415, "a write must be sent as application/json")
    auth = request.headers.get("authorization", "")
    scheme, _, given = auth.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise WriteRefused(401, "a write needs the dashboard's token (Authorization: Bearer <token>)")
    for secret, label in tokens.items():
        if hmac.compare_digest(secret.encode(), given.strip().encode()):
            return label
    raise WriteRefused(401, "the token is not one of this dashboard's tokens")


__all__ = ["SECURITY_HEADERS", "TOKEN_ENV", "WriteRefused", "check_write", "make_tokens", "parse_tokens"]
