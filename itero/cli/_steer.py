"""``itero enqueue`` and ``itero trial stop|pause|resume|note|tag|untag``: steer a study by hand, from any machine
that reaches its store. Workers see an enqueued trial or a resume when they next look for work, a running trial
sees a stop or pause at its next report; every action is recorded with who took it (``itero show STUDY``).

.. code-block:: text

    itero enqueue STUDY --param lr=0.01 --param optimizer=adam    # or --params '{"lr": 0.01}'
    itero trial stop STUDY 7             # RUNNING: at its next report; PAUSED or WAITING: now (PRUNED)
    itero trial pause STUDY 7            # RUNNING: saves its state at its next report and pauses
    itero trial resume STUDY 7           # PAUSED: the next free worker resumes it first
    itero trial note STUDY 7 "diverged after the warm-up"
    itero trial tag STUDY 7 baseline     # untag to remove
    itero narrow STUDY lr --low 1e-3 --high 0.1    # or --choices adam,sgd, or --value 256 (pin)
    itero narrow STUDY lr --reset        # undo: the study's own range again
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from itero._defaults import DEFAULT_STORAGE
from itero.cli import _render as render
from itero.cli._common import StorageOption, StudyArgument, fail, load, out, user_errors

if TYPE_CHECKING:
    from itero.store import ActionRecord

WhoOption = Annotated[
    str | None,
    typer.Option("--who", help="Who acts, recorded with the action (default: your user name)."),
]
NumberArgument = Annotated[int, typer.Argument(metavar="NUMBER", help="The trial's number.", show_default=False)]


def enqueue(
    study_name: StudyArgument,
    storage: StorageOption = DEFAULT_STORAGE,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="NAME=VALUE",
            help="A parameter's value (JSON when it parses: 0.01, 64, true, null; else text: adam). Repeat it.",
        ),
    ] = None,
    params: Annotated[
        str | None, typer.Option("--params", metavar="JSON", help="Parameters as a JSON object: '{\"lr\": 0.01}'.")
    ] = None,
    who: WhoOption = None,
) -> None:
    """Queue a trial with these parameters: the next free worker of the study runs it first (the sampler proposes
    the parameters not given). It counts as one trial of the study's budget and of the run that runs it."""
    values = parse_params(param or [], params)
    study = load(study_name, storage)
    with user_errors():
        number = study.enqueue(values, who=who)
    given = render.fmt_params(values) if values else "every parameter from the sampler"
    out().print(Text(f"enqueued trial {number} of {study.name!r} ({given}): the next free worker runs it first"))


def parse_params(pairs: list[str], text: str | None) -> dict[str, Any]:
    """``--params`` JSON, then each ``--param NAME=VALUE`` over it; exits 2 naming the bad option."""
    values: dict[str, Any] = {}
    if text is not None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            fail(f"--params: not valid JSON ({exc.msg}, column {exc.colno}): {text!r}")
        if not isinstance(data, dict):
            fail(f"--params: expected a JSON object such as '{{\"lr\": 0.01}}', got {text!r}")
        values.update(data)
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            fail(f"--param: expected NAME=VALUE such as lr=0.01, got {pair!r}")
        values[name.strip()] = parse_value(raw)
    return values


