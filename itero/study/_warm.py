"""Read the studies a new study warm-starts from (``warm_start_from=``) into ``Source`` records.

Each item is a study name in the new study's storage, a ``Study``, or ``{"study": name, "storage": url}``. The
study stores the items as ``[{"study": name}]`` or ``[{"study": name, "storage": url}]`` so that every peer
reads the same sources.

    >>> import itero
    >>> old = itero.create_study("old", storage="sqlite://", objectives={"loss": "minimize"})
    >>> warm_items(["old"], old.store)
    [{'study': 'old'}]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from itero.exceptions import ConfigError, StudyNotFoundError
from itero.samplers._transfer import Source
from itero.store import Store
from itero.store._cache import StudyCache

logger = logging.getLogger("itero")


def warm_items(items: Any, store: Store) -> list[dict[str, str]]:
    """``warm_start_from`` checked and in its stored form (see the module docstring)."""
    from itero.study._study import Study

    if items is None:
        return []
    if isinstance(items, (str, Study, Mapping)) or not isinstance(items, Sequence):
        items = [items]
    out: list[dict[str, str]] = []
    for item in items:
        if isinstance(item, str) and item:
            out.append({"study": item})
        elif isinstance(item, Study):
            same = item.store is store or item.store.url == store.url
            out.append({"study": item.name} if same else {"study": item.name, "storage": item.store.url})
        elif isinstance(item, Mapping) and set(item) <= {"study", "storage"} and isinstance(item.get("study"), str):
            storage = item.get("storage")
            if storage is not None and not isinstance(storage, str):
                raise ConfigError(f"warm_start: storage must be a URL string, got {storage!r}")
            out.append({"study": item["study"]} if storage is None else {"study": item["study"], "storage": storage})
        else:
            raise ConfigError(
                "warm_start: expected study names, Study objects or {study: NAME, storage: URL} mappings, "
                f"got {item!r}"
            )
    return out


def load_sources(items: Sequence[Mapping[str, str]], store: Store, name: str, missing_ok: bool = False) -> list[Source]:
    """The ``Source`` of each stored item: its complete trials with a finite first objective. A missing study,
    one without such trials, or the new study itself is a ``ConfigError`` naming it; with ``missing_ok`` (a
    study reopened after a source was deleted) a missing source is skipped with a warning."""
    sources = []
    for item in items:
        src_store = store if "storage" not in item else Store(item["storage"])
        src_name = item["study"]
        where = "" if "storage" not in item else f" in {src_store.url}"
        if src_name == name and "storage" not in item:
            raise ConfigError(f"warm_start: study {name!r} cannot warm-start from itself")
        try:
            record = src_store.get_study(src_name)
        except StudyNotFoundError as e:
            if missing_ok:
                logger.warning("study %r: its warm-start source %r is gone; going on without it", name, src_name)
                continue
            raise ConfigError(f"warm_start: {e.args[0]}") from None
        history = StudyCache(src_store, record.id, src_name, record.directions).refresh()
        objective = history.objective_names[0]
        sign = -1.0 if history.directions[objective] == "maximize" else 1.0
        rows = [
            (t.params, sign * t.metrics[objective])
            for t in history.completed()
            if math.isfinite(t.metrics.get(objective, math.nan))
        ]
        if not rows:
            raise ConfigError(
                f"warm_start: study {src_name!r}{where} has no complete trial with a finite {objective!r} to learn from"
            )
        sources.append(Source(src_name, [p for p, _ in rows], [v for _, v in rows]))
    return sources


__all__ = ["load_sources", "warm_items"]
