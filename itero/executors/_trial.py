"""The live trial an objective receives: define-by-run parameters, steps, reports and checkpoints.

    def objective(trial: itero.Trial) -> None:
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        model, opt = build(lr)
        state = trial.restore()                 # None on a fresh start
        if state is not None:
            model.load_state_dict(state["model"])
        for epoch in trial.steps(max_steps=20):  # ends early when the scheduler stops or pauses the trial
            train_one_epoch(model, opt)
            trial.report(epoch, {"val_acc": evaluate(model)}, state=lambda: {"model": model.state_dict()})

A trial keeps the objective's verbs; everything else goes through its host (``_host.TrialHost``): parameter
proposals, scheduler decisions, the step budget, writes and checkpoints. Reports are buffered (``_buffer``) and
written at most about once a second, at decision points and at the end; ``state`` is serialised only when the
scheduler needs it. Costs are counted by ``_cost``, the final state decided by ``_outcome``.
"""

from __future__ import annotations

import logging
import math
import traceback
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from itero.exceptions import SpaceError
from itero.executors._buffer import WriteBuffer
from itero.executors._host import TrialHost
from itero.executors._outcome import (
    ENERGY_METRIC,
    clean_metrics,
    end_state,
    final_metrics,
    is_scalar_tensor,
    short,
)
from itero.space import (
    CategoricalChoice,
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    check_compatible,
    describe_distribution,
)
from itero.store import CheckpointData, HandRequest, dump_state
from itero.tracking import DatasetVersion, session_datasets, version_of
from itero.trial import FrozenTrial, TrialCost, TrialState

logger = logging.getLogger("itero")


