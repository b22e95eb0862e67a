"""Export a study to MLflow: one experiment, one run per trial.

    >>> import itero
    >>> from itero.export import to_mlflow
    >>> study = itero.load_study("digits", storage="sqlite:///itero.db")  # doctest: +SKIP
    >>> runs = to_mlflow(study, "sqlite:///mlflow.db")  # doctest: +SKIP
    >>> runs[0]  # trial number -> MLflow run id  # doctest: +SKIP
    'c0ffee...'

Then ``mlflow ui --backend-store-uri sqlite:///mlflow.db``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import posixpath
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from itero.export._common import as_number, same
from itero.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

    from itero.study import Study

INSTALL_HINT = "pip install mlflow-skinny (or pip install 'itero[export]')"

#: The run status of each finished trial state.
RUN_STATUS = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED", TrialState.FAILED: "FAILED"}
#: The run status of each unfinished trial state: a paused or waiting trial is not running, it is scheduled to go on.
OPEN_STATUS = {TrialState.RUNNING: "RUNNING", TrialState.PAUSED: "SCHEDULED", TrialState.WAITING: "SCHEDULED"}
#: ``system_attrs`` keys that describe where a trial's weights came from, exported as ``itero.<key>`` tags.
LINEAGE_KEYS = ("clone_of", "from_step", "replaces", "shared_from")

# MLflow's limits (mlflow.utils.validation): per log_batch call, and of one tag value.
_MAX_METRICS, _MAX_PARAMS, _MAX_TAGS, _MAX_ENTITIES = 1000, 100, 100, 1000
_MAX_TAG_VALUE = 8000
_MAX_KEY = 250

Point = tuple[str, float, int, int]  # key, value, step, timestamp (ms)


@dataclass
class MlflowExport:
    """What :func:`export_runs` did: the run of each trial number and how many runs it created or updated."""

    experiment_id: str
    runs: dict[int, str] = field(default_factory=dict)
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def require_mlflow() -> None:
    """Raise an ``ImportError`` that says what to install when MLflow is missing."""
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"exporting to MLflow needs the mlflow package: {INSTALL_HINT}") from exc


def to_mlflow(study: Study, tracking_uri: str, experiment: str | None = None) -> dict[int, str]:
    """Export ``study`` to the MLflow tracking store at ``tracking_uri``; returns ``{trial number: run id}``.

    One experiment (named after the study, or ``experiment``) gets one run ``trial-<number>`` per trial with
    the trial's params, every reported metric at its step, the final metrics, the cost (``cost.steps``,
    ``cost.wall_seconds``, ``cost.cpu_seconds``, ``cost.energy_kwh``, ``cost.co2_g``) and tags
    ``itero.study``, ``itero.trial_number``, ``itero.state``, ``itero.parent_trial`` (the number of the trial
    whose checkpoint it started from), lineage (``itero.clone_of``, ``itero.from_step``, ``itero.replaces``,
    ``itero.shared_from``), ``itero.dataset.<name>`` (content digest) and ``itero.error``. The run status is
    FINISHED, KILLED (pruned) or FAILED for finished trials, RUNNING otherwise.

    Exporting again into the same experiment finds each trial's run by its ``itero.study`` and
    ``itero.trial_number`` tags: a finished trial exported in the same state is skipped; any other run is
    updated in place (new params and metric points added, tags and status overwritten), so no run is duplicated.

    ``tracking_uri`` is any MLflow tracking URI: ``sqlite:///mlflow.db``, ``http://host:5000``, or a plain
    directory (MLflow 3 refuses those unless ``MLFLOW_ALLOW_FILE_STORE=true``). Errors of the tracking store
    are MLflow's own exceptions.

        runs = to_mlflow(itero.load_study("digits", storage="sqlite:///itero.db"), "sqlite:///mlflow.db")
    """
    return export_runs(study, tracking_uri, experiment).runs


def export_runs(study: Study, tracking_uri: str, experiment: str | None = None) -> MlflowExport:
    """:func:`to_mlflow`, returning also the experiment id and how many runs were created, updated or skipped."""
    require_mlflow()
    trials = study.trials
    numbers = {t.id: t.number for t in trials}
    with _quiet():
        from mlflow.entities import ViewType
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=tracking_uri)
        experiment_id = _experiment(client, experiment or study.name, study)
        existing = _existing_runs(client, experiment_id, study.name, ViewType.ACTIVE_ONLY)
        result = MlflowExport(experiment_id)
        for trial in trials:
            run = existing.get(trial.number)
            tags = trial_tags(trial, study.name, numbers)
            if run is None:
                result.runs[trial.number] = _create(client, experiment_id, trial, tags)
                result.created += 1
            elif _is_current(run, trial):
                result.runs[trial.number] = run.info.run_id
                result.unchanged += 1
            else:
                _update(client, run, trial, tags)
                result.runs[trial.number] = run.info.run_id
                result.updated += 1
    return result


# ---------------------------------------------------------------------------------------- what a run holds
def trial_params(trial: FrozenTrial) -> dict[str, str]:
    """The trial's params as MLflow stores them (strings)."""
    return {_key(name): str(value) for name, value in trial.params.items()}