def parse_value(raw: str) -> Any:
    """A ``--param`` value: JSON when it parses (``0.01``, ``64``, ``true``, ``null``, ``"64"``), else the text.

    >>> parse_value("0.01"), parse_value("adam"), parse_value("true"), parse_value('"64"')
    (0.01, 'adam', True, '64')
    """
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def narrow(
    study_name: StudyArgument,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The parameter's name.", show_default=False)],
    low: Annotated[str | None, typer.Option("--low", metavar="X", help="The range's new low end.")] = None,
    high: Annotated[str | None, typer.Option("--high", metavar="Y", help="The range's new high end.")] = None,
    choices: Annotated[
        str | None,
        typer.Option("--choices", metavar="A,B,...", help="A subset of its choices, by commas (or a JSON list)."),
    ] = None,
    value: Annotated[
        str | None, typer.Option("--value", metavar="V", help="Pin it to this value (JSON when it parses, else text).")
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Undo its narrow: the study's own range again.")] = False,
    storage: StorageOption = DEFAULT_STORAGE,
    who: WhoOption = None,
) -> None:
    """Narrow a parameter's range, keep a subset of its choices, or pin it, mid-study: every worker applies it from
    its next proposal; paused and waiting trials outside it are retired (finished ones keep their results)."""
    given = {"--low": low, "--high": high, "--choices": choices, "--value": value}
    if reset and any(v is not None for v in given.values()):
        fail(f"--reset undoes the narrow of {name!r}: give it without {', '.join(k for k, v in given.items() if v)}")
    bounds = {"low": _bound("--low", low), "high": _bound("--high", high)}
    listed = None if choices is None else parse_choices(choices)
    study = load(study_name, storage)
    with user_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if reset:
            record = study.widen(name, who=who)
        else:
            pin = None if value is None else parse_value(value)
            record = study.narrow(name, **bounds, choices=listed, value=pin, who=who)
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    d = record.details
    said = "widened" if reset else "narrowed"
    text = f"{said} {name} of {study.name!r}: {d['old']} -> {d['new']}; workers apply it from their next proposal"
    if d.get("retired"):
        text += f"\nretired trials {', '.join(map(str, d['retired']))} (paused or waiting, outside it)"
    out().print(Text(text))


def _bound(option: str, raw: str | None) -> float | None:
    if raw is None:
        return None
    parsed = parse_value(raw)
    if isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
        fail(f"{option}: expected a number such as 0.001, got {raw!r}")
    return parsed


def parse_choices(raw: str) -> list[Any]:
    """``--choices``: a JSON list, else values separated by commas, each JSON when it parses.

    >>> parse_choices("adam,sgd"), parse_choices("16, 32"), parse_choices('["a,b", null]')
    (['adam', 'sgd'], [16, 32], ['a,b', None])
    """
    if raw.strip().startswith("["):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            fail(f"--choices: not a valid JSON list ({exc.msg}, column {exc.colno}): {raw!r}")
        if not isinstance(data, list):
            fail(f"--choices: expected a list such as adam,sgd, got {raw!r}")
        return data
    return [parse_value(part.strip()) for part in raw.split(",")]


trial_app = typer.Typer(
    help="Stop, pause or resume a trial by hand, or mark it (note, tags); every action is recorded.",
    no_args_is_help=True,
)


@trial_app.command("stop")
def stop(
    study_name: StudyArgument, number: NumberArgument, storage: StorageOption = DEFAULT_STORAGE, who: WhoOption = None
) -> None:
    """Stop a trial: a RUNNING one at its next report (wherever it runs), a PAUSED or WAITING one now; it
    ends PRUNED, "stopped by hand"."""
    _steer(study_name, storage, "stop_trial", number, who)


@trial_app.command("pause")
def pause(
    study_name: StudyArgument, number: NumberArgument, storage: StorageOption = DEFAULT_STORAGE, who: WhoOption = None
) -> None:
    """Pause a RUNNING trial at its next report, saving its state there (an objective that saves no state is
    stopped instead)."""
    _steer(study_name, storage, "pause_trial", number, who)


@trial_app.command("resume")
def resume(
    study_name: StudyArgument, number: NumberArgument, storage: StorageOption = DEFAULT_STORAGE, who: WhoOption = None
) -> None:
    """Resume a PAUSED trial: the next free worker resumes it from its checkpoint, before anything new."""
    _steer(study_name, storage, "resume_trial", number, who)


@trial_app.command("note")
def note(
    study_name: StudyArgument,
    number: NumberArgument,
    text: Annotated[str, typer.Argument(metavar="TEXT", help='The note ("" clears it).', show_default=False)],
    storage: StorageOption = DEFAULT_STORAGE,
    who: WhoOption = None,
) -> None:
    """Set a trial's note (shown by `itero show STUDY --trial NUMBER`)."""
    study = load(study_name, storage)
    with user_errors():
        study.set_trial_note(number, text, who=who)
    said = "cleared" if not text else "set"
    out().print(Text(f"note of trial {number} of {study.name!r} {said}"))


@trial_app.command("tag")
def tag(
    study_name: StudyArgument,
    number: NumberArgument,
    tags: Annotated[list[str], typer.Argument(metavar="TAG...", help="One or more tags.", show_default=False)],
    storage: StorageOption = DEFAULT_STORAGE,
    who: WhoOption = None,
) -> None:
    """Add tags to a trial."""
    _mark(study_name, storage, number, tags, who, remove=False)


@trial_app.command("untag")
def untag(
    study_name: StudyArgument,
    number: NumberArgument,
    tags: Annotated[list[str], typer.Argument(metavar="TAG...", help="One or more tags.", show_default=False)],
    storage: StorageOption = DEFAULT_STORAGE,
    who: WhoOption = None,
) -> None:
    """Remove tags from a trial."""
    _mark(study_name, storage, number, tags, who, remove=True)


def _steer(study_name: str, storage: str, method: str, number: int, who: str | None) -> None:
    study = load(study_name, storage)
    with user_errors():
        record: ActionRecord = getattr(study, method)(number, who=who)
    out().print(Text(f"trial {number} of {study.name!r} ({record.details['state']}): {record.details['result']}"))


def _mark(study_name: str, storage: str, number: int, tags: list[str], who: str | None, remove: bool) -> None:
    study = load(study_name, storage)
    with user_errors():
        for t in tags:
            if remove:
                study.remove_trial_tag(number, t, who=who)
            else:
                study.add_trial_tag(number, t, who=who)
        now = next(t for t in study.trials if t.number == number).tags
    out().print(Text(f"tags of trial {number} of {study.name!r}: {', '.join(now) or 'none'}"))


__all__ = ["enqueue", "narrow", "parse_choices", "parse_params", "parse_value", "trial_app"]
