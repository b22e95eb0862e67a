"""``itero run`` (a study from a YAML file) and ``itero tasks`` (the built-in inner problems). The config, the
study and the tasks are imported when a command runs, not when the ``itero`` command is built."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from itero.cli import _render as render
from itero.cli._common import cluster_option, err, explain_no_best, out, print_best, show_hint, user_errors

if TYPE_CHECKING:
    from itero.config import ResolvedConfig


def run(
    config: Annotated[Path, typer.Argument(metavar="CONFIG.yaml", help="The study's YAML file.")],
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Do not show the progress bar.")] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray", metavar="ADDRESS", help="Run the peers as Ray tasks on this cluster ('auto': RAY_ADDRESS)."
        ),
    ] = None,
    dask: Annotated[
        str | None, typer.Option("--dask", metavar="ADDRESS", help="Run the peers on this dask.distributed scheduler.")
    ] = None,
) -> None:
    """Create or resume the study of a YAML file and optimize it within its budget (study totals)."""
    from itero.config import load_config, run_config, validate
    from itero.study import best_trials

    notes = err()
    with user_errors():
        resolved: ResolvedConfig = validate(load_config(config))
    cfg = resolved.config
    try:
        with user_errors():
            study = run_config(
                resolved,
                show_progress=False if no_progress else None,
                echo=lambda note: notes.print(Text(note)),
                executor=cluster_option(ray, dask),
            )
    except KeyboardInterrupt:
        notes.print(Text(f"interrupted; run `itero run {shlex.quote(str(config))}` again to resume the study"))
        raise typer.Exit(130) from None
    console = out()
    best = best_trials(study)
    if not best:
        explain_no_best(study)
    print_best(console, study, best)
    console.print(Text(f"{study.name}: {render.totals_text(study.totals())}"))
    console.print(Text(f"storage: {cfg.storage}\nmore:    {show_hint(study.name, cfg.storage)}"))


def tasks() -> None:
    """List the built-in tasks (inner problems) a study YAML can name as `task:`."""
    from itero.tasks import TASKS

    out().print(render.tasks_table(TASKS.values()))


__all__ = ["run", "tasks"]
