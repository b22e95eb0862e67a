"""The ``itero`` command.

    itero run study.yaml               # create or resume the study of a YAML file, print the best trial
    itero tasks                        # the built-in inner problems
    itero ls [--storage URL]           # studies with trials per state and best value
    itero show STUDY [--limit N]       # a study's settings, totals (energy, CO2), data versions and trials
    itero best STUDY [--json]          # the best trial (or the Pareto front) and the study's cost
    itero report STUDY -o report.html  # a self-contained HTML report
    itero export mlflow STUDY --tracking-uri URI   |   itero export tensorboard STUDY --logdir DIR

``--storage`` defaults to ``$ITERO_STORAGE`` or ``sqlite:///itero.db``. Bad input exits with code 2 and one
line ``error: ...`` on standard error that names the key and the value.
"""

from __future__ import annotations

import json
import logging
import shlex
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text

from itero.cli import _render as render
from itero.config import ResolvedConfig, load_config, run_config, validate
from itero.exceptions import ConfigError, DataVersionWarning, IteroError, StorageError, StudyNotFoundError
from itero.store import Store, sqlite_file
from itero.study import DEFAULT_STORAGE, Study, load_study
from itero.trial import FrozenTrial

app = typer.Typer(
    name="itero",
    help="itero: hyper-parameter search that spends a fraction of the training compute.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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


# ---------------------------------------------------------------------------------------------- helpers
def _out() -> Console:
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Bad input (config, storage, unknown study) becomes one ``error:`` line and exit code 2."""
    try:
        yield
    except (ConfigError, StorageError, StudyNotFoundError) as exc:
        _fail(str(exc))
    except IteroError as exc:
        _fail(str(exc), FAILED)
    except OSError as exc:
        _fail(f"{type(exc).__name__}: {exc}")


def _open_existing(url: str) -> Store | None:
    """The store at ``url``, or None when it is a SQLite file that does not exist (which is not created)."""
    db = sqlite_file(url)
    if db is not None and not db.exists():
        return None
    with _user_errors():
        return Store(url)


def _no_database(url: str) -> str:
    db = sqlite_file(url)
    return f"no database at {db.resolve() if db else url} (storage {url}); `itero run CONFIG.yaml` creates it"


def _load(name: str, url: str) -> Study:
    """Open study ``name`` for reading; the stored sampler is not rebuilt (reading does not need it)."""
    store = _open_existing(url)
    if store is None:
        _fail(f"no study named {name!r}: {_no_database(url)}")
    with _user_errors():
        return load_study(name, storage=store, sampler="random", scheduler="fifo")


def _best_trials(study: Study) -> list[FrozenTrial]:
    """The best COMPLETE trial (one objective) or the Pareto front; empty when nothing completed."""
    with warnings.catch_warnings():  # commands print data-version warnings themselves
        warnings.simplefilter("ignore", DataVersionWarning)
        if len(study.directions) > 1:
            return study.pareto_front()
        done = study.history.completed()
        return [study.best_trial] if done else []


def _print_best(console: Console, study: Study, trials: list[FrozenTrial]) -> None:
    if len(study.directions) == 1:
        best = trials[0]
        title = f"best trial of {study.name!r}: #{best.number}"
        console.print(render.best_table(best, study.directions, title))
        return
    numbers = {t.id: t.number for t in study.trials}
    title = f"Pareto front of {study.name!r}: {len(trials)} trial(s)"
    console.print(render.trials_table(trials, study.directions, numbers, title=title))


def _explain_no_best(study: Study) -> NoReturn:
    """Exit 1 saying why there is no best trial (and the last error, when trials failed)."""
    trials = study.trials
    counts: dict[str, int] = {}
    for t in trials:
        counts[str(t.state)] = counts.get(str(t.state), 0) + 1
    message = f"study {study.name!r} has no COMPLETE trial yet ({render.state_counts_text(counts)})"
    errors = [t for t in trials if t.error]
    if errors:
        message += f"; last error (trial {errors[-1].number}): {render.shorten(errors[-1].error, 300)}"
    _fail(message, FAILED)


def _show_hint(name: str, url: str) -> str:
    return f"itero show {shlex.quote(name)} --storage {shlex.quote(url)}"


# ---------------------------------------------------------------------------------------------- commands
@app.command()
def run(
    config: Annotated[Path, typer.Argument(metavar="CONFIG.yaml", help="The study's YAML file.")],
    no_progress: Annotated[bool, typer.Option("--no-progress", help="Do not show the progress bar.")] = False,
) -> None:
    """Create or resume the study of a YAML file and optimize it within its budget (study totals)."""
    err = _err()
    with _user_errors():
        resolved: ResolvedConfig = validate(load_config(config))
    cfg = resolved.config
    try:
        with _user_errors():
            study = run_config(
                resolved,
                show_progress=False if no_progress else None,
                echo=lambda note: err.print(Text(note)),
            )
    except KeyboardInterrupt:
        err.print(Text(f"interrupted; run `itero run {shlex.quote(str(config))}` again to resume the study"))
        raise typer.Exit(130) from None
    out = _out()
    best = _best_trials(study)
    if not best:
        _explain_no_best(study)
    _print_best(out, study, best)
    out.print(Text(f"{study.name}: {render.totals_text(study.totals())}"))
    out.print(Text(f"storage: {cfg.storage}\nmore:    {_show_hint(study.name, cfg.storage)}"))


@app.command()
def tasks() -> None:
    """List the built-in tasks (inner problems) a study YAML can name as `task:`."""
    from itero.tasks import TASKS

    _out().print(render.tasks_table(TASKS.values()))


@app.command("ls")
def list_studies(storage: StorageOption = DEFAULT_STORAGE) -> None:
    """List the studies in a storage: trials per state, best value, creation time."""
    store = _open_existing(storage)
    if store is None:
        _err().print(Text(_no_database(storage)))
        return
    with _user_errors():
        counts = store.state_counts()
        rows = [
            {
                "name": rec.name,
                "directions": rec.directions,
                "counts": counts.get(rec.id, {}),
                "best": _best_summary(rec.name, store),
                "created_at": rec.created_at,
            }
            for rec in store.list_studies()
        ]
    if not rows:
        _err().print(Text(f"no studies in {storage}"))
        return
    _out().print(render.studies_table(rows, storage))


def _best_summary(name: str, store: Store) -> str:
    study = load_study(name, storage=store, sampler="random", scheduler="fifo")
    best = _best_trials(study)
    if not best:
        return "-"
    if len(study.directions) > 1:
        return f"{len(best)} on the Pareto front"
    metric = next(iter(study.directions))
    return f"{metric}={render.fmt(best[0].metrics[metric])} (#{best[0].number})"


@app.command()
def show(
    study_name: Annotated[str, typer.Argument(metavar="STUDY", help="The study's name.", show_default=False)],
    storage: StorageOption = DEFAULT_STORAGE,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="Show the last N trials (0: all).")] = 50,
) -> None:
    """Show a study: objectives, sampler and scheduler, totals, and its trials."""
    study = _load(study_name, storage)
    with _user_errors():
        record = study.store.get_study(study.name)
        trials = study.trials
        totals = study.totals()
        data = render.datasets_lines(study.data_versions(), study.data_warnings())
        envs = study.environments()
    config = record.config
    out = _out()
    lines = [
        f"study      {study.name}   (storage {storage})",
        f"objectives {render.fmt_objectives(study.directions)}",
        f"sampler    {render.fmt_spec(config.get('sampler', '-'))}",
        f"scheduler  {render.fmt_spec(config.get('scheduler', '-'))}",
    ]
    if config.get("params"):
        lines.append(f"fixed      {render.fmt_params(config['params'])}")
    if config.get("space"):
        lines.append(f"space      {', '.join(config['space'])} (overridden)")
    lines += [f"created    {render.fmt_time(record.created_at)}", f"totals     {render.totals_text(totals)}"]
    lines += [f"{'data' if i == 0 else '':<10} {line}" for i, line in enumerate(data)]
    lines += [f"{'env' if i == 0 else '':<10} {render.environment_line(e)}" for i, e in enumerate(envs)]
    out.print(Text("\n".join(lines)))
    shown = trials[-limit:] if limit else trials
    numbers = {t.id: t.number for t in trials}
    more = ", --limit 0 shows all" if len(shown) < len(trials) else ""
    title = f"trials ({len(shown)} of {len(trials)}{more})"
    out.print(render.trials_table(shown, study.directions, numbers, title=title))


@app.command()
def best(
    study_name: Annotated[str, typer.Argument(metavar="STUDY", help="The study's name.", show_default=False)],
    storage: StorageOption = DEFAULT_STORAGE,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (machine-readable).")] = False,
) -> None:
    """Show the best trial (or, for several objectives, the Pareto front) with its params and metrics."""
    study = _load(study_name, storage)
    with _user_errors():
        trials = _best_trials(study)
        numbers = {t.id: t.number for t in study.trials}
    if not trials:
        _explain_no_best(study)
    with _user_errors():
        totals = study.totals()
        data_warnings = study.data_warnings()
    if as_json:
        data = _best_json(study, storage, trials, numbers)
        data["totals"] = {
            "trials": totals.trials,
            "steps": totals.steps,
            "cpu_hours": totals.cpu_hours,
            "energy_kwh": totals.energy_kwh,
            "co2_kg": totals.co2_kg,
            "region": totals.region,
        }
        data["data_warnings"] = data_warnings
        typer.echo(json.dumps(data, indent=2))
        return
    out = _out()
    _print_best(out, study, trials)
    out.print(Text(f"study cost: {render.totals_text(totals)}"))
    for w in data_warnings:
        out.print(Text(f"warning: {w}", style="yellow"))


def _best_json(study: Study, url: str, trials: list[FrozenTrial], numbers: dict[int, int]) -> dict[str, Any]:
    data: dict[str, Any] = {"study": study.name, "storage": url, "objectives": study.directions}
    if len(study.directions) == 1:
        data["best"] = render.trial_json(trials[0], numbers)
    else:
        data["pareto_front"] = [render.trial_json(t, numbers) for t in trials]
    return data


__all__ = ["app", "main"]
from itero.cli._export import export_app  # noqa: E402

app.add_typer(export_app, name="export")
from itero.cli._report import report as _report_command  # noqa: E402

app.command("report")(_report_command)