def trial_tags(trial: FrozenTrial, study_name: str, numbers: dict[int, int]) -> dict[str, str]:
    """The ``itero.*`` tags of a trial's run; ``numbers`` maps trial ids to numbers (for the parent)."""
    tags = {
        "itero.study": study_name,
        "itero.trial_number": str(trial.number),
        "itero.state": str(trial.state),
        "itero.step": str(trial.step),
    }
    if trial.parent_id is not None and trial.parent_id in numbers:
        tags["itero.parent_trial"] = str(numbers[trial.parent_id])
    for key in LINEAGE_KEYS:
        if trial.system_attrs.get(key) is not None:
            tags[f"itero.{key}"] = str(trial.system_attrs[key])
    for name, digest in sorted(trial.datasets.items()):
        tags[_key(f"itero.dataset.{name}")] = str(digest)
    if trial.error:
        error = trial.error
        tags["itero.error"] = error if len(error) <= _MAX_TAG_VALUE else "…" + error[-(_MAX_TAG_VALUE - 1) :]
    return tags


def trial_points(trial: FrozenTrial) -> list[Point]:
    """Every metric point of a trial's run: each report at its step (stamped with the trial's start: reports
    carry no time), then the final metrics where they differ from the last report and the cost, at the trial's
    step and stamped with its end (or now, while it runs), so that MLflow shows them as the latest values.
    """
    now = int(time.time() * 1000)
    start = _ms(trial.datetime_start) or now
    end = _ms(trial.datetime_complete) if trial.state.is_finished() else None
    final = max(start + 1, end or now)
    points: list[Point] = []
    last: dict[str, tuple[int, float]] = {}
    for step in sorted(trial.reports):
        for name, value in trial.reports[step].items():
            number = as_number(value)
            if number is not None:
                points.append((_key(name), number, step, start))
                last[name] = (step, number)
    for name, value in trial.metrics.items():
        number = as_number(value)
        if number is None:
            continue
        seen = last.get(name)
        if seen is None or not same(seen[1], number):
            points.append((_key(name), number, max(trial.step, seen[0] if seen else 0), final))
    cost = trial.cost
    for name, amount in (
        ("steps", cost.steps),
        ("wall_seconds", cost.wall_seconds),
        ("cpu_seconds", cost.cpu_seconds),
        ("energy_kwh", cost.energy_kwh),
        ("co2_g", cost.co2_g),
    ):
        points.append((f"cost.{name}", float(amount), trial.step, final))
    return points


# ---------------------------------------------------------------------------------------------- writing
def _experiment(client: MlflowClient, name: str, study: Study) -> str:
    found = client.get_experiment_by_name(name)
    if found is None:
        tags = {"itero.study": study.name, "itero.objectives": json.dumps(study.directions)}
        return str(client.create_experiment(name, tags=tags))
    if found.lifecycle_stage != "active":
        from mlflow.exceptions import MlflowException

        raise MlflowException(
            f"the MLflow experiment {name!r} (id {found.experiment_id}) is deleted: restore it with "
            f"`mlflow experiments restore --experiment-id {found.experiment_id}` or export under another name"
        )
    return str(found.experiment_id)


def _existing_runs(client: MlflowClient, experiment_id: str, study_name: str, view: int) -> dict[int, Run]:
    """The active runs of ``study_name`` in the experiment, by trial number (the oldest run when several)."""
    runs: dict[int, Run] = {}
    token: str | None = None
    while True:
        page = client.search_runs(
            [experiment_id], run_view_type=view, max_results=1000, order_by=["attributes.start_time ASC"],
            page_token=token,
        )  # fmt: skip
        for run in page:
            tags = run.data.tags
            number = tags.get("itero.trial_number", "")
            if tags.get("itero.study") == study_name and number.isdigit():
                runs.setdefault(int(number), run)
        token = page.token
        if not token:
            return runs


