"""A study as a YAML file: load it, check everything that can fail, then run it.

    config = load_config("study.yaml")  # ConfigError naming the file, key and value on bad input
    resolved = validate(config)         # builds task, space, sampler, scheduler: nothing is written yet
    study = run_config(resolved)        # create or resume the study; budgets are study totals

The keys are those of DESIGN.md (``study``, ``storage``, ``task``, ``objectives``, ``params``, ``space``,
``sampler``, ``scheduler``, ``budget``, ``n_jobs``). The ``budget`` becomes the study's own (``Study.set_budget``):
the store grants it across every process and machine working on the study, and re-running the same file
resumes the same totals, so a budget of 8 trials after a run of 6 adds 2 more.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from itero.exceptions import ConfigError
from itero.samplers import BaseSampler, make_sampler
from itero.schedulers import BaseScheduler, make_scheduler
from itero.space import Distribution, check_names, named_settings, parse_space
from itero.store import url_backend
from itero.study import DEFAULT_STORAGE, Study, check_objectives, create_study
from itero.study._cluster import parse_executor
from itero.tracking import intensity
from itero.trial import TrialState

logger = logging.getLogger("itero")

DEFAULT_TRIALS = 20
T = TypeVar("T")
_Count = Annotated[int, Field(ge=1)]


class BudgetConfig(BaseModel):
    """Study totals across re-runs; the first one reached ends the study."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    trials: _Count | None = None
    steps: _Count | None = None
    minutes: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    energy_kwh: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


class StudyConfig(BaseModel):
    """The YAML keys of a study (DESIGN.md); unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    study: Annotated[str, Field(min_length=1, max_length=255)]
    storage: Annotated[str, Field(min_length=1)] = DEFAULT_STORAGE
    artifacts: Annotated[str, Field(min_length=1)] | None = None
    task: Annotated[str, Field(min_length=1)]
    objectives: dict[str, str] | None = None
    params: dict[str, Any] | None = None
    space: dict[str, Any] | None = None
    sampler: str | dict[str, Any] = "tpe"
    scheduler: str | dict[str, Any] = "auto"
    budget: BudgetConfig | None = None
    n_jobs: _Count = 1
    executor: str | dict[str, Any] = "local"
    share_weights: list[str] | None = None
    warm_start: list[str | dict[str, str]] | None = None
    tracking: bool = True
    region: Annotated[str, Field(min_length=1)] | None = None

    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str:
        """The file this config came from (``<config>`` when built in code)."""
        return self._source or "<config>"


# What each key accepts, for error messages (pydantic's own texts name Python types, not YAML).
_EXPECTED = {
    "study": "a non-empty string (the study's name)",
    "storage": "a database URL such as 'sqlite:///itero.db' or 'postgresql://user@host/db'",
    "task": "a built-in task name (see `itero tasks`), 'package.module:function' or 'path/file.py:function'",
    "objectives": "a mapping of metric name to maximize | minimize, e.g. {val_acc: maximize}",
    "params": "a mapping of parameter name to a fixed value, e.g. {optimizer: adam}",
    "space": "a mapping of parameter name to a range, e.g. {lr: {low: 0.001, high: 0.3, log: true}}",
    "sampler": "a sampler name such as tpe, or a mapping {name: tpe, seed: 0, ...options}",
    "scheduler": "a scheduler name such as fifo, or a mapping {name: fifo, max_steps: 20, ...options}",
    "budget": "a mapping with any of trials, steps, minutes, energy_kwh, e.g. {trials: 100, minutes: 30}",
    "budget.trials": "an integer >= 1",
    "budget.steps": "an integer >= 1",
    "budget.minutes": "a number > 0",
    "budget.energy_kwh": "a number > 0 (kWh, as measured by itero's energy tracking)",
    "tracking": "true or false (record environment, energy and CO2; default true)",
    "region": "an ISO 3166 country code such as FRA or US, or world (the grid's carbon intensity)",
    "n_jobs": "an integer >= 1",
    "share_weights": "a list of the parameter names that shape the model, e.g. [width, depth, optimizer]",
    "executor": "local, ray or dask, or {name: ray, address: HOST:PORT, cpus_per_trial: 1, gpus_per_trial: 1}",
    "artifacts": "where checkpoints live: a folder, an fsspec URL (s3://bucket/prefix) or 'database'",
    "warm_start": "a list of earlier studies: names in this storage or {study: NAME, storage: URL}",
}
_ALLOWED_KEYS = {"": list(StudyConfig.model_fields), "budget": list(BudgetConfig.model_fields)}


# ---------------------------------------------------------------------------------------------- loading
def load_config(path: str | Path) -> StudyConfig:
    """Read and check the keys of a YAML study file; raises ConfigError naming the file, key and value."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
    return parse_config(_parse_yaml(text, str(path)), source=str(path))


