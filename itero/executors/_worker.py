"""The worker loop every executor runs: ask the scheduler what to run, claim it in the store, run it.

There is no coordinator: N workers (threads of one process, local processes, machines, Ray tasks) each run
this loop against the same store. A worker that dies leaves a RUNNING trial whose heartbeat stops; the parent
process (or, for remote workers, any peer once the heartbeat is stale) gives the trial back and another worker
resumes it from its last checkpoint or retries it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from itero.executors._context import RunContext
from itero.store import RunFull
from itero.trial import FrozenTrial, TrialState
from itero.trial._trial import Trial

logger = logging.getLogger("itero")

HEARTBEAT_SECONDS = float(os.environ.get("ITERO_HEARTBEAT_SECONDS", "5"))
STALE_SECONDS = float(os.environ.get("ITERO_STALE_SECONDS", str(6 * HEARTBEAT_SECONDS)))

Objective = Callable[[Trial], Any]
Callback = Callable[[FrozenTrial], None]


class Worker:
    """Runs trials of one study until the run's budget is spent or nothing is left to do.

    >>> worker = Worker(ctx, objective)       # ctx: a RunContext (see itero.study)
    >>> worker.run()                          # returns the number of trial runs it made
    """

    def __init__(self, ctx: RunContext, objective: Objective, on_trial_end: Callback | None = None) -> None:
        self.ctx = ctx
        self.objective = objective
        self.on_trial_end = on_trial_end
        self._stop_beat = threading.Event()
        self._last_reap = 0.0

    # ------------------------------------------------------------------ the loop
    def run(self) -> int:
        ctx = self.ctx
        ctx.worker_id = ctx.store.register_worker(ctx.study_id)
        beat = threading.Thread(target=self._beat, name="itero-heartbeat", daemon=True)
        beat.start()
        runs = 0
        try:
            while True:
                trial = self.next_trial()
                if trial is None:
                    break
                self.run_trial(trial)
                runs += 1
        finally:
            self._stop_beat.set()
            beat.join(timeout=2)
            ctx.store.heartbeat(ctx.worker_id, finished=True)
        return runs

    def _beat(self) -> None:
        assert self.ctx.worker_id is not None
        while not self._stop_beat.wait(HEARTBEAT_SECONDS):
            try:
                self.ctx.store.heartbeat(self.ctx.worker_id)
            except Exception:  # a missed beat is harmless; the next one retries
                logger.debug("heartbeat failed", exc_info=True)

    def next_trial(self) -> Trial | None:
        """Claim the next piece of work, or None when the budget is spent and nothing waits."""
        ctx = self.ctx
        for _attempt in range(20):  # a lost race for a paused trial is retried on fresh data
            history = ctx.cache.refresh()
            self._reap_stale()
            # 1. Trials given back by dead workers are resumed or retried first (they were counted already).
            for t in history.with_state(TrialState.WAITING):
                if ctx.store.claim_trial(ctx.study_id, t.id, ["WAITING"], ctx.worker_id):
                    logger.info("Trial %d: resuming after step %d (attempt %d)", t.number, t.step, t.retries + 1)
                    return self._resume(t)
            if ctx.budget_exhausted():
                return None
            suggestion = ctx.scheduler.next(history)
            if suggestion.action == "resume" and suggestion.trial_id is not None:
                paused = history.get(suggestion.trial_id)
                if paused is not None and ctx.store.claim_trial(ctx.study_id, paused.id, ["PAUSED"], ctx.worker_id):
                    return self._resume(paused)
                continue
            if suggestion.action == "clone" and suggestion.donor_id is not None:
                donor = history.get(suggestion.donor_id)
                if donor is not None and donor.checkpoint_id is not None:
                    return self._start(donor, suggestion.params)
                continue
            if ctx.sampler.is_exhausted(history):
                return None
            return self._start(None)
        return self._start(None)

    def _start(self, donor: FrozenTrial | None, params: dict[str, Any] | None = None) -> Trial | None:
        ctx = self.ctx
        try:
            trial_id, number = ctx.store.create_trial(
                ctx.study_id,
                run_id=ctx.budget.run_id,
                worker_id=ctx.worker_id,
                parent_id=donor.id if donor else None,
                checkpoint_id=donor.checkpoint_id if donor else None,
            )
        except RunFull:
            return None
        if donor is None:
            return Trial(ctx, trial_id, number)
        assert donor.checkpoint_id is not None
        return Trial(
            ctx,
            trial_id,
            number,
            params=params if params is not None else donor.params,
            start_step=ctx.store.checkpoint_step(donor.checkpoint_id),
            checkpoint_id=donor.checkpoint_id,
            parent_id=donor.id,
        )

    def _resume(self, t: FrozenTrial) -> Trial:
        # Without a checkpoint a trial restarts from step 0 with its own parameters.
        start = 0 if t.checkpoint_id is None else self.ctx.store.checkpoint_step(t.checkpoint_id)
        return Trial(
            self.ctx,
            t.id,
            t.number,
            params=t.params,
            distributions=t.distributions,
            start_step=start,
            checkpoint_id=t.checkpoint_id,
            parent_id=t.parent_id,
            metrics=t.metrics if t.checkpoint_id is not None else None,
        )

    def _reap_stale(self) -> None:
        now = time.time()
        if now - self._last_reap < HEARTBEAT_SECONDS:
            return
        self._last_reap = now
        released = self.ctx.store.release_trials(
            self.ctx.study_id,
            stale_before=now - STALE_SECONDS,
            reason="its worker stopped sending heartbeats",
        )
        if released:
            logger.warning("gave back %d trial(s) of silent workers: %s", len(released), released)
            self.ctx.cache.refresh()

    # ------------------------------------------------------------------ one trial
    def run_trial(self, trial: Trial) -> TrialState:
        try:
            result = self.objective(trial)
        except KeyboardInterrupt:
            trial.interrupt()
            raise
        except Exception as exc:
            logger.debug("objective raised", exc_info=True)
            state = trial.finish(exc=exc)
        else:
            state = trial.finish(result)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "Trial %d %s after step %d: %s",
                trial.number,
                state.value.lower(),
                trial.snapshot().step,
                trial.snapshot().metrics,
            )
        if self.on_trial_end is not None:
            history = self.ctx.cache.refresh()
            frozen = history.get(trial.id)
            if frozen is not None:
                self.on_trial_end(frozen)
        return state
