"""The expert in the loop: enqueue a configuration, stop, pause or resume a trial by hand, mark a trial (note,
tags), and the log of every such action. The store is the only state workers share, so an action taken here (or
from ``itero enqueue`` / ``itero trial``, or the dashboard) reaches every worker of the study, on any machine.

    study.enqueue({"lr": 0.01, "optimizer": "adam"})   # the next free worker runs it first; returns its number
    study.stop_trial(7)                                 # RUNNING: stops at its next report; PAUSED, WAITING: now
    study.pause_trial(7); study.resume_trial(7)         # resume: the next free worker resumes it first
    study.set_trial_note(7, "diverged after warm-up"); study.add_trial_tag(7, "baseline")
    study.actions()                                     # [ActionRecord(..., who='ana', kind='enqueue', ...), ...]

``who`` (recorded with each action) defaults to the OS user's name; the dashboard passes its token's label.
"""

from __future__ import annotations

import getpass
import math
from collections.abc import Mapping
from typing import Any, Protocol

from itero.exceptions import BudgetSpentError, ConfigError
from itero.space import is_active, outside_reason
from itero.store import ActionRecord, RunFull, Store
from itero.store._cache import StudyCache

MAX_NOTE = 10_000  # characters of a note
MAX_TAG = 64  # characters of a tag


class _Study(Protocol):
    name: str
    id: int
    store: Store
    params: dict[str, Any]
    _cache: StudyCache


def default_who() -> str:
    """The OS user's name ("unknown" where the system has none)."""
    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment or the password database (some containers)
        return "unknown"


def enqueue(study: _Study, params: Mapping[str, Any], *, who: str | None = None) -> int:
    """Queue a trial that runs ``params`` (parameters it does not name are proposed by the sampler as usual);
    the next free worker of the study, in any process or machine, runs it before anything new, and counts it
    as one of its ``optimize(n_trials=...)``. Returns the trial's number; it is WAITING until a worker takes it.
    A value outside the range the objective suggests fails that trial with a message naming the parameter, the
    value and the range; one outside a range a person narrowed (``narrow``) is refused here. Counts as one trial
    of the study's budget (``set_budget(trials=...)``).

        number = study.enqueue({"lr": 3e-3, "optimizer": "adam"})
    """
    clean = check_params(params, study.params)
    narrowed = {n: e for n, e in study.store.get_study(study.name).config.get("narrowed", {}).items() if is_active(e)}
    outside = outside_reason(narrowed, clean)
    if outside is not None:
        raise ConfigError(f"enqueue: {outside}; give a value inside it, or undo the narrow first (study.widen)")
    try:
        number = study.store.enqueue_trial(study.id, clean, check_who(who))
    except RunFull:
        budget = study.store.get_budget(study.id)
        raise BudgetSpentError(
            f"enqueue: study {study.name!r} has started all {budget.max_trials} trials of its budget, enqueued "
            "ones included; raise it with study.set_budget(trials=...) (YAML budget: {trials: ...})"
        ) from None
    study._cache.refresh()
    return number


def stop_trial(study: _Study, number: int, who: str | None = None) -> ActionRecord:
    """Stop trial ``number`` by hand: a PAUSED or WAITING trial becomes PRUNED now; a RUNNING one stops at its
    next report, wherever it runs (its worker reads the request back with the report's write, written at most
    ``ITERO_FLUSH_SECONDS`` after it), PRUNED with the reason "stopped by hand by WHO". Returns the recorded
    action (``details["result"]`` says which)."""
    return _steer(study, number, "stop", who)


def pause_trial(study: _Study, number: int, who: str | None = None) -> ActionRecord:
    """Pause RUNNING trial ``number`` at its next report: its state there is saved and it is PAUSED, to be
    resumed later (``resume_trial``, or by its scheduler). An objective that passes no ``state`` to
    ``trial.report`` cannot be paused: the trial is stopped there instead (PRUNED, the reason says so). A trial
    at its last step completes."""
    return _steer(study, number, "pause", who)