def parse_config(data: Any, source: str = "<config>") -> StudyConfig:
    """A StudyConfig from already-parsed data (the YAML file's top-level mapping)."""
    if data is None:
        raise ConfigError(f"{source}: the file is empty; expected a mapping with at least 'study' and 'task'")
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: the top level is a {_yaml_type(data)}, expected a mapping of keys "
            f"{_ALLOWED_KEYS['']} (e.g. 'study: my-study')"
        )
    try:
        config = StudyConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_explain(exc, data)}") from None
    config._source = source
    return config


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, (str, int, float, bool)):
            continue
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return dict(loader.construct_pairs(node))


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        context = exc.context or ""
        if context and exc.context_mark is not None and exc.context_mark is not mark:
            context += f" (line {exc.context_mark.line + 1})"
        problem = ", ".join(p for p in (context, exc.problem) if p)
        raise ConfigError(f"{source}: invalid YAML{at}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None


def _yaml_type(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _explain(exc: ValidationError, data: Any) -> str:
    """One line for pydantic's errors: the first one's key path, value and what is allowed, plus a count."""
    seen: dict[str, str] = {}
    for err in exc.errors():
        path = _key_path(err["loc"], data, err["type"])
        if path not in seen:
            seen[path] = _explain_one(path, err)
    first = next(iter(seen.values()))
    more = len(seen) - 1
    return first + (f" (and {more} more)" if more else "")


def _key_path(loc: tuple[Any, ...], data: Any, kind: str) -> str:
    """The key path in the user's data (pydantic adds union member tags such as ``str`` that it lacks)."""
    parts: list[str] = []
    node = data
    for i, elem in enumerate(loc):
        in_data = (isinstance(node, Mapping) and elem in node) or (
            isinstance(node, list) and isinstance(elem, int) and elem < len(node)
        )
        if in_data:
            node = node[elem]
        elif not (kind == "missing" and i == len(loc) - 1):
            continue
        parts.append(str(elem))
    return ".".join(parts)


def _explain_one(path: str, err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        parent, _, key = path.rpartition(".")
        allowed = _ALLOWED_KEYS.get(parent)
        if not allowed:
            return f"{path}: unknown key {key!r}"
        close = difflib.get_close_matches(key, allowed, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{path}: unknown key {key!r}{guess}; allowed keys are {allowed}"
    expected = _EXPECTED.get(path) or err["msg"].lower().replace("input should be", "expected")
    if kind == "missing":
        return f"{path}: missing required key; expected {expected}"
    return f"{path}: got {_short(err['input'])}; expected {expected}"


def _short(value: Any, width: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------------------------------------- validation
@dataclass
class ResolvedConfig:
    """A config whose parts are built and checked: what ``run_config`` needs, with nothing written yet."""

    config: StudyConfig
    objective: Callable[..., Any]
    directions: dict[str, str]
    sampler: BaseSampler
    scheduler: BaseScheduler
    space: dict[str, Distribution] = field(default_factory=dict)
    task: Any = None  # the built-in Task, when ``task`` names one
    target: str | None = None  # the objective's reference as resolved (a file beside the config: its full path)


def validate(config: StudyConfig) -> ResolvedConfig:
    """Build and check everything that can fail before the store is touched.

    Raises ConfigError naming the file and the key: the task or objective reference, the objectives, the
    space, the sampler and scheduler specs (and whether they serve the objectives), the storage URL's form.
    """
    src = config.source
    _check_storage(config.storage, src)
    objective, task, target = _resolve_task(config.task, src)
    directions = _resolve_objectives(config.objectives, task, src)
    space = _resolve_space(config.space, src)
    if task is not None and task.space:
        names = task.param_names()
        _with_source(
            src, lambda: check_names(named_settings(config.params, config.space), names, f"task {task.name!r}")
        )
    sampler = _with_source(src, lambda: make_sampler(config.sampler))
    scheduler = _with_source(src, lambda: make_scheduler(config.scheduler))
    _with_source(src, lambda: sampler.check_objectives(directions))
    _with_source(src, lambda: scheduler.check_objectives(directions))
    if config.region is not None:
        _with_source(src, lambda: intensity(config.region or "world"))
    _with_source(src, lambda: parse_executor(config.executor))
    if config.budget is not None and config.budget.energy_kwh is not None and not config.tracking:
        raise ConfigError(f"{src}: budget.energy_kwh needs energy tracking, but tracking is false")
    return ResolvedConfig(config, objective, directions, sampler, scheduler, space, task, target)


def _with_source(src: str, build: Callable[[], T]) -> T:
    """Run ``build``; a ConfigError it raises gets the file name in front."""
    try:
        return build()
    except ConfigError as exc:
        raise ConfigError(f"{src}: {exc}") from None


def _check_storage(url: str, src: str) -> None:
    backend = url_backend(url)
    if backend is None:
        raise ConfigError(f"{src}: storage: got {url!r}; expected {_EXPECTED['storage']}")
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"{src}: storage: got {url!r}; backend {backend!r} is not supported, use sqlite or postgresql"
        )


def _resolve_task(ref: str, src: str) -> tuple[Callable[..., Any], Any, str]:
    """``(objective, Task or None, the reference as resolved)``; a relative ``path/file.py:function`` is first
    looked for beside the config file."""
    from itero.tasks import TASKS, load_objective

    target = ref
    file_part, sep, func = ref.rpartition(":")
    if sep and file_part.endswith(".py") and not Path(file_part).is_absolute() and src != "<config>":
        beside = Path(src).parent / file_part
        if beside.is_file():
            target = f"{beside.resolve()}:{func}"
    objective = _with_source(src, lambda: load_objective(target))
    return objective, TASKS.get(ref), target


def _resolve_objectives(objectives: Mapping[str, str] | None, task: Any, src: str) -> dict[str, str]:
    if objectives is None:
        if task is not None:
            return dict(task.objectives)
        return check_objectives(None)
    if not objectives:
        raise ConfigError(f"{src}: objectives: got {{}}; expected {_EXPECTED['objectives']}")
    return _with_source(src, lambda: check_objectives(objectives))


def _resolve_space(space: Mapping[str, Any] | None, src: str) -> dict[str, Distribution]:
    if space is None:
        return {}
    for name, entry in space.items():
        _check_range(f"space.{name}", entry, src)
    return _with_source(src, lambda: parse_space(space))


def _check_range(where: str, entry: Any, src: str) -> None:
    """The two range mistakes people make, reported at the key that is wrong (``space.lr.low``)."""
    if not isinstance(entry, Mapping):
        return
    low: Any = entry.get("low")
    high: Any = entry.get("high")
    if not (_is_number(low) and _is_number(high)):
        return
    if low > high:
        raise ConfigError(f"{src}: {where}.low: got {low!r}, above high={high!r}; expected low <= high")
    if entry.get("log") is True and low <= 0:
        raise ConfigError(f"{src}: {where}.low: got {low!r}; with log: true expected low > 0")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------- running
@dataclass(frozen=True)
class RunPlan:
    """What one ``run_config`` call does: the per-call limits (without a ``budget:``, the default number of
    trials; with one, none — the study's own budget limits every process), or why nothing is run."""

    n_trials: int | None
    used_up: str | None = None  # why nothing is run, when the budget is already spent
    note: str | None = None


def plan_run(budget: BudgetConfig | None, study: Study) -> RunPlan:
    """How this run goes once ``budget`` is the study's budget (``Study.set_budget``).

    Every trial the study has (finished, running, paused or waiting for a retry) used one trial of the budget;
    trials it started are still finished once the trial budget is reached.
    """
    if budget is None or all(v is None for v in (budget.trials, budget.steps, budget.minutes, budget.energy_kwh)):
        return RunPlan(DEFAULT_TRIALS, note=f"no budget given: running {DEFAULT_TRIALS} trials")
    totals = study.totals()
    note = None
    if budget.trials is not None and totals.trials >= budget.trials:
        if not study.history.with_state(TrialState.WAITING, TrialState.PAUSED):
            return _used_up(f"budget.trials: the study has {totals.trials} of {budget.trials} trials")
        note = f"budget.trials: the study has all {budget.trials} trials; finishing those it started"
    steps_taken = study.budget.steps_taken
    if budget.steps is not None and steps_taken >= budget.steps:
        return _used_up(f"budget.steps: the study spent {steps_taken} of {budget.steps} steps")
    if budget.minutes is not None and totals.run_seconds >= budget.minutes * 60:
        spent = totals.run_seconds / 60
        return _used_up(f"budget.minutes: the study ran {spent:.2f} of {budget.minutes:g} minutes")
    if budget.energy_kwh is not None and totals.energy_kwh >= budget.energy_kwh:
        return _used_up(f"budget.energy_kwh: the study used {totals.energy_kwh:.4g} of {budget.energy_kwh:g} kWh")
    return RunPlan(None, note=note)


def _used_up(reason: str) -> RunPlan:
    return RunPlan(None, used_up=f"budget used up ({reason}); nothing to run")


def run_config(
    config: StudyConfig | ResolvedConfig,
    show_progress: bool | None = None,
    echo: Callable[[str], None] | None = None,
    executor: Any = None,
) -> Study:
    """Create or resume the study of ``config`` and optimize it within the rest of its budget; ``executor``
    (``"ray"``, ``{"name": "dask", "address": ...}``) replaces the config's.

    The notes of this run (the default number of trials, a budget already used up) go to ``echo`` when given,
    else to the ``itero`` logger.
    """
    resolved = config if isinstance(config, ResolvedConfig) else validate(config)
    cfg = resolved.config
    study = create_study(
        cfg.study,
        storage=cfg.storage,
        objectives=resolved.directions,
        sampler=resolved.sampler,
        scheduler=resolved.scheduler,
        params=cfg.params,
        space=resolved.space,
        load_if_exists=True,
        share_weights=cfg.share_weights,
        warm_start_from=cfg.warm_start,
        artifacts=cfg.artifacts,
        task=resolved.target,
        tracking=cfg.tracking,
        region=cfg.region,
    )
    budget = cfg.budget
    if budget is not None:
        study.set_budget(trials=budget.trials, steps=budget.steps, minutes=budget.minutes, energy_kwh=budget.energy_kwh)
    elif study.budget.limited:  # a budget set earlier (in Python, by another file) holds: no budget: is no change
        stored = study.budget
        budget = BudgetConfig(
            trials=stored.max_trials, steps=stored.max_steps, minutes=stored.minutes, energy_kwh=stored.energy_kwh
        )
    plan = plan_run(budget, study)
    for note, level in ((plan.note, logging.INFO), (plan.used_up, logging.WARNING)):
        if note and echo is not None:
            echo(f"study {cfg.study!r}: {note}")
        elif note:
            logger.log(level, "study %r: %s", cfg.study, note)
    if plan.used_up:
        return study
    study.optimize(
        resolved.objective,
        n_trials=plan.n_trials,
        n_jobs=cfg.n_jobs,
        show_progress=show_progress,
        executor=executor if executor is not None else cfg.executor,
    )
    return study


__all__ = [
    "BudgetConfig",
    "ResolvedConfig",
    "RunPlan",
    "StudyConfig",
    "load_config",
    "parse_config",
    "plan_run",
    "run_config",
    "validate",
]
