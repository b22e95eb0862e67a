"""``itero worker``: one more peer for a study that is already running, from any machine that reaches its store.

itero worker my-study --storage postgresql://host/db            # the objective the study recorded
itero worker my-study --storage ... --task train.py:objective   # or where it is on this machine
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from itero._defaults import DEFAULT_STORAGE
from itero.cli import _render as render
from itero.cli._common import (
    StorageOption,
    StudyArgument,
    cluster_option,
    err,
    fail,
    missing_database,
    out,
    user_errors,
)


def worker(
    study_name: StudyArgument,
    storage: StorageOption = DEFAULT_STORAGE,
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="The objective on this machine (task name, module:function or file.py:function); "
            "default: the one the study recorded.",
        ),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            help="Where this machine reaches the study's checkpoints, if not at the location the study recorded.",
        ),
    ] = None,
    n_jobs: Annotated[int, typer.Option("--n-jobs", min=1, help="Worker processes on this machine.")] = 1,
    trials: Annotated[
        int | None, typer.Option("--trials", min=0, help="Start at most this many new trials here.")
    ] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Do not show the progress bar.")] = False,
    ray: Annotated[
        str | None, typer.Option("--ray", metavar="ADDRESS", help="Run the --n-jobs peers as Ray tasks there.")
    ] = None,
    dask: Annotated[
        str | None, typer.Option("--dask", metavar="ADDRESS", help="Run the --n-jobs peers on this Dask scheduler.")
    ] = None,
) -> None:
    """Join STUDY as one more peer: run its trials until the study's budget is spent, its scheduler has
    nothing more, --trials are started, or SIGTERM / Ctrl-C (running trials are then given back as WAITING
    for any peer to finish)."""
    from itero.exceptions import ConfigError
    from itero.study import load_study
    from itero.tasks import load_objective

    missing = missing_database(storage)
    if missing is not None:
        fail(f"no study named {study_name!r}: {missing}")
    notes = err()
    with user_errors():
        study = load_study(study_name, storage=storage, artifacts=artifacts)
        ref = task or study.config.get("task")
        if ref is None:
            fail(
                f"study {study_name!r} records no objective (it was created in Python without task=...): "
                "pass --task module:function or --task path/file.py:function"
            )
        try:
            objective = load_objective(ref)
        except ConfigError as exc:
            if task is not None:
                raise
            fail(f"{exc}; the study recorded this objective where it was created: pass --task with where it is here")
        budget = study.budget
    if not budget.limited and trials is None:
        notes.print(Text(f"study {study_name!r} has no budget: this worker runs until stopped (or pass --trials)"))
    before = len(study.trials)
    try:
        with user_errors():
            study.optimize(
                objective,
                n_trials=trials,
                n_jobs=n_jobs,
                show_progress=False if no_progress else None,
                executor=cluster_option(ray, dask) or "local",
            )
    except KeyboardInterrupt:
        notes.print(Text("worker stopped; its running trials were given back as WAITING for any peer to finish"))
        raise typer.Exit(130) from None
    console = out()
    spent = study.budget
    if spent.max_trials is not None and spent.trials_started >= spent.max_trials:
        notes.print(Text(f"study {study_name!r}: its budget's {spent.max_trials} trials are all started"))
    console.print(Text(f"worker done: {len(study.trials) - before} new trial(s) in {study_name!r} while it ran"))
    console.print(Text(f"{study.name}: {render.totals_text(study.totals())}"))
    if study.budget.limited:
        console.print(Text(f"budget: {study.budget.describe()}"))


__all__ = ["worker"]
