"""``itero ls``, ``itero show`` and ``itero best``: read the studies of a store (the study package is imported
when a command runs)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from itero._defaults import DEFAULT_STORAGE
from itero.cli import _render as render
from itero.cli._common import (
    StorageOption,
    StudyArgument,
    err,
    explain_no_best,
    fail,
    load,
    missing_database,
    out,
    print_best,
    user_errors,
)

if TYPE_CHECKING:
    from itero.study import Study, StudySummary
    from itero.trial import FrozenTrial


def list_studies(storage: StorageOption = DEFAULT_STORAGE) -> None:
    """List the studies in a storage: trials per state, best value, creation time."""
    from itero.study import study_summaries

    missing = missing_database(storage)
    if missing is not None:
        err().print(Text(missing))
        return
    with user_errors():
        rows = [
            {
                "name": s.name,
                "directions": s.directions,
                "counts": s.counts,
                "best": _best_text(s),
                "created_at": s.created_at,
            }
            for s in study_summaries(storage)
        ]
    if not rows:
        err().print(Text(f"no studies in {storage}"))
        return
    out().print(render.studies_table(rows, storage))


def _best_text(summary: StudySummary) -> str:
    """``loss=0.25 (#3)``, ``4 on the Pareto front`` or ``-``."""
    if not summary.best:
        return "-"
    if len(summary.directions) > 1:
        return f"{len(summary.best)} on the Pareto front"
    metric = next(iter(summary.directions))
    best = summary.best[0]
    return f"{metric}={render.fmt(best.metrics[metric])} (#{best.number})"


def show(
    study_name: StudyArgument,
    storage: StorageOption = DEFAULT_STORAGE,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="Show the last N trials (0: all).")] = 50,
    trial: Annotated[
        int | None, typer.Option("--trial", "-t", min=0, help="Show trial N in full: params, metrics, error.")
    ] = None,
    state: Annotated[
        list[str] | None,
        typer.Option("--state", "-s", help="Only trials in this state (repeat for several), e.g. --state FAILED."),
    ] = None,
    sort: Annotated[
        str,
        typer.Option("--sort", help="Order of the trials: number, best (by the first objective), steps or cost."),
    ] = "number",
    actions: Annotated[
        int, typer.Option("--actions", "-a", min=0, help="Show the last N actions people took (0: all).")
    ] = 10,
) -> None:
    """Show a study: objectives, sampler and scheduler, totals, the latest actions people took (enqueue, stop,
    note, ...), and its trials (or one trial in full)."""
    states = _check_states(state)
    if sort not in SORTS:
        fail(f"--sort: got {sort!r}; expected one of {', '.join(SORTS)}")
    study = load(study_name, storage)
    if trial is not None:
        _show_trial(study, trial, actions)
        return
    with user_errors():
        config = study.config
        created_at = study.created_at
        trials = study.trials
        totals = study.totals()
        budget = study.budget
        data = render.datasets_lines(study.data_versions(), study.data_warnings())
        envs = study.environments()
        done = study.actions(limit=actions or None)
        narrowed = study.narrowed
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
    lines += [f"{'narrowed' if i == 0 else '':<10} {n}: {w.describe()}" for i, (n, w) in enumerate(narrowed.items())]
    lines += [f"created    {render.fmt_time(created_at)}", f"totals     {render.totals_text(totals)}"]
    if budget.limited:
        lines.append(f"budget     {budget.describe()} (the study's, shared by every worker)")
    lines += [f"{'data' if i == 0 else '':<10} {line}" for i, line in enumerate(data)]
    lines += [f"{'env' if i == 0 else '':<10} {render.environment_line(e)}" for i, e in enumerate(envs)]
    lines += [f"{'actions' if i == 0 else '':<10} {line}" for i, line in enumerate(render.actions_lines(done))]
    if actions and len(done) == actions:
        lines.append(f"{'':<10} (the latest {actions}; --actions 0 shows all)")
    console = out()
    console.print(Text("\n".join(lines)))
    numbers = {t.id: t.number for t in trials}
    chosen = _ordered([t for t in trials if not states or t.state.value in states], sort, study.directions)
    shown = (chosen[:limit] if sort != "number" else chosen[-limit:]) if limit else chosen
    more = ", --limit 0 shows all" if len(shown) < len(chosen) else ""
    which = f" {'/'.join(sorted(states))}" if states else ""
    order = f", by {sort}" if sort != "number" else ""
    title = f"trials ({len(shown)} of {len(chosen)}{which}{order}{more})"
    console.print(render.trials_table(shown, study.directions, numbers, title=title))


