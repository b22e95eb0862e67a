"""``itero export``: write a study to MLflow or to TensorBoard's HParams view.

    itero export mlflow STUDY --tracking-uri sqlite:///mlflow.db [--experiment NAME] [--storage URL]
    itero export tensorboard STUDY --logdir tb/STUDY [--storage URL]

Registered on the ``itero`` app by ``itero/cli/__init__.py``.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from itero._defaults import DEFAULT_STORAGE
from itero.cli._common import FAILED, USAGE_ERROR, StorageOption, StudyArgument, fail, load, out, user_errors

export_app: typer.Typer = typer.Typer(
    name="export",
    help="Export a study to MLflow or to TensorBoard's HParams view.",
    no_args_is_help=True,
    add_completion=False,
)


@export_app.command("mlflow")
def export_mlflow(
    study_name: StudyArgument,
    tracking_uri: Annotated[
        str,
        typer.Option(
            "--tracking-uri",
            envvar="MLFLOW_TRACKING_URI",
            help="MLflow tracking URI, e.g. sqlite:///mlflow.db or http://127.0.0.1:5000.",
            show_default=False,
        ),
    ],
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="MLflow experiment name (default: the study's name).")
    ] = None,
    storage: StorageOption = DEFAULT_STORAGE,
) -> None:
    """Export a study to MLflow: one run per trial (params, metrics per step, cost, lineage tags).

    Exporting again updates the runs of the same experiment instead of adding new ones.
    """
    from itero.export._mlflow import export_runs, require_mlflow

    study = load(study_name, storage)
    try:
        require_mlflow()
    except ImportError as exc:
        fail(str(exc), FAILED)
    from mlflow.exceptions import MlflowException

    try:
        with user_errors():
            done = export_runs(study, tracking_uri, experiment)
    except MlflowException as exc:
        fail(f"MLflow at {tracking_uri}: {exc}", USAGE_ERROR)
    name = experiment or study.name
    out().print(
        Text(
            f"exported {len(done.runs)} trial(s) of {study.name!r} to MLflow experiment {name!r} "
            f"(id {done.experiment_id})\n"
            f"runs:     {done.created} new, {done.updated} updated, {done.unchanged} unchanged\n"
            f"tracking: {tracking_uri}\n"
            f"view:     mlflow ui --backend-store-uri {shlex.quote(tracking_uri)}"
        )
    )


@export_app.command("tensorboard")
def export_tensorboard(
    study_name: StudyArgument,
    logdir: Annotated[
        Path, typer.Option("--logdir", help="Directory for the event files (one sub-directory per trial).")
    ],
    storage: StorageOption = DEFAULT_STORAGE,
) -> None:
    """Export a study to TensorBoard's HParams view: one run per trial with its hyper-parameters and scalars.

    Exporting again into the same directory replaces the files of the previous export.
    """
    from itero.export._tensorboard import require_tensorboard, to_tensorboard

    study = load(study_name, storage)
    try:
        require_tensorboard()
    except ImportError as exc:
        fail(str(exc), FAILED)
    with user_errors():
        root = to_tensorboard(study, logdir)
    out().print(
        Text(
            f"exported {len(study.trials)} trial(s) of {study.name!r} to TensorBoard (HParams view)\n"
            f"logdir: {root} (one run per trial)\n"
            f"view:   tensorboard --logdir {shlex.quote(str(root))}"
        )
    )


__all__ = ["export_app"]
