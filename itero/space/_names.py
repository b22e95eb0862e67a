"""Names given under ``params:`` or ``space:`` that the objective never suggests are mistakes, not settings.

>>> check_names({"params.optimiser": "optimiser"}, {"optimizer", "lr"}, "task 'digits-mlp'")
Traceback (most recent call last):
...
itero.exceptions.ConfigError: params.optimiser: task 'digits-mlp' never suggests 'optimiser' (did you mean 'optimizer'?); its parameters: lr, optimizer
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from itero.exceptions import ConfigError


def named_settings(params: Mapping[str, Any] | None, space: Mapping[str, Any] | None) -> dict[str, str]:
    """``{"params.NAME": NAME, "space.NAME": NAME}``: where each name was given."""
    return {**{f"params.{n}": n for n in params or {}}, **{f"space.{n}": n for n in space or {}}}


def check_names(named: Mapping[str, str], known: Collection[str], whose: str) -> None:
    """A ConfigError for each name of ``named`` (where it was given -> name) not in ``known``, naming the
    closest known name and every known one."""
    parts = []
    for where, name in named.items():
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            parts.append(f"{where}: {whose} never suggests {name!r}{hint}")
    if parts:
        raise ConfigError("; ".join(parts) + f"; its parameters: {', '.join(sorted(known)) or 'none'}")


__all__ = ["check_names", "named_settings"]
