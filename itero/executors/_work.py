"""Whether a run has work left, and what it is: decided here and nowhere else.

A worker that is free asks ``next_work``; a running trial asks ``grant_step`` before each step; the parent of
local worker processes asks ``next_work`` too, to know whether to replace a worker that died. All three read the
same store, so they agree. Two budgets apply: the optimize call's (``Budget``) and the study's, shared by every
process and machine that works on the study (``Study.set_budget``). (The store has the last word on the trial
and step counts: ``create_trial`` and ``take_step`` are atomic, so a peer that loses a race for the last slot
simply finds nothing left.)
"""

from __future__ import annotations

from typing import NamedTuple

from itero.executors._context import RunContext
from itero.schedulers import Suggestion
from itero.trial import FrozenTrial, History, TrialState

BUDGET_READ_SECONDS = 1.0  # how often a running trial re-reads the study's budget


def budget_spent(ctx: RunContext, unflushed_j: float = 0.0) -> str | None:
    """Why the run may not go on — its deadline passed, its energy or its step budget is spent (by any peer) —
    or None. ``unflushed_j``: energy the running trial used since its last write."""
    reached = _limit_reached(ctx, unflushed_j)
    if reached is not None:
        return reached
    b = ctx.budget
    if b.max_steps is not None and b.run_id is not None and ctx.store.steps_left(b.run_id) == 0:
        return "the run's step budget is spent"
    if ctx.cache.budget.max_steps is not None:
        study = ctx.store.get_budget(ctx.study_id)
        if study.max_steps is not None and study.steps_taken >= study.max_steps:
            return f"the study's step budget is spent ({study.steps_taken} of {study.max_steps} steps)"
    return None


def grant_step(ctx: RunContext, unflushed_j: float = 0.0) -> bool:
    """Grant the running trial its next step; False when a deadline, the energy or a step budget says stop.
    The step is taken from the run's and the study's step budgets atomically, so peers never run more than
    ``max_steps_total`` in one call nor the study more than its budget."""
    if ctx.budget.max_energy_j is not None or ctx.cache.budget.max_energy_j is not None:
        ctx.cache.refresh()  # peers' energy, written at each of their steps (see RunHost.flush_seconds)
    now = ctx.clock.monotonic()
    if now - ctx.budget.budget_read_at >= BUDGET_READ_SECONDS:  # a budget set while this trial runs holds too
        ctx.cache.budget = ctx.store.get_budget(ctx.study_id)
        ctx.budget.budget_read_at = now
    if _limit_reached(ctx, unflushed_j) is not None:
        return False
    b = ctx.budget
    run_id = b.run_id if b.max_steps is not None else None
    study_id = ctx.study_id if ctx.cache.budget.max_steps is not None else None
    return (run_id is None and study_id is None) or ctx.store.take_step(run_id, study_id)


def _limit_reached(ctx: RunContext, unflushed_j: float = 0.0) -> str | None:
    b, study = ctx.budget, ctx.cache.budget
    now = ctx.clock.time()
    if b.deadline is not None and now >= b.deadline:
        return "the run's time limit is reached"
    if study.max_seconds is not None:
        if b.study_seconds != study.max_seconds:  # first look, or the limit changed: from the study's clock
            b.study_deadline = now + study.max_seconds - ctx.store.run_seconds(ctx.study_id)
            b.study_seconds = study.max_seconds
        if b.study_deadline is not None and now >= b.study_deadline:
            return f"the study's time budget is spent ({study.minutes:g} min)"
    if b.max_energy_j is not None and ctx.cache.energy_j - b.energy_at_start + unflushed_j >= b.max_energy_j:
        return "the run's energy budget is spent"
    if study.max_energy_j is not None and ctx.cache.energy_j + unflushed_j >= study.max_energy_j:
        return f"the study's energy budget is spent ({study.energy_kwh:g} kWh)"
    return None


class Work(NamedTuple):
    """What a free worker should do (None: nothing is left for this run), why, and whether the reason is a
    problem the user should hear about (a scheduler that waits while nothing runs)."""

    suggestion: Suggestion | None
    reason: str
    warn: bool = False


def is_queued(trial: FrozenTrial) -> bool:
    """Whether ``trial`` waits for its first run: enqueued by a person (``study.enqueue``). Unlike a trial given
    back by a dead worker, it counts as a new trial of the optimize run that claims it."""
    return trial.state == TrialState.WAITING and trial.datetime_start is None


def next_work(ctx: RunContext, history: History) -> Work:
    """What a free worker does, in this order: resume a trial a dead worker gave back; run an enqueued trial
    (while the run may start trials); resume a trial a person asked to resume; else what the scheduler suggests
    — or nothing, with the reason, when this run has nothing left to do. All but the last are a ``resume`` of
    that trial."""
    waiting = history.with_state(TrialState.WAITING)
    queued = [t for t in waiting if is_queued(t)]
    if len(queued) < len(waiting):  # given back by dead workers: counted already, so they run whatever the budget
        given_back = next(t for t in waiting if not is_queued(t))
        return Work(Suggestion.resume(given_back.id), "a trial was given back")
    spent = budget_spent(ctx)
    if spent is not None:
        return Work(None, spent)
    if queued and _run_may_start(ctx):
        return Work(Suggestion.resume(queued[0].id), "an enqueued trial")
    for t in history.with_state(TrialState.PAUSED):
        if t.requested == "resume":
            return Work(Suggestion.resume(t.id), "a trial resumed by hand")
    suggestion = ctx.scheduler.next(history)
    if suggestion.action == "resume":
        paused = history.get(suggestion.trial_id) if suggestion.trial_id is not None else None
        if paused is None or paused.state != TrialState.PAUSED:
            state = "unknown" if paused is None else paused.state.value
            what = f"scheduler {ctx.scheduler.name!r} suggests resuming trial id {suggestion.trial_id} ({state})"
            return Work(None, f"{what}; only a PAUSED trial can be resumed", warn=True)
    if suggestion.action == "done":
        return Work(None, f"scheduler {ctx.scheduler.name!r} has nothing more to run: {suggestion.reason}")
    if suggestion.action == "wait" and not history.with_state(TrialState.RUNNING):
        return Work(None, f"scheduler {ctx.scheduler.name!r} waits but no trial is running", warn=True)
    if suggestion.action == "start":
        why = _no_new_trial(ctx, history)
        if why is not None:  # finish the paused trials the scheduler still finds worth it, then stop
            finishing = ctx.scheduler.finish(history)
            if finishing.action == "resume":
                return Work(finishing, f"finish a paused trial: {why}")
            return Work(None, why)
    return Work(suggestion, suggestion.action)


def _run_may_start(ctx: RunContext) -> bool:
    """Whether the run may start one more trial (its ``n_trials``; the claim takes the slot atomically)."""
    b = ctx.budget
    return b.n_trials is None or b.run_id is None or ctx.store.trials_left(b.run_id) != 0


def _no_new_trial(ctx: RunContext, history: History) -> str | None:
    """Why no new trial may start: the run's trials are all started, or the sampler has nothing new."""
    b, study = ctx.budget, ctx.cache.budget
    if b.n_trials is not None and b.run_id is not None and ctx.store.trials_left(b.run_id) == 0:
        return "the run's trials are all started"
    if study.max_trials is not None and study.trials_started >= study.max_trials:
        return f"the study's {study.max_trials} trials are all started"
    if ctx.sampler.is_exhausted(ctx.scheduler.sampler_view(history)):
        return f"sampler {ctx.sampler.name!r} has no configuration left"
    return None