def resume_trial(study: _Study, number: int, who: str | None = None) -> ActionRecord:
    """Resume PAUSED trial ``number``: the next free worker resumes it from its checkpoint before anything new,
    whatever its scheduler would choose (while the study's budget has steps and time left)."""
    return _steer(study, number, "resume", who)


def set_trial_note(study: _Study, number: int, text: str, who: str | None = None) -> ActionRecord:
    """Set trial ``number``'s note (``""`` clears it): ``trial.note``, shown by ``itero show STUDY --trial N``."""
    if not isinstance(text, str):
        raise ConfigError(f"note: expected a string, got {type(text).__name__} {text!r}")
    if len(text) > MAX_NOTE:
        raise ConfigError(f"note: at most {MAX_NOTE} characters, got {len(text)}")
    return study.store.mark_trial(study.id, _number(number), check_who(who), note=text)


def add_trial_tag(study: _Study, number: int, tag: str, who: str | None = None) -> ActionRecord:
    """Tag trial ``number`` (``trial.tags``; adding a tag it has changes nothing but is recorded)."""
    return study.store.mark_trial(study.id, _number(number), check_who(who), tag=check_tag(tag))


def remove_trial_tag(study: _Study, number: int, tag: str, who: str | None = None) -> ActionRecord:
    """Remove ``tag`` from trial ``number``; a TrialActionError lists its tags when it does not have it."""
    return study.store.mark_trial(study.id, _number(number), check_who(who), untag=check_tag(tag))


def actions(study: _Study, limit: int | None = None, trial: int | None = None) -> list[ActionRecord]:
    """What people did to the study by hand, oldest first: the latest ``limit`` actions (None: all), of trial
    number ``trial`` only when it is given."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ConfigError(f"actions: limit must be an integer >= 0 or None, got {limit!r}")
    return study.store.actions(study.id, limit, None if trial is None else _number(trial))


# ---------------------------------------------------------------------------------------------- checks
def check_params(params: Any, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` as enqueued: a mapping of names to None, bool, int, finite float or str that does not
    contradict the study's fixed parameters (``fixed``); a ConfigError naming the first bad entry."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"enqueue: params must be a mapping of parameter name to value, got {params!r}")
    clean: dict[str, Any] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"enqueue: parameter names must be non-empty strings, got {name!r}")
        if type(value).__module__ == "numpy" and hasattr(value, "item"):
            value = value.item()  # numpy.float64(0.1) -> 0.1
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise ConfigError(
                f"enqueue: parameter {name!r}: expected a number, a string, true/false or null, "
                f"got {type(value).__name__} {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"enqueue: parameter {name!r} is {value}; give a finite number")
        if name in fixed and fixed[name] != value:
            raise ConfigError(
                f"enqueue: parameter {name!r}={value!r} contradicts the study's fixed value {fixed[name]!r} "
                "(its params:); leave it out or give that value"
            )
        clean[name] = value
    return clean


def check_who(who: Any) -> str:
    """``who`` as recorded: the OS user's name when None; a ConfigError for anything but a short non-empty
    string."""
    if who is None:
        return default_who()
    if not isinstance(who, str) or not who.strip() or len(who) > 255:
        raise ConfigError(f"who: expected a non-empty name of at most 255 characters, got {who!r}")
    return who.strip()


def check_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not tag.strip() or len(tag.strip()) > MAX_TAG or "\n" in tag:
        raise ConfigError(f"tag: expected a non-empty line of at most {MAX_TAG} characters, got {tag!r}")
    return tag.strip()


def _number(number: Any) -> int:
    if isinstance(number, bool) or not isinstance(number, int):
        raise ConfigError(f"trial number: expected an integer, got {type(number).__name__} {number!r}")
    return number


def _steer(study: _Study, number: int, action: str, who: str | None) -> ActionRecord:
    record = study.store.steer_trial(study.id, _number(number), action, check_who(who))
    study._cache.refresh()
    return record


__all__ = [
    "actions",
    "add_trial_tag",
    "default_who",
    "enqueue",
    "pause_trial",
    "remove_trial_tag",
    "resume_trial",
    "set_trial_note",
    "stop_trial",
]
