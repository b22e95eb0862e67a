"""The ``itero`` command.

    itero run study.yaml               # create or resume the study of a YAML file, print the best trial
    itero tasks                        # the built-in inner problems
    itero worker STUDY --storage URL   # one more peer for a running study, from any machine
    itero enqueue STUDY -p lr=0.01     # queue a configuration: the next free worker runs it first
    itero trial stop|pause|resume STUDY N   # steer trial N by hand (a running one at its next report)
    itero trial note STUDY N "text"    # mark trial N: a note; `itero trial tag|untag STUDY N TAG...` for tags
    itero narrow STUDY lr --high 0.1   # narrow a range (--choices a,b; pin: --value V; undo: --reset) mid-study
    itero ls [--storage URL]           # studies with trials per state and best value
    itero show STUDY [--limit N]       # a study's settings, totals (energy, CO2), data versions, actions, trials
    itero show STUDY --trial N         # one trial in full, with the traceback of a failure, its note and tags
    itero best STUDY [--json]          # the best trial (or the Pareto front) and the study's cost
    itero report STUDY -o report.html  # a self-contained HTML report
    itero dashboard [--allow-write]    # the live web dashboard at http://localhost:8080
    itero rm STUDY [--yes]             # delete a study and the checkpoints only it used
    itero gc                           # free checkpoints no trial can resume
    itero export-model STUDY -o w.pt   # the best trial's weights, kept at its last step
    itero export mlflow STUDY --tracking-uri URI   |   itero export tensorboard STUDY --logdir DIR

``--storage`` defaults to ``$ITERO_STORAGE`` or ``sqlite:///itero.db``. Bad input exits with code 2 and one
line ``error: ...`` on standard error that names the key and the value.

The commands live in modules by concern (``_run``, ``_worker``, ``_inspect``, ``_manage``, ``_report``,
``_export``, ``_steer``) that share ``_common``; this module only builds the app from them.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from itero.cli._dashboard import dashboard
from itero.cli._export import export_app
from itero.cli._inspect import best, list_studies, show
from itero.cli._manage import collect, export_model, remove
from itero.cli._report import report
from itero.cli._run import run, tasks
from itero.cli._steer import enqueue, narrow, trial_app
from itero.cli._worker import worker

app = typer.Typer(
    name="itero",
    help="itero: hyper-parameter search that spends a fraction of the training compute.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(run)
app.command()(tasks)
app.command()(worker)
app.command()(enqueue)
app.command()(narrow)
app.add_typer(trial_app, name="trial")
app.command("ls")(list_studies)
app.command()(show)
app.command()(best)
app.command("rm")(remove)
app.command("gc")(collect)
app.command("export-model")(export_model)
app.add_typer(export_app, name="export")
app.command("report")(report)
app.command()(dashboard)

_log_handler: logging.Handler | None = None


def main() -> None:
    """Entry point of the ``itero`` console script."""
    app()


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each trial to stderr.")] = False,
) -> None:
    """itero: hyper-parameter search that spends a fraction of the training compute."""
    global _log_handler
    log = logging.getLogger("itero")
    if _log_handler is not None:
        log.removeHandler(_log_handler)
    _log_handler = RichHandler(console=Console(stderr=True), show_path=False, markup=False)
    log.addHandler(_log_handler)
    log.setLevel(logging.INFO if verbose else logging.WARNING)


__all__ = ["app", "main"]
