"""Whether a run has work left, and what it is: decided here and nowhere else.

A worker that is free asks ``next_work``; a running trial asks ``grant_step`` before each step; the parent of
local worker processes asks ``next_work`` too, to know whether to replace a worker that died. All three read the
same store, so they agree.
"""

from __future__ import annotations

import logging

from itero.executors._context import RunContext
from itero.schedulers import Suggestion
from itero.trial import History, TrialState

logger = logging.getLogger("itero")


def budget_spent(ctx: RunContext, unflushed_j: float = 0.0) -> str | None:
    """Why the run may not go on — its deadline passed, its energy or its step budget is spent (by any peer) —
    or None. ``unflushed_j``: energy the running trial used since its last write."""
    reached = _limit_reached(ctx, unflushed_j)
    if reached is not None:
        return reached
    b = ctx.budget
    if b.max_steps is not None and b.run_id is not None and ctx.store.steps_left(b.run_id) == 0:
        return "the run's step budget is spent"
    return None


def grant_step(ctx: RunContext, unflushed_j: float = 0.0) -> bool:
    """Grant the running trial its next step; False when the deadline, the energy or the step budget says stop.
    The step is taken from the run's budget atomically, so peers never run more than ``max_steps_total``."""
    if _limit_reached(ctx, unflushed_j) is not None:
        return False
    b = ctx.budget
    return b.max_steps is None or b.run_id is None or ctx.store.take_step(b.run_id)


def _limit_reached(ctx: RunContext, unflushed_j: float = 0.0) -> str | None:
    b = ctx.budget
    if b.deadline is not None and ctx.clock.time() >= b.deadline:
        return "the run's time limit is reached"
    if b.max_energy_j is not None and ctx.cache.energy_j - b.energy_at_start + unflushed_j >= b.max_energy_j:
        return "the run's energy budget is spent"
    return None


def next_work(ctx: RunContext, history: History) -> tuple[Suggestion | None, str]:
    """``(what to do, why)``: a trial given back by a dead worker to resume first (``resume`` of a WAITING
    trial), else the scheduler's suggestion — or ``(None, reason)`` when this run has nothing left to do."""
    waiting = history.with_state(TrialState.WAITING)
    if waiting:  # given back by dead workers: counted already, so they run whatever the budget says
        return Suggestion.resume(waiting[0].id), "a trial was given back"
    spent = budget_spent(ctx)
    if spent is not None:
        return None, spent
    suggestion = ctx.scheduler.next(history)
    if suggestion.action == "done":
        return None, f"scheduler {ctx.scheduler.name!r} has nothing more to run: {suggestion.reason}"
    if suggestion.action == "wait" and not history.with_state(TrialState.RUNNING):
        return None, f"scheduler {ctx.scheduler.name!r} waits but no trial is running"
    if suggestion.action == "start":
        b = ctx.budget
        if b.n_trials is not None and b.run_id is not None and ctx.store.trials_left(b.run_id) == 0:
            return None, "the run's trials are all started"
        if ctx.sampler.is_exhausted(ctx.scheduler.sampler_view(history)):
            return None, f"sampler {ctx.sampler.name!r} has no configuration left"
    return suggestion, suggestion.action