class Trial:
    """One run of one trial, inside a worker. Created by itero; objectives only call its methods."""

    def __init__(
        self,
        host: TrialHost,
        trial_id: int,
        number: int,
        *,
        params: Mapping[str, Any] | None = None,
        distributions: Mapping[str, Distribution] | None = None,
        start_step: int = 0,
        checkpoint_id: int | None = None,
        parent_id: int | None = None,
        metrics: Mapping[str, float] | None = None,
        user_attrs: Mapping[str, Any] | None = None,
        datasets: Mapping[str, str] | None = None,
        energy_j: float = 0.0,
        reports: Mapping[int, dict[str, float]] | None = None,
        proposal: Mapping[str, Any] | None = None,
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        self._host = host
        self.id = trial_id
        self.number = number
        self._params: dict[str, Any] = dict(params or {})
        self._distributions: dict[str, Distribution] = dict(distributions or {})
        self._earlier = set(self._distributions)  # suggested in an earlier run of the trial (resumed, retried)
        self._tuned: set[str] = set()  # parameters recorded by the objective (record_param), not suggested
        self._fixed: dict[str, Any] = dict(fixed or {})  # values a person enqueued: used when suggested
        self._start_step = start_step
        self._step = start_step
        self._checkpoint_id = checkpoint_id
        self.restored_from = checkpoint_id  # the checkpoint this run started from (its own or a donor's)
        self.parent_id = parent_id
        self._metrics: dict[str, float] = dict(metrics or {})
        # A resumed trial keeps its earlier reports: schedulers tell from them which rungs it already passed.
        self._reports: dict[int, dict[str, float]] = {s: m for s, m in (reports or {}).items() if s <= start_step}
        self._user_attrs: dict[str, Any] = dict(user_attrs or {})  # a resumed trial keeps its earlier ones
        self._datasets: dict[str, str] = dict(datasets or {})
        self._constraints: list[float] = []
        # The sampler's joint proposal for this trial, and the part of it the store holds (a retry reuses it).
        self._joint: dict[str, Any] | None = dict(proposal) if proposal else None
        self._stored_joint: dict[str, Any] | None = dict(proposal) if proposal else None
        self._buffer = WriteBuffer(host.flush_seconds)
        self._cost = host.cost_meter(start_step, energy_j)
        self._decision = "CONTINUE"
        self._request: HandRequest | None = None  # a person's stop or pause, read back with the last write
        self._reason: str | None = None  # why a hand stop ended the trial
        self._budget_stop = False
        self._restored = False
        self._finished = False
        self.max_steps: int | None = host.max_steps
        self.wrote_checkpoint = False
        for version in session_datasets().values():
            self.track_dataset(version.name, version)

    # ------------------------------------------------------------------ parameters
    @property
    def params(self) -> dict[str, Any]:
        """Parameters suggested so far in this trial."""
        return dict(self._params)

    @property
    def distributions(self) -> dict[str, Distribution]:
        return dict(self._distributions)

    def suggest_float(
        self, name: str, low: float, high: float, *, log: bool = False, step: float | None = None
    ) -> float:
        """A float in ``[low, high]``; ``log=True`` for scale parameters; ``step`` for a grid."""
        return float(self._suggest(name, lambda: FloatDistribution(low, high, log, step)))

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1) -> int:
        """An int in ``[low, high]`` (both included)."""
        return int(self._suggest(name, lambda: IntDistribution(low, high, log, step)))

    def suggest_categorical(self, name: str, choices: Sequence[CategoricalChoice]) -> Any:
        """One of ``choices`` (None, bool, int, float or str)."""
        return self._suggest(name, lambda: CategoricalDistribution(tuple(choices)))

    def _suggest(self, name: str, make: Any) -> Any:
        if not isinstance(name, str) or not name:
            raise SpaceError(f"a parameter name must be a non-empty string, got {name!r}")
        try:
            dist: Distribution = make()
        except SpaceError as exc:
            raise SpaceError(f"parameter {name!r}: {exc}") from None
        dist = self._host.override(name, dist)
        if name in self._distributions:
            # A resumed trial keeps the range it was sampled from, whatever the study's is now (study.narrow).
            if name not in self._earlier or type(dist) is not type(self._distributions[name]):
                check_compatible(name, self._distributions[name], dist)
            return self._params[name]
        fresh = name not in self._params
        if not fresh and self.parent_id is not None and not dist.contains(self._params[name]):
            fresh = True  # a clone's value outside the range narrowed since its donor ran: sampled instead
        if fresh and name in self._fixed:
            value = _given(name, self._fixed[name], dist)
        elif fresh:
            value, self._joint = self._host.propose(self.snapshot(), name, dist, self._joint)
        else:  # fixed by the caller (a clone's params, ask(fixed=...), a retried trial's own)
            value = self._params[name]
        self._params[name] = value
        self._distributions[name] = dist
        self._buffer.changed("params")
        if self._host.durable and fresh and name not in self._fixed and not self._host.is_fixed(name):
            # A worker that dies before the first report (building a model too large, say) must leave the
            # trial's configuration behind, so that the retry runs the same one. The first proposal is stored
            # with the sampler's joint proposal for the trial; a later one it covers needs no write of its own.
            stored = self._stored_joint
            if stored is None:
                self._stored_joint = dict(self._joint or {})
                self._write(proposal=self._stored_joint)
            elif name not in stored or stored[name] != value:
                self._write()
        return value

    def record_param(self, name: str, value: float, distribution: Distribution | None = None) -> None:
        """Record a parameter the objective tuned itself (e.g. by hypergradients) rather than one the sampler
        proposed; recording it again updates it. ``distribution`` defaults to a wide range holding the value."""
        if name in self._params and self._distributions.get(name) is not None and name not in self._tuned:
            raise SpaceError(f"parameter {name!r} was suggested by the sampler; record tuned values under another name")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"tuned parameter {name!r} is {value}; only finite values can be recorded")
        dist = distribution or (
            FloatDistribution(1e-30, 1e30, log=True) if value > 0 else FloatDistribution(-1e30, 1e30)
        )
        if not dist.contains(value):
            raise SpaceError(f"tuned parameter {name!r}={value!r} is outside its range {dist}")
        self._params[name] = value
        self._distributions[name] = dist
        self._tuned.add(name)
        self._buffer.changed("params")

    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-serialisable value to the trial (shown by ``itero show``)."""
        self._user_attrs[key] = value
        self._buffer.changed("user_attrs")

    def set_constraints(self, values: Sequence[float]) -> None:
        """Record the trial's constraint values: it is feasible when every value is <= 0 (Optuna's
        ``constraints_func`` convention). Infeasible trials stay out of ``study.best_trial`` and
        ``study.pareto_front()``, and the samplers steer away from them (TPE counts them among the bad trials,
        NSGA-II ranks them by constrained domination). Call it again to replace the values.

            mem_gb = peak_memory_gb(model)
            trial.set_constraints([mem_gb - 4.0, latency_ms - 20.0])   # at most 4 GB and 20 ms
        """
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
            raise TypeError(f"set_constraints: expected a list of numbers, got {type(values).__name__} {short(values)}")
        clean = []
        for i, v in enumerate(values):
            if isinstance(v, bool) or not (isinstance(v, (int, float)) or is_scalar_tensor(v)):
                raise TypeError(f"set_constraints: value {i} must be a number, got {type(v).__name__} {short(v)}")
            x = float(v)
            if not math.isfinite(x):
                raise ValueError(f"set_constraints: value {i} is {x}; constraint values must be finite")
            clean.append(x)
        self._constraints = clean
        self._buffer.changed("constraints")

    @property
    def constraints(self) -> list[float]:
        """The constraint values set in this run (empty when none)."""
        return list(self._constraints)

    # ------------------------------------------------------------------ data, energy, restore
    def track_dataset(self, name: str, data: Any) -> DatasetVersion:
        """Record the version of dataset ``name`` this trial uses (see ``itero.track_dataset``)."""
        version = version_of(name, data)
        if self._datasets.get(name) != version.digest:
            self._datasets[name] = version.digest
            self._buffer.changed("datasets")
        self._host.record_dataset(version)
        return version

    @property
    def datasets(self) -> dict[str, str]:
        """``{dataset name: content digest}`` of the datasets this trial tracked."""
        return dict(self._datasets)

    def energy_kwh(self) -> float:
        """Energy this trial has used so far, over all its runs (kWh)."""
        return self._cost.energy_kwh()

    def restore(self) -> Any:
        """The state to resume from: this trial's own checkpoint, a donor's for a clone, a matching trial's
        when the study shares weights, or None."""
        fresh = self._checkpoint_id is None and not (self._start_step or self._restored or self._step)
        restored = self._host.restore(self.snapshot(), fresh, self.max_steps)
        if restored is None:
            return None
        self._restored = True
        if restored.warm is not None:  # shared weights: this fresh trial starts at the donor's step
            self._start_step = self._step = restored.step
            self._cost.rebase(restored.step)
            self._checkpoint_id = self.restored_from = restored.checkpoint_id
            self.parent_id = restored.warm.parent_id
            self._buffer.warm = restored.warm
            logger.info(
                "Trial %d starts from trial %d's weights at step %d", self.number, restored.donor_number, restored.step
            )
        return restored.state

    @property
    def start_step(self) -> int:
        """The step this run starts after (0 for a fresh start)."""
        return self._start_step

    # ------------------------------------------------------------------ steps and reports
    def steps(self, max_steps: int) -> Iterator[int]:
        """Yield ``start_step + 1, …, max_steps``; ends early when the scheduler stops or pauses the trial,
        or when the study's budget (steps or time) runs out."""
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
        cap = max_steps if self.max_steps is None else min(max_steps, self.max_steps)
        self.max_steps = cap
        if self._checkpoint_id is not None and not self._restored and self._start_step > 0:
            logger.warning(
                "trial %d resumes after step %d but the objective did not call trial.restore()",
                self.number,
                self._start_step,
            )
        if self._buffer.has_changed("params"):
            # Publish the parameters before training so that peers' samplers see this trial as running there
            # (TPE's constant liar).
            self._write()
        step = self._start_step
        while step < cap:
            if self._request is not None and self._request.action == "stop":  # seen before any report of this run
                self._obey(step, None, None)
            if self._decision != "CONTINUE":
                return
            unflushed = self._cost.unflushed_joules() if self._host.limits_energy else 0.0
            if not self._host.grant_step(unflushed):
                self._budget_stop = True
                return
            step += 1
            yield step
            self._step = max(self._step, step)

    def report(self, step: int, metrics: Mapping[str, Any], state: Any = None) -> None:
        """Record ``metrics`` at ``step``; ``state`` (a value or a zero-argument callable) is serialised only
        when the scheduler needs a checkpoint here."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"report step must be an integer >= 0, got {step!r}")
        if not isinstance(metrics, Mapping):
            raise TypeError(f"report metrics must be a dict of name to number, got {type(metrics).__name__}")
        last_step = max(self._reports, default=None)
        if last_step is not None and step <= last_step:
            raise ValueError(
                f"trial {self.number} reported step {step} after step {last_step}: steps must increase; report all "
                "of a step's metrics in one call, and number steps as trial.steps() yields them"
            )
        clean = clean_metrics(metrics, where="report")
        if ENERGY_METRIC in self._host.directions and ENERGY_METRIC not in clean:
            clean[ENERGY_METRIC] = self.energy_kwh()
        self._metrics.update(clean)
        self._reports[step] = clean
        self._buffer.add_report(step, clean)
        self._step = max(self._step, step)
        last = self.max_steps is not None and step >= self.max_steps
        decision, wants = self._host.decide(self.snapshot(), step, state is not None, last)
        checkpoint = None
        if wants and state is not None:
            checkpoint = CheckpointData(step, dump_state(state() if callable(state) else state))
        if decision == "PAUSE" and checkpoint is None:
            decision = "STOP"  # no state to resume from: stop in place instead of pausing
        self._decision = decision
        decision_point = checkpoint is not None or decision != "CONTINUE"
        if self._buffer.due(self._host.clock.monotonic(), decision_point):
            self._write(checkpoint=checkpoint)
        if self._request is not None and not (last and decision == "CONTINUE"):  # the last step just completes
            self._obey(step, state, checkpoint)

    def _obey(self, step: int, state: Any, checkpoint: CheckpointData | None) -> None:
        """Carry out a person's stop or pause (``study.stop_trial``, ``pause_trial``) at this report: a pause
        saves ``state`` here and pauses; without a state to save it stops instead, and says so."""
        request, self._request = self._request, None
        assert request is not None
        if request.action == "pause" and self._decision != "CONTINUE":
            return  # the scheduler stops or pauses it here anyway
        if request.action == "pause" and state is not None:
            if checkpoint is None:
                self._write(checkpoint=CheckpointData(step, dump_state(state() if callable(state) else state)))
                self._request = None  # read back by that write: carried out now
            self._decision = "PAUSE"
            logger.info("Trial %d: %s at step %d", self.number, request.reason, step)
            return
        self._decision = "STOP"
        self._reason = request.reason
        if request.action == "pause":
            self._reason += ", but its objective saves no state (trial.report(..., state=...)): stopped instead"
        logger.info("Trial %d: %s at step %d", self.number, self._reason, step)

    def _write(
        self,
        *,
        state: str | None = None,
        checkpoint: CheckpointData | None = None,
        metrics: Mapping[str, float] | None = None,
        error: str | None = None,
        traceback: str | None = None,
        outcome: str | None = None,
        proposal: Mapping[str, Any] | None = None,
    ) -> None:
        buf = self._buffer
        cost = self._cost.delta(self._step)
        write = buf.take(
            self.id,
            step=self._step,
            params=self._params,
            distributions=self._distributions,
            user_attrs=self._user_attrs,
            datasets=self._datasets,
            constraints=self._constraints,
            now=self._host.clock.monotonic(),
            state=state,
            metrics=metrics if metrics is not None else (self._metrics if buf.reports else None),
            error=error,
            traceback=traceback,
            cost=cost,
            run=None if outcome is None else self._cost.run(self._start_step, self._step, outcome),
            worker_id=self._host.worker_id,
            checkpoint=checkpoint,
            proposal=proposal,
        )
        written = self._host.write(write)
        if written.checkpoint_id is not None:
            self._checkpoint_id = written.checkpoint_id
            self.wrote_checkpoint = True
        if written.request is not None and not self._finished:
            self._request = written.request

    # ------------------------------------------------------------------ views and the end
    def snapshot(self) -> FrozenTrial:
        """This trial as samplers and schedulers see it (RUNNING, with its reports so far)."""
        return FrozenTrial(
            id=self.id,
            number=self.number,
            state=TrialState.RUNNING,
            params=dict(self._params),
            distributions=dict(self._distributions),
            metrics=dict(self._metrics),
            reports=self._reports,
            step=self._step,
            parent_id=self.parent_id,
            checkpoint_id=self._checkpoint_id,
            cost=TrialCost(self._step - self._start_step),
            datasets=dict(self._datasets),
        )

    def interrupt(self) -> None:
        """The run was interrupted (Ctrl-C): give the trial back as WAITING so that the next run of the study
        resumes it from its last checkpoint (or retries it)."""
        self._finished = True
        self._write(state=TrialState.WAITING.value, outcome="INTERRUPTED")
        logger.warning(
            "Trial %d interrupted after step %d; the next run of the study resumes it", self.number, self._step
        )

    def finish(self, result: Any = None, exc: BaseException | None = None) -> TrialState:
        """End this run: decide the trial's state from the objective's outcome and write it."""
        if self._finished:
            raise RuntimeError(f"trial {self.number} is already finished")
        self._finished = True
        metrics: dict[str, float] | None = None
        ended = end_state(
            exc,
            self._decision,
            budget_stop=self._budget_stop,
            step=self._step,
            max_steps=self.max_steps,
            has_checkpoint=self._checkpoint_id is not None,
            reason=self._reason,
        )
        if ended is not None:
            state, error = ended
        else:
            names = list(self._host.directions)
            state, metrics, error = final_metrics(result, self._metrics, names, self.energy_kwh)
        unused = [n for n in self._fixed if n not in self._params]
        if unused and state != TrialState.FAILED:
            logger.warning(
                "Trial %d: the objective never suggested the enqueued parameter(s) %s (misspelt?)",
                self.number,
                ", ".join(map(repr, unused)),
            )
        tb = None
        if state == TrialState.FAILED:
            logger.warning("Trial %d failed: %s", self.number, error)
            if exc is not None:
                tb = "".join(traceback.format_exception(exc))
                logger.info("Trial %d traceback:\n%s", self.number, tb.rstrip())
        self._write(state=state.value, metrics=metrics, error=error, traceback=tb, outcome=state.value)
        return state


def _given(name: str, value: Any, dist: Distribution) -> Any:
    """An enqueued ``value`` of parameter ``name`` as ``dist`` holds it (1 for a float is 1.0, 8.0 for an int is
    8); a SpaceError naming the parameter, the value and the range when it is outside."""
    held = value
    if isinstance(dist, FloatDistribution) and isinstance(value, int) and not isinstance(value, bool):
        held = float(value)
    elif isinstance(dist, IntDistribution) and isinstance(value, float) and value.is_integer():
        held = int(value)
    if not dist.contains(held):
        raise SpaceError(
            f"enqueued parameter {name!r}={value!r} is outside the objective's range {describe_distribution(dist)}"
        )
    return held
