"""The worker loop every executor runs: ask what to run, claim it in the store, run it.

There is no coordinator: N workers (threads of one process, local processes, machines, Ray tasks) each run
this loop against the same store. A worker that dies leaves a RUNNING trial whose heartbeat stops; the parent
process (or, for remote workers, any peer once the heartbeat is stale) gives the trial back and another worker
resumes it from its last checkpoint or retries it.

A worker runs in a loop (``run``), or one piece at a time (``step``): each call goes on until the worker is about
to be granted its trial's next step (after the previous step's report and the scheduler's decision, or, before
step 1, once the trial is claimed and its parameters are published) or sleeps on its clock. ``Simulation`` steps
many workers on a ``FakeClock`` in simulated-time order.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import greenlet

from itero._clock import SystemClock
from itero.exceptions import ArtifactUnavailableError
from itero.executors._context import RunContext
from itero.executors._host import RunHost
from itero.executors._stepper import Stepper
from itero.executors._trial import Trial
from itero.executors._work import is_queued, next_work
from itero.store import LostRace, RunFull
from itero.tracking._datasets import reset_current_trial, set_current_trial
from itero.trial import PROPOSAL_KEY, FrozenTrial, History, TrialState, best_checkpoints

logger = logging.getLogger("itero")

HEARTBEAT_SECONDS = float(os.environ.get("ITERO_HEARTBEAT_SECONDS", "5"))
WAIT_SECONDS = 0.05
STALE_SECONDS = float(os.environ.get("ITERO_STALE_SECONDS", str(6 * HEARTBEAT_SECONDS)))

Objective = Callable[[Trial], Any]
Callback = Callable[[FrozenTrial], None]


class Worker:
    """Runs trials of one study until the run's budget is spent or nothing is left to do.

    worker = Worker(ctx, objective)       # ctx: a RunContext (see itero.study)
    worker.run()                          # returns the number of trial runs it made
    while worker.step(): ...              # the same, one step at a time
    """

    def __init__(self, ctx: RunContext, objective: Objective, on_trial_end: Callback | None = None) -> None:
        self.ctx = ctx
        self.objective = objective
        self.on_trial_end = on_trial_end
        self.host = RunHost(ctx)
        self.runs = 0
        # Heartbeats and the reaping of silent peers run on real time only: nobody else can see an in-memory
        # store, and simulated workers do not die.
        self._heartbeats = not ctx.store.in_memory and isinstance(ctx.clock, SystemClock)
        self._stop_beat = threading.Event()
        self._beat: threading.Thread | None = None
        self._last_reap = float("-inf")
        self._stepper: Stepper | None = None

    # ------------------------------------------------------------------ the loop
    def run(self) -> int:
        """Run trials until nothing is left; returns the number of trial runs made."""
        self.start()
        try:
            while self.run_next():
                pass
        finally:
            self.stop()
        return self.runs

    def start(self) -> None:
        """Register this worker in the store (with its environment) and start its heartbeat."""
        ctx = self.ctx
        environment = None
        if ctx.tracking:
            from itero.tracking._environment import capture, repo_of

            environment = capture(repo_of(self.objective), energy=ctx.meter.enabled)
        ctx.worker_id = ctx.store.register_worker(ctx.study_id, environment, run_id=ctx.budget.run_id)
        if self._heartbeats:
            self._beat = threading.Thread(target=self._beating, name="itero-heartbeat", daemon=True)
            self._beat.start()

    def stop(self) -> None:
        self._stop_beat.set()
        if self._beat is not None and self._beat.is_alive():
            self._beat.join(timeout=2)
        if self.ctx.worker_id is not None:
            self.ctx.store.heartbeat(self.ctx.worker_id, finished=True)

    def run_next(self) -> bool:
        """Claim the next piece of work and run it; False when there is none."""
        trial = self.next_trial()
        if trial is None:
            return False
        self.run_trial(trial)
        self.runs += 1
        return True

    # ------------------------------------------------------------------ one step at a time
    def step(self) -> bool:
        """Go on until the worker is about to be granted a step, or sleeps on its clock (``wake_at`` then says
        until when); False once it has nothing left to do. The first call starts the worker."""
        if self._stepper is None:
            self._stepper = Stepper(self.run)
            self.host.before_step = self._stepper.yield_step
        return self._stepper.step()

    def close(self) -> None:
        """End a stepped worker that has not finished: its running trial is given back (WAITING), as on Ctrl-C,
        and the worker is marked finished. Nothing to do for a worker that finished or never started."""
        if self._stepper is not None:
            self._stepper.close()

    @property
    def wake_at(self) -> float | None:
        """When a stepped worker that sleeps on a ``FakeClock`` wants to go on (None: at once)."""
        return None if self._stepper is None else self._stepper.wake_at

    # ------------------------------------------------------------------ claiming work
    def next_trial(self) -> Trial | None:
        """Claim the next piece of work, or None when the budget is spent or nothing is left to do."""
        ctx = self.ctx
        while True:
            if ctx.stopped.is_set():
                logger.info("worker %s stops: the optimize run was stopped", ctx.worker_id)
                return None
            history = ctx.cache.refresh()
            self._reap_stale()
            suggestion, why, warn = next_work(ctx, history)
            if suggestion is None:
                logger.log(logging.WARNING if warn else logging.INFO, "worker %s stops: %s", ctx.worker_id, why)
                return None
            action = suggestion.action
            if action == "resume" and suggestion.trial_id is not None:
                t = history.get(suggestion.trial_id)
                outside = self._outside(t)
                if t is not None and outside is not None:  # paused, then a person narrowed the space: retire it
                    if ctx.store.retire_trial(ctx.study_id, t.id, outside, t.step):
                        logger.info("Trial %d not resumed: %s", t.number, outside)
                    continue
                # A trial is resumed from PAUSED, or from WAITING when a dead worker gave it back; never from
                # another state, whatever a scheduler suggests.
                states = ["WAITING"] if t is not None and t.state == TrialState.WAITING else ["PAUSED"]
                queued = t is not None and is_queued(t)  # enqueued: one of this run's n_trials
                run_id = ctx.budget.run_id if queued else None
                if t is not None and ctx.store.claim_trial(
                    ctx.study_id, t.id, states, ctx.worker_id, run_id=run_id, step=t.step
                ):
                    if queued:
                        logger.info("Trial %d: running the enqueued parameters %s", t.number, t.enqueued)
                    elif t.state == TrialState.WAITING and t.checkpoint_id is None:
                        logger.info(
                            "Trial %d: restarting from scratch (attempt %d; no checkpoint from its last run)",
                            t.number,
                            t.retries + 1,
                        )
                    elif t.state == TrialState.WAITING:
                        logger.info("Trial %d: resuming after step %d (attempt %d)", t.number, t.step, t.retries + 1)
                    else:
                        by_hand = " (resumed by hand)" if t.requested == "resume" else ""
                        logger.info("Trial %d: resuming from its checkpoint at step %d%s", t.number, t.step, by_hand)
                    return self._resume(t)
            elif action == "start":
                trial = self._start(None)
                if trial is not None:
                    return trial
                # A peer took the last trial of the budget first: what is left is finishing started trials.
            elif action == "clone" and suggestion.donor_id is not None:
                donor = history.get(suggestion.donor_id)
                if donor is not None and donor.checkpoint_id is not None:
                    try:
                        return self._start(donor, suggestion.params, suggestion.replaces)
                    except LostRace as exc:
                        logger.debug("clone of trial %d lost a race: %s", donor.number, exc)
            elif action == "stop" and suggestion.trial_id is not None:
                stopped = history.get(suggestion.trial_id)
                step = stopped.step if stopped is not None else None
                if ctx.store.retire_trial(ctx.study_id, suggestion.trial_id, suggestion.reason or "stopped", step):
                    number = "?" if stopped is None else stopped.number
                    logger.info("Trial %s stopped: %s", number, suggestion.reason)
            elif action == "wait":
                ctx.clock.sleep(WAIT_SECONDS)
            # A lost race or a wait: look again on fresh data.

    def _start(
        self, donor: FrozenTrial | None, params: dict[str, Any] | None = None, replaces: int | None = None
    ) -> Trial | None:
        """A new trial: fresh (``donor`` None) or a clone of ``donor``'s latest checkpoint with ``params``,
        retiring the paused trial ``replaces``. Raises ``LostRace`` when a peer got there first."""
        ctx = self.ctx
        if donor is None:
            # The sampler's joint proposal is drawn now, for the number the trial will most likely get, and
            # stored with the trial: one write fewer than storing it at the first suggest (see Trial._suggest).
            expected = self.host.next_number()
            joint = self.host.early_proposal(expected)
            try:
                trial_id, number = ctx.store.create_trial(
                    ctx.study_id,
                    run_id=ctx.budget.run_id,
                    worker_id=ctx.worker_id,
                    proposal=(expected, joint) if joint else None,
                )
            except RunFull:
                return None
            # A peer took that number first: the proposal was drawn for its trial (a sampler's proposal may
            # depend on the number: its seed, NSGA-II's generation); this one draws its own.
            return Trial(self.host, trial_id, number, proposal=joint if number == expected else None)
        if donor.checkpoint_id is None:
            raise LostRace(f"trial {donor.number} has no checkpoint to clone")
        try:
            from_step = ctx.store.checkpoint_step(donor.checkpoint_id)
        except LookupError:
            raise LostRace(f"the checkpoint of trial {donor.number} was collected") from None
        lineage: dict[str, Any] = {"clone_of": donor.number, "from_step": from_step}
        replaced = ctx.cache.history.get(replaces) if replaces is not None else None
        if replaced is not None:
            lineage["replaces"] = replaced.number
        try:
            trial_id, number = ctx.store.create_trial(
                ctx.study_id,
                run_id=ctx.budget.run_id,
                worker_id=ctx.worker_id,
                parent_id=donor.id,
                checkpoint_id=donor.checkpoint_id,
                params=params,
                system_attrs=lineage,
                replaces=None
                if replaces is None
                else (
                    replaces,
                    f"replaced by a clone of trial {donor.number} (exploit)",
                    replaced.step if replaced is not None else None,
                ),
            )
        except RunFull:
            return None
        if replaced is not None:
            logger.info("Trial %d: clone of trial %d replacing trial %d", number, donor.number, replaced.number)
        return Trial(
            self.host,
            trial_id,
            number,
            params=params if params is not None else donor.params,
            start_step=from_step,
            checkpoint_id=donor.checkpoint_id,
            parent_id=donor.id,
        )

    def _outside(self, t: FrozenTrial | None) -> str | None:
        """Why PAUSED ``t`` is not resumed: it paused after a person narrowed the space it is outside of (those
        paused before were retired by the narrow). A person's own resume after the narrow wins."""
        if t is None or t.state != TrialState.PAUSED or t.requested == "resume":
            return None
        return self.host.outside(t)

    def _resume(self, t: FrozenTrial) -> Trial:
        # Without a checkpoint a trial restarts from step 0 with its own parameters.
        start = 0 if t.checkpoint_id is None else self.ctx.store.checkpoint_step(t.checkpoint_id)
        return Trial(
            self.host,
            t.id,
            t.number,
            params=t.params,
            distributions=t.distributions,
            start_step=start,
            checkpoint_id=t.checkpoint_id,
            parent_id=t.parent_id,
            metrics=t.metrics if t.checkpoint_id is not None else None,
            user_attrs=t.user_attrs,
            datasets=t.datasets,
            energy_j=t.cost.energy_j,
            reports=t.reports if t.checkpoint_id is not None else None,
            proposal=t.system_attrs.get(PROPOSAL_KEY),
            fixed=t.enqueued,
        )

    # ------------------------------------------------------------------ liveness
    def _beating(self) -> None:
        assert self.ctx.worker_id is not None
        run_id = self.ctx.budget.run_id
        while not self._stop_beat.wait(HEARTBEAT_SECONDS):
            try:
                self.ctx.store.heartbeat(self.ctx.worker_id)
                if run_id is not None and self.ctx.store.run_ended(run_id):
                    self.ctx.stopped.set()
            except Exception:  # a missed beat is harmless; the next one retries
                logger.debug("heartbeat failed", exc_info=True)

    def _reap_stale(self) -> None:
        if not self._heartbeats:
            return
        now = self.ctx.clock.time()
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
        token = set_current_trial(trial)
        try:
            result = self.objective(trial)
        except (KeyboardInterrupt, SystemExit, greenlet.GreenletExit, ArtifactUnavailableError):
            # Ctrl-C, an exit, a stepped worker closed mid-trial, or checkpoints that cannot be written (disk full):
            # not the trial's fault. It goes back to WAITING, to be resumed, and the worker stops.
            trial.interrupt()
            raise
        except Exception as exc:
            logger.debug("objective raised", exc_info=True)
            state = trial.finish(exc=exc)
        else:
            state = trial.finish(result)
        finally:
            reset_current_trial(token)
        if logger.isEnabledFor(logging.INFO):
            snap = trial.snapshot()
            logger.info("Trial %d %s after step %d: %s", trial.number, state.value.lower(), snap.step, snap.metrics)
        if trial.wrote_checkpoint or trial.restored_from is not None:
            self._collect_checkpoints(self.ctx.cache.refresh())
        if self.on_trial_end is not None:
            frozen = self.ctx.cache.refresh().get(trial.id)
            if frozen is not None:
                self.on_trial_end(frozen)
        return state

    def _collect_checkpoints(self, history: History) -> None:
        ctx = self.ctx
        try:
            keep = set(ctx.scheduler.keep_checkpoints(history)) | best_checkpoints(history)
            freed = ctx.store.collect_checkpoints(ctx.study_id, keep)
        except Exception:  # garbage collection is best effort; the next trial end tries again
            logger.debug("checkpoint collection failed", exc_info=True)
            return
        if freed:
            logger.debug("freed %d bytes of checkpoints that can no longer be resumed or cloned", freed)
