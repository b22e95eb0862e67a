"""What the ``itero`` commands share: exit codes, the ``--storage`` option, consoles, error lines, opening a
study for reading, and printing its best trials. The engine (store, study) is imported inside the functions
that use it, so that building the command and its ``--help`` stays fast."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from itero.cli import _render as render
from itero.exceptions import (
    ConfigError,
    IteroError,
    StorageError,
    StudyNotFoundError,
    TrialActionError,
    TrialNotFoundError,
)

if TYPE_CHECKING:
    from itero.study import Study
    from itero.trial import FrozenTrial

USAGE_ERROR = 2  # bad input: config, storage URL, unknown study
FAILED = 1  # the command ran but has nothing to show (e.g. every trial failed)

StorageOption = Annotated[
    str,
    typer.Option(
        "--storage",
        envvar="ITERO_STORAGE",
        help="Database URL (SQLAlchemy), e.g. sqlite:///itero.db or postgresql://user@host/db.",
    ),
]
StudyArgument = Annotated[str, typer.Argument(metavar="STUDY", help="The study's name.", show_default=False)]


PIPED_WIDTH = 10_000  # columns of standard output when it is not a terminal: tables keep their natural width


def out() -> Console:
    """Standard output (no syntax highlighting); when piped (and ``COLUMNS`` is unset), as wide as each table
    needs, so that no cell wraps mid-word for ``grep`` or ``less -S``."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPED_WIDTH
    return console


def err() -> Console:
    """Standard error (no syntax highlighting)."""
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    """Exit with ``code`` after one line ``error: message`` on standard error."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Bad input (config, storage, unknown study or trial, an action the trial's state does not allow) becomes one
    ``error:`` line and exit code 2."""
    try:
        yield
    except (ConfigError, StorageError, StudyNotFoundError, TrialNotFoundError, TrialActionError) as exc:
        fail(str(exc))
    except IteroError as exc:
        fail(str(exc), FAILED)
    except OSError as exc:
        fail(f"{type(exc).__name__}: {exc}")


def missing_database(url: str) -> str | None:
    """Why nothing can be read at ``url`` when it is a SQLite file that does not exist (reading does not create
    it); None otherwise."""
    from itero.store import sqlite_file

    db = sqlite_file(url)
    if db is None or db.exists():
        return None
    return f"no database at {db.resolve()} (storage {url}); `itero run CONFIG.yaml` creates it"


def load(name: str, url: str) -> Study:
    """Open study ``name`` for reading; the stored sampler is not rebuilt (reading does not need it)."""
    from itero.study import load_study

    missing = missing_database(url)
    if missing is not None:
        fail(f"no study named {name!r}: {missing}")
    with user_errors():
        return load_study(name, storage=url, sampler="random", scheduler="fifo")


def print_best(console: Console, study: Study, trials: list[FrozenTrial]) -> None:
    """The best trial as key/value rows (one objective), or the Pareto front as a table."""
    if len(study.directions) == 1:
        best = trials[0]
        title = f"best trial of {study.name!r}: #{best.number}"
        console.print(render.best_table(best, study.directions, title))
        return
    numbers = {t.id: t.number for t in study.trials}
    title = f"Pareto front of {study.name!r}: {len(trials)} trial(s)"
    console.print(render.trials_table(trials, study.directions, numbers, title=title))


def explain_no_best(study: Study) -> NoReturn:
    """Exit 1 saying why there is no best trial (and the last error, when trials failed)."""
    trials = study.trials
    counts: dict[str, int] = {}
    for t in trials:
        counts[str(t.state)] = counts.get(str(t.state), 0) + 1
    message = f"study {study.name!r} has no COMPLETE trial yet ({render.state_counts_text(counts)})"
    errors = [t for t in trials if t.error]
    if errors:
        message += f"; last error (trial {errors[-1].number}): {render.shorten(errors[-1].error, 300)}"
    fail(message, FAILED)


def show_hint(name: str, url: str) -> str:
    """The ``itero show`` command line for study ``name``."""
    return f"itero show {shlex.quote(name)} --storage {shlex.quote(url)}"


def cluster_option(ray: str | None, dask: str | None) -> dict[str, Any] | None:
    """The executor that ``--ray ADDRESS`` or ``--dask ADDRESS`` asks for (None: the config's own)."""
    if ray is not None and dask is not None:
        fail("--ray and --dask: give one of them")
    if ray is not None:
        return {"name": "ray", "address": ray}
    if dask is not None:
        return {"name": "dask", "address": dask}
    return None
