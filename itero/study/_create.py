"""Create or load a study: validate its settings, store them, and rebuild them on any peer.

>>> import itero
>>> study = itero.create_study("quadratic", storage="sqlite://", objectives={"loss": "minimize"})
>>> study.directions
{'loss': 'minimize'}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from itero._defaults import DEFAULT_STORAGE
from itero._spec import spec_of
from itero.exceptions import ConfigError, StudyNotFoundError
from itero.executors import ENERGY_METRIC
from itero.samplers import Transfer, make_sampler
from itero.schedulers import make_scheduler
from itero.space import parse_space
from itero.store import Store, recorded_location, sqlite_file
from itero.store._remote import DATABASE
from itero.study._study import Study
from itero.study._warm import load_sources, warm_items
from itero.tracking import intensity

_DIRECTIONS = ("maximize", "minimize")


def check_objectives(objectives: Any) -> dict[str, str]:
    """Validate ``{metric: "maximize" | "minimize"}``."""
    if objectives is None:
        return {"value": "minimize"}
    if isinstance(objectives, str):
        objectives = {objectives: "minimize"}
    if not isinstance(objectives, Mapping) or not objectives:
        raise ConfigError(f"objectives: expected a mapping of metric name to maximize|minimize, got {objectives!r}")
    out = {}
    for name, direction in objectives.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"objectives: metric names must be non-empty strings, got {name!r}")
        d = str(direction).lower() if isinstance(direction, str) else direction
        if d not in _DIRECTIONS:
            raise ConfigError(f"objectives.{name}: got {direction!r}; expected 'maximize' or 'minimize'")
        out[name] = d
    return out


def create_study(
    name: str,
    storage: str | Store = DEFAULT_STORAGE,
    objectives: Mapping[str, str] | None = None,
    sampler: Any = "tpe",
    scheduler: Any = "auto",
    params: Mapping[str, Any] | None = None,
    space: Mapping[str, Any] | None = None,
    load_if_exists: bool = False,
    artifacts: str | None = None,
    share_weights: Sequence[str] | None = None,
    tracking: bool = True,
    region: str | None = None,
    warm_start_from: Any = None,
    task: str | None = None,
) -> Study:
    """Create a study (or, with ``load_if_exists=True``, continue the one of that name).

    ``objectives`` maps metric names to ``"maximize"`` or ``"minimize"`` (default ``{"value": "minimize"}``);
    ``sampler`` and ``scheduler`` take an instance, a name or ``{"name": ..., **options}``; ``params`` fixes
    parameters the objective would otherwise search; ``space`` narrows or replaces their ranges.
    ``share_weights=["width", "depth"]`` starts a new trial from the checkpoint of the best stored trial
    whose parameters of those names (the ones that shape the model) are equal, when its objective calls
    ``trial.restore()`` after suggesting them (off by default).
    ``tracking`` records each worker's environment and each trial run's energy and CO2 (on by default);
    ``region`` is the ISO 3166 country code whose grid carbon intensity converts energy to CO2 (default
    ``$ITERO_REGION`` or ``"world"``, the world average). An objective named ``energy_kwh`` is filled with
    each trial's measured energy.
    ``artifacts`` is where checkpoints live: a folder, an fsspec URL (``s3://bucket/prefix``, ``gs://…``) or
    ``"database"``; a new study records it, so every worker finds the same (default: ``<db>-artifacts`` beside
    a SQLite file, ``"database"`` for PostgreSQL). For an existing study it only says where this machine
    reaches the recorded location (as ``ITERO_ARTIFACTS`` does).
    ``task`` records where the objective is (a built-in task name, ``"package.module:function"`` or
    ``"path/file.py:function"``), so that ``itero worker STUDY`` on another machine can run it.
    ``warm_start_from=["last-week"]`` (study names in this storage, ``Study`` objects or
    ``{"study": name, "storage": url}``) starts the search from earlier studies over the same or an overlapping
    space, as far as they rank this study's trials (``itero.samplers.Transfer``).
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or not name.isprintable():
        raise ConfigError(
            f"study name must be a non-empty string of at most 255 printable characters (no newline or tab), "
            f"got {name!r}"
        )
    directions = check_objectives(objectives)
    sampler_obj = make_sampler(sampler)
    if isinstance(sampler_obj, Transfer):
        raise ConfigError("sampler: pass the study's own sampler and warm_start_from=[...] rather than a Transfer")
    scheduler_obj = make_scheduler(scheduler)
    sampler_obj.check_objectives(directions)
    scheduler_obj.check_objectives(directions)
    space_obj = parse_space(space) if space is not None and not _is_parsed(space) else dict(space or {})
    if params is not None and not isinstance(params, Mapping):
        raise ConfigError(f"params: expected a mapping of parameter name to value, got {params!r}")
    shared = _check_names("share_weights", share_weights)
    if not isinstance(tracking, bool):
        raise ConfigError(f"tracking must be true or false, got {tracking!r}")
    region_code = intensity(region or os.environ.get("ITERO_REGION") or "world").region
    if ENERGY_METRIC in directions and (not tracking or directions[ENERGY_METRIC] != "minimize"):
        raise ConfigError(
            f"objective {ENERGY_METRIC!r} is the measured energy: it needs tracking=True and 'minimize', "
            f"got tracking={tracking}, {directions[ENERGY_METRIC]!r}"
        )
    store = storage if isinstance(storage, Store) else Store(storage, artifacts=artifacts)
    location = _artifacts_location(artifacts, store)
    warm = warm_items(warm_start_from, store)
    sources = load_sources(warm, store, name)
    config = {
        "sampler": spec_of(sampler_obj),
        "scheduler": spec_of(scheduler_obj),
        "params": dict(params or {}),
        "space": {k: d.to_dict() for k, d in space_obj.items()},
        "share_weights": list(shared),
        "tracking": tracking,
        "region": region_code,
        "warm_start": warm,
    }
    if location is not None:
        config["artifacts"] = location
    if task is not None:
        if not isinstance(task, str) or not task.strip():
            raise ConfigError(f"task: expected a task name or 'module:function', got {task!r}")
        config["task"] = task
    _check_json(config)
    record = store.create_study(name, directions, config, load_if_exists=load_if_exists)
    if record.directions != directions:
        raise ConfigError(
            f"study {name!r} exists with objectives {record.directions}, not {directions}; "
            "use another study name to change the objectives"
        )
    if task is not None and record.config.get("task") != task:  # an existing study learns where its objective is
        store.update_study_config(record.id, {**record.config, "task": task})
    stored = record.config.get("warm_start", [])
    if stored != warm:  # an existing study (load_if_exists) keeps the sources it was created with
        sources = load_sources(stored, store, name, missing_ok=True)
    if sources:
        sampler_obj = Transfer(sampler_obj, sources)
    study = Study(
        store, name, record.id, directions, sampler_obj, scheduler_obj, params, space_obj, shared, tracking, region_code
    )
    study._reopen = load_study  # how a peer on another machine opens it (see _cluster)
    return study


def load_study(
    name: str,
    storage: str | Store = DEFAULT_STORAGE,
    sampler: Any = None,
    scheduler: Any = None,
    artifacts: str | None = None,
) -> Study:
    """Open an existing study; its sampler, scheduler, fixed params and space come from the store unless given."""
    from itero.space import distribution_from_dict

    database = None if isinstance(storage, Store) else sqlite_file(storage)
    if database is not None and not database.exists():  # reading must not create the file
        raise StudyNotFoundError(f"no study named {name!r}: no database at {database}")
    store = storage if isinstance(storage, Store) else Store(storage, artifacts=artifacts)
    record = store.get_study(name)
    config = record.config
    sampler_obj = make_sampler(sampler if sampler is not None else config.get("sampler", "tpe"))
    scheduler_obj = make_scheduler(scheduler if scheduler is not None else config.get("scheduler", "fifo"))
    sources = load_sources(config.get("warm_start", []), store, name, missing_ok=True)
    if sources:
        sampler_obj = Transfer(sampler_obj, sources)
    space = {k: distribution_from_dict(v) for k, v in config.get("space", {}).items()}
    shared = tuple(config.get("share_weights", ()))
    study = Study(
        store,
        name,
        record.id,
        record.directions,
        sampler_obj,
        scheduler_obj,
        config.get("params"),
        space,
        shared,
        bool(config.get("tracking", True)),
        str(config.get("region", "world")),
    )
    study._reopen = load_study
    return study


def _check_names(key: str, names: Any) -> tuple[str, ...]:
    if names is None:
        return ()
    if isinstance(names, str) or not isinstance(names, Sequence) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{key}: expected a list of parameter names, e.g. ['width', 'depth'], got {names!r}")
    return tuple(names)


def _check_json(config: Mapping[str, Any]) -> None:
    """The study's settings are stored as JSON so that any peer rebuilds the same sampler and scheduler."""
    for key, value in config.items():
        items = value.items() if isinstance(value, Mapping) else [("", value)]
        for option, v in items:
            try:
                json.dumps(v, allow_nan=False)
            except (TypeError, ValueError):
                where = f"{key}.{option}" if option else key
                raise ConfigError(
                    f"{where}: {v!r} cannot be stored (options must be JSON values: numbers, strings, lists, "
                    "mappings) so that every worker rebuilds the same study"
                ) from None


def _is_parsed(space: Mapping[str, Any]) -> bool:
    from itero.space import CategoricalDistribution, FloatDistribution, IntDistribution

    return all(isinstance(v, (FloatDistribution, IntDistribution, CategoricalDistribution)) for v in space.values())


def _artifacts_location(artifacts: str | None, store: Store) -> str | None:
    """The artifact location a new study records: the one given, else ``database`` for a server database (so
    that every worker, wherever it runs, finds the checkpoints); None (beside the file) for SQLite."""
    if artifacts is not None:
        if not isinstance(artifacts, (str, os.PathLike)) or not str(artifacts).strip():
            raise ConfigError(f"artifacts: expected a folder, an fsspec URL or 'database', got {artifacts!r}")
        return recorded_location(artifacts)
    if store.engine.dialect.name != "sqlite":
        return DATABASE
    return None
