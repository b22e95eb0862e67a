"""The narrow interface a running trial talks to, and its implementation on a worker's ``RunContext``.

A ``Trial`` asks its host to resolve and propose parameters, to decide after a report, to grant steps, to write,
to restore a checkpoint and to record dataset versions, and reads from it the clock, the cost meter and a few
settings. ``RunHost`` does that with the study's store, sampler, scheduler and budget; a unit test can give a
Trial a fake host and no store at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from itero._clock import Clock
from itero.exceptions import ArtifactError, SpaceError
from itero.executors._context import RunContext
from itero.executors._cost import CostMeter
from itero.executors._warm import donors
from itero.executors._work import grant_step
from itero.space import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    apply_override,
    describe_distribution,
    is_active,
    narrow_distribution,
    outside_reason,
)
from itero.store import TrialWrite, WarmStart, Written, load_state
from itero.tracking import DatasetVersion
from itero.trial import FrozenTrial, TrialState, would_be_best

logger = logging.getLogger("itero")

_MISSING = object()


@dataclass(frozen=True)
class Restored:
    """A state to resume from: the trial's own checkpoint, a donor's for a clone, or (``warm`` set) a matching
    trial's when the study shares weights."""

    step: int
    state: Any
    checkpoint_id: int
    warm: WarmStart | None = None
    donor_number: int | None = None


class TrialHost(Protocol):
    """What a running ``Trial`` needs from where it runs."""

    @property
    def directions(self) -> Mapping[str, str]: ...

    @property
    def max_steps(self) -> int | None: ...  # the scheduler's cap on a trial's steps

    @property
    def worker_id(self) -> int | None: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def flush_seconds(self) -> float: ...

    @property
    def limits_energy(self) -> bool: ...  # whether the run has an energy budget (then unwritten energy counts)

    @property
    def durable(self) -> bool: ...  # whether the store outlives this process (then each new parameter is written)

    def cost_meter(self, start_step: int, energy_before: float) -> CostMeter: ...

    def override(self, name: str, dist: Distribution) -> Distribution: ...

    def propose(
        self, trial: FrozenTrial, name: str, dist: Distribution, joint: dict[str, Any] | None
    ) -> tuple[Any, dict[str, Any] | None]: ...

    def is_fixed(self, name: str) -> bool: ...

    def decide(self, trial: FrozenTrial, step: int, can_pause: bool, last: bool) -> tuple[str, bool]: ...

    def grant_step(self, unflushed_j: float) -> bool: ...

    def write(self, write: TrialWrite) -> Written: ...  # the checkpoint id stored, a person's pending request

    def restore(self, trial: FrozenTrial, fresh: bool, max_steps: int | None) -> Restored | None: ...

    def record_dataset(self, version: DatasetVersion) -> None: ...