def _create(client: MlflowClient, experiment_id: str, trial: FrozenTrial, tags: dict[str, str]) -> str:
    ids = {key: tags[key] for key in ("itero.study", "itero.trial_number")}
    run = client.create_run(
        experiment_id, start_time=_ms(trial.datetime_start), tags=ids, run_name=f"trial-{trial.number}"
    )
    run_id: str = run.info.run_id
    _log(client, run_id, trial_points(trial), trial_params(trial), tags)
    _set_status(client, run_id, trial, current=None)
    return run_id


def _update(client: MlflowClient, run: Run, trial: FrozenTrial, tags: dict[str, str]) -> None:
    """Add what the run lacks: params it does not have, metric points (key, step, value) it does not have."""
    run_id: str = run.info.run_id
    params = {k: v for k, v in trial_params(trial).items() if k not in run.data.params}
    points = trial_points(trial)
    have: dict[str, set[tuple[int, Any]]] = {}
    for key in {p[0] for p in points}:
        have[key] = {(m.step, _ident(m.value)) for m in client.get_metric_history(run_id, key)}
    new = [p for p in points if (p[2], _ident(p[1])) not in have[p[0]]]
    _log(client, run_id, new, params, tags)
    for stale in sorted(k for k in run.data.tags if k.startswith("itero.") and k not in tags):
        client.delete_tag(run_id, stale)
    _set_status(client, run_id, trial, current=run.info.status)


def _log(client: MlflowClient, run_id: str, points: list[Point], params: dict[str, str], tags: dict[str, str]) -> None:
    """``log_batch`` in chunks within MLflow's limits (1000 entities, of which at most 100 params, 100 tags)."""
    from mlflow.entities import Metric, Param, RunTag

    metrics = [Metric(key, value, timestamp, step) for key, value, step, timestamp in points]
    param_list = [Param(k, v) for k, v in params.items()]
    tag_list = [RunTag(k, v) for k, v in tags.items()]
    while metrics or param_list or tag_list:
        p, param_list = param_list[:_MAX_PARAMS], param_list[_MAX_PARAMS:]
        t, tag_list = tag_list[:_MAX_TAGS], tag_list[_MAX_TAGS:]
        n = min(_MAX_METRICS, _MAX_ENTITIES - len(p) - len(t))
        m, metrics = metrics[:n], metrics[n:]
        client.log_batch(run_id, metrics=m, params=p, tags=t)


def _set_status(client: MlflowClient, run_id: str, trial: FrozenTrial, current: str | None) -> None:
    """Give the run its trial's status (``current``: the run's status now, None for a new run)."""
    status = RUN_STATUS.get(trial.state)
    if status is not None:
        client.set_terminated(run_id, status, end_time=_ms(trial.datetime_complete))
    elif current != OPEN_STATUS[trial.state]:
        client.update_run(run_id, status=OPEN_STATUS[trial.state])


def _is_current(run: Run, trial: FrozenTrial) -> bool:
    """A trial already exported as it is now (same state, same step): nothing to do."""
    status = RUN_STATUS.get(trial.state) or OPEN_STATUS.get(trial.state)
    tags = run.data.tags
    return (
        run.info.status == status
        and tags.get("itero.state") == str(trial.state)
        and tags.get("itero.step") == str(trial.step)
    )


# ---------------------------------------------------------------------------------------------- helpers
@contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's INFO logs (database creation, migrations) and library warnings are not the user's concern here."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [log.level for log in loggers]
    try:
        for log in loggers:
            if log.getEffectiveLevel() < logging.WARNING:
                log.setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def _key(name: str) -> str:
    """A valid MLflow key: only alphanumerics, ``_ - . / :`` and spaces, not resolving to another path."""
    key = re.sub(r"[^\w.\- /:]", "_", name)[:_MAX_KEY]
    if not key or key != posixpath.normpath(key) or key.startswith(".."):
        key = "_" + key.replace("/", "_")
    return key


def _ident(value: float) -> Any:
    return "nan" if math.isnan(value) else value


def _ms(moment: dt.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


__all__ = ["MlflowExport", "export_runs", "require_mlflow", "to_mlflow"]