SORTS = ("number", "best", "steps", "cost")


def _check_states(states: list[str] | None) -> set[str]:
    from itero.trial import TrialState

    known = [s.value for s in TrialState]
    chosen = {s.upper() for s in states or ()}
    bad = sorted(chosen - set(known))
    if bad:
        fail(f"--state: got {', '.join(bad)}; expected one of {', '.join(known)}")
    return chosen


def _ordered(trials: list[FrozenTrial], sort: str, directions: dict[str, str]) -> list[FrozenTrial]:
    """``trials`` by number, by the first objective (best first; trials without it last), by steps or by CPU
    seconds (most first)."""
    if sort == "best":
        metric, direction = next(iter(directions.items()))
        sign = -1.0 if direction == "maximize" else 1.0
        valued = [t for t in trials if math.isfinite(t.metrics.get(metric, math.nan))]
        ids = {t.id for t in valued}
        return sorted(valued, key=lambda t: sign * t.metrics[metric]) + [t for t in trials if t.id not in ids]
    if sort == "steps":
        return sorted(trials, key=lambda t: -t.cost.steps)
    if sort == "cost":
        return sorted(trials, key=lambda t: -t.cost.cpu_seconds)
    return trials


def _show_trial(study: Study, number: int, actions: int = 10) -> None:
    with user_errors():
        trials = study.trials
    found = [t for t in trials if t.number == number]
    if not found:
        fail(
            f"study {study.name!r} has no trial {number}" + (f" (its trials: 0 to {len(trials) - 1})" if trials else "")
        )
    t = found[0]
    console = out()
    console.print(render.best_table(t, study.directions, title=f"trial #{t.number} of {study.name!r}: {t.state.value}"))
    if t.error:
        console.print(Text(f"error: {t.error}", style="red"))
    if t.traceback:
        console.print(Text(t.traceback.rstrip()))
    with user_errors():
        done = study.actions(limit=actions or None, trial=number)
    if done:
        console.print(Text("actions\n" + "\n".join(f"  {line}" for line in render.actions_lines(done))))


def best(
    study_name: StudyArgument,
    storage: StorageOption = DEFAULT_STORAGE,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (machine-readable).")] = False,
) -> None:
    """Show the best trial (or, for several objectives, the Pareto front) with its params and metrics."""
    from itero.study import best_trials

    study = load(study_name, storage)
    with user_errors():
        trials = best_trials(study)
        numbers = {t.id: t.number for t in study.trials}
    if not trials:
        explain_no_best(study)
    with user_errors():
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
    console = out()
    print_best(console, study, trials)
    console.print(Text(f"study cost: {render.totals_text(totals)}"))
    for w in data_warnings:
        console.print(Text(f"warning: {w}", style="yellow"))


def _best_json(study: Study, url: str, trials: list[FrozenTrial], numbers: dict[int, int]) -> dict[str, Any]:
    data: dict[str, Any] = {"study": study.name, "storage": url, "objectives": study.directions}
    if len(study.directions) == 1:
        data["best"] = render.trial_json(trials[0], numbers)
    else:
        data["pareto_front"] = [render.trial_json(t, numbers) for t in trials]
    return data


__all__ = ["best", "list_studies", "show"]