class RunHost:
    """``TrialHost`` on a worker's context. ``before_step`` (set by a stepped worker) runs before each step is
    granted."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.before_step: Callable[[], None] | None = None
        self._kinds: dict[str, tuple[type, int]] = {}  # name -> (distribution type, a completed trial's number)
        self._kinds_seen = (-1, 0)  # (history epoch, completed arrivals read)
        self._narrowed: dict[str, dict[str, Any]] = {}  # the study's narrowed parameters (study.narrow)
        self._narrowed_version = 0  # the study's config_version they are of

    @property
    def directions(self) -> Mapping[str, str]:
        return self.ctx.directions

    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    @property
    def flush_seconds(self) -> float:
        # Under an energy budget every report is written at once, so that peers see each other's energy within
        # a step.
        return 0.0 if self.limits_energy else self.ctx.flush_seconds

    @property
    def max_steps(self) -> int | None:
        return self.ctx.scheduler.max_steps

    @property
    def worker_id(self) -> int | None:
        return self.ctx.worker_id

    @property
    def limits_energy(self) -> bool:
        return self.ctx.budget.max_energy_j is not None or self.ctx.cache.budget.max_energy_j is not None

    @property
    def durable(self) -> bool:
        return not self.ctx.store.in_memory

    def cost_meter(self, start_step: int, energy_before: float) -> CostMeter:
        ctx = self.ctx
        return CostMeter(ctx.clock, ctx.meter, ctx.grams_per_kwh, start_step, energy_before)

    def override(self, name: str, dist: Distribution) -> Distribution:
        """``dist`` narrowed or replaced by the study's ``space``, then cut down to its narrowed range or choices
        (``study.narrow``) if a person narrowed it."""
        override = self.ctx.space.get(name)
        dist = dist if override is None else apply_override(name, dist, override)
        entry = self.narrowed().get(name)
        return dist if entry is None or "value" in entry else narrow_distribution(name, dist, entry)

    def narrowed(self) -> dict[str, dict[str, Any]]:
        """The parameters a person narrowed or pinned mid-study (``study.narrow``), name -> entry (see
        ``itero.space.narrow_distribution``). They are reloaded from the study's settings only when its
        ``config_version`` grew, which the store reads with the budget at each refresh that finds a change and
        with each new trial: a worker running when a narrow happens applies it from its next proposal, at no
        cost per trial."""
        seen = self.ctx.store.config_seen.get(self.ctx.study_id, 0)
        if seen != self._narrowed_version:
            stored = self.ctx.store.get_study(self.ctx.study_name).config.get("narrowed", {})
            self._narrowed = {name: dict(e) for name, e in stored.items() if is_active(e)}
            self._narrowed_version = seen
        return self._narrowed

    def outside(self, trial: FrozenTrial) -> str | None:
        """Why ``trial`` (a PAUSED one about to be resumed) is outside the narrowed space, or None."""
        narrowed = self.narrowed()
        return outside_reason(narrowed, trial.params) if narrowed else None

    def is_fixed(self, name: str) -> bool:
        """Whether the study fixes ``name`` (``params``): its value needs no storing to be found again."""
        return name in self.ctx.fixed

    def propose(
        self, trial: FrozenTrial, name: str, dist: Distribution, joint: dict[str, Any] | None
    ) -> tuple[Any, dict[str, Any] | None]:
        """``(value, joint)``: the study's fixed value of ``name``, else the sampler's proposal — taken from its
        joint proposal for the trial when that fits ``dist``. ``joint`` is the trial's joint proposal so far (None
        before the first one); the trial keeps what comes back for its next parameter."""
        self._check_kind(name, dist)
        ctx = self.ctx
        if name in ctx.fixed:
            value = ctx.fixed[name]
            if not dist.contains(value):
                raise SpaceError(
                    f"fixed parameter {name!r}={value!r} is outside its range {dist}; "
                    f"widen the range with space: {{{name}: ...}} or fix another value"
                )
            return value, joint
        pinned = self.narrowed().get(name)
        if pinned is not None and "value" in pinned:
            value = pinned["value"]
            if not dist.contains(value):
                raise SpaceError(
                    f"parameter {name!r} is pinned to {value!r} (by {pinned.get('who')}), outside the range it is "
                    f"suggested with, {describe_distribution(dist)}; pin another value or widen it (study.widen)"
                )
            return value, joint
        history = ctx.scheduler.sampler_view(ctx.cache.history)
        if joint is None:
            joint = ctx.sampler.sample_joint(history, trial) or {}
        value = joint.get(name, _MISSING)
        if value is _MISSING or not dist.contains(value):
            # Not in the joint proposal, or proposed for an older range of this parameter.
            value = ctx.sampler.sample(history, trial, name, dist)
        if not dist.contains(value):
            raise SpaceError(f"sampler {ctx.sampler.name!r} proposed {value!r} for {name!r}, outside {dist}")
        return value, joint

    def next_number(self) -> int:
        """The number the study's next trial gets, as far as this worker has seen."""
        trials = self.ctx.cache.history.trials
        return trials[-1].number + 1 if trials else 0

    def early_proposal(self, number: int) -> dict[str, Any]:
        """The sampler's joint proposal for a new trial numbered ``number``, drawn before the trial exists so
        that it is stored with it; {} when the sampler has none (too few trials, or it proposes per parameter),
        or when nothing outlives this process to store it in. The trial itself is not in the history either way:
        a trial is created after its worker's last look at the study."""
        ctx = self.ctx
        if not self.durable:
            return {}
        blank = FrozenTrial(id=-1, number=number, state=TrialState.RUNNING)
        try:
            return ctx.sampler.sample_joint(ctx.scheduler.sampler_view(ctx.cache.history), blank) or {}
        except Exception:  # the trial's first suggest draws again, and fails the trial with the error if it recurs
            logger.debug("sampler %s: no early proposal", ctx.sampler.name, exc_info=True)
            return {}

    def _check_kind(self, name: str, dist: Distribution) -> None:
        """One name, one kind: a float, int or categorical parameter of completed trials stays one (its range
        may change)."""
        history = self.ctx.cache.history
        arrivals = history.completed_arrivals()
        epoch, seen = self._kinds_seen
        if epoch != history.completed_epoch:
            self._kinds, seen = {}, 0
        for t in arrivals[seen:]:
            for n, d in t.distributions.items():
                self._kinds[n] = (type(d), t.number)
        self._kinds_seen = (history.completed_epoch, len(arrivals))
        known = self._kinds.get(name)
        if known is not None and known[0] is not type(dist):
            raise SpaceError(
                f"parameter {name!r} is suggested as {_KIND[type(dist)]} here but was {_KIND[known[0]]} in trial "
                f"{known[1]}: a name keeps its kind across trials; give the new one another name"
            )

    def decide(self, trial: FrozenTrial, step: int, can_pause: bool, last: bool) -> tuple[str, bool]:
        """``(decision, checkpoint wanted)`` after ``trial`` reported ``step``; a PAUSE at the ``last`` step
        becomes CONTINUE (the trial completes instead)."""
        scheduler, history = self.ctx.scheduler, self.ctx.cache.history
        decision = scheduler.decide(history, trial, step, can_pause=can_pause).value
        if decision == "PAUSE" and last:
            decision = "CONTINUE"
        # The best trial keeps its weights: a last step that beats the study's best (or joins its front) is saved.
        keep = last and decision == "CONTINUE" and can_pause and would_be_best(history, trial.reports.get(step, {}))
        return decision, keep or decision == "PAUSE" or scheduler.wants_checkpoint(history, trial, step)

    def grant_step(self, unflushed_j: float) -> bool:
        if self.before_step is not None:
            self.before_step()
        if self.ctx.stopped.is_set():
            raise KeyboardInterrupt("the optimize run was stopped")  # the trial goes back to WAITING
        return grant_step(self.ctx, unflushed_j)

    def write(self, write: TrialWrite) -> Written:
        return self.ctx.store.write_trial(self.ctx.study_id, write)

    def restore(self, trial: FrozenTrial, fresh: bool, max_steps: int | None) -> Restored | None:
        """The trial's own checkpoint (or its donor's, for a clone); for a ``fresh`` trial of a study that shares
        weights, the checkpoint of the best matching trial that is not past ``max_steps``; else None."""
        store = self.ctx.store
        if trial.checkpoint_id is not None:
            _tid, step, data = store.load_checkpoint(trial.checkpoint_id)
            return Restored(step, load_state(data), trial.checkpoint_id)
        keys = self.ctx.share_weights
        if not keys or not fresh:
            return None
        missing = [k for k in keys if k not in trial.params]
        if missing:
            logger.debug("trial %d: no shared weights, %s not suggested before restore()", trial.number, missing)
            return None
        for donor in donors(self.ctx.cache.history, trial, keys):
            assert donor.checkpoint_id is not None
            try:
                _tid, step, data = store.load_checkpoint(donor.checkpoint_id)
            except (LookupError, ArtifactError):  # collected in the meantime: try the next match
                continue
            if max_steps is not None and step >= max_steps:
                continue
            attrs = {"shared_from": donor.number, "from_step": step}
            warm = WarmStart(donor.id, donor.checkpoint_id, attrs)
            return Restored(step, load_state(data), donor.checkpoint_id, warm, donor.number)
        return None

    def record_dataset(self, version: DatasetVersion) -> None:
        ctx = self.ctx
        key = (version.name, version.digest)
        if key not in ctx.recorded_datasets:
            ctx.store.record_datasets(ctx.study_id, [(version.name, version.digest, version.kind, version.info)])
            ctx.recorded_datasets.add(key)


_KIND = {FloatDistribution: "a float", IntDistribution: "an int", CategoricalDistribution: "a categorical"}
