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

Reports are buffered and written at most about once a second, at decision points and at the end, so reporting
every step stays cheap; ``state`` is serialised only when the scheduler needs it.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from itero.exceptions import ArtifactError, SpaceError
from itero.space import (
    CategoricalChoice,
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    apply_override,
    check_compatible,
)
from itero.store import RunCost, dump_state, load_state
from itero.tracking import session_datasets, version_of
from itero.trial._frozen import CONSTRAINTS_KEY, FrozenTrial, TrialCost
from itero.trial._state import TrialState

if TYPE_CHECKING:
    from itero.executors._context import RunContext
    from itero.tracking import DatasetVersion

logger = logging.getLogger("itero")

_MISSING = object()
ENERGY_METRIC = "energy_kwh"  # an objective of this name is filled with the trial's measured energy
_FLUSH_SECONDS = float(os.environ.get("ITERO_FLUSH_SECONDS", "1.0"))


class Trial:
    """One run of one trial, inside a worker. Created by itero; objectives only call its methods."""

    def __init__(
        self,
        ctx: RunContext,
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
    ) -> None:
        self._ctx = ctx
        self.id = trial_id
        self.number = number
        self._params: dict[str, Any] = dict(params or {})
        self._distributions: dict[str, Distribution] = dict(distributions or {})
        self._params_dirty = False
        self._tuned: set[str] = set()  # parameters recorded by the objective (record_param), not suggested
        self._start_step = start_step
        self._step = start_step
        self._checkpoint_id = checkpoint_id
        self.restored_from = checkpoint_id  # the checkpoint this run started from (its own or a donor's)
        self.parent_id = parent_id
        self._metrics: dict[str, float] = dict(metrics or {})
        self._pending: list[tuple[int, dict[str, float]]] = []
        # A resumed trial keeps its earlier reports: schedulers tell from them which rungs it already passed.
        self._reports: dict[int, dict[str, float]] = {s: m for s, m in (reports or {}).items() if s <= start_step}
        self._user_attrs: dict[str, Any] = dict(user_attrs or {})  # a resumed trial keeps its earlier ones
        self._user_attrs_dirty = False
        self._last_flush = 0.0
        self._flushed_step = start_step
        self._t0 = time.perf_counter()
        self._s0 = ctx.meter.sample()
        self._t_flushed, self._s_flushed = self._t0, self._s0
        self._energy_before = energy_j  # what earlier runs of this trial used (for the energy_kwh metric)
        self._energy_run = 0.0  # written so far by this run
        self._datasets: dict[str, str] = dict(datasets or {})
        self._datasets_dirty = False
        for version in session_datasets().values():
            self.track_dataset(version.name, version)
        self._started_at = time.time()
        self._decision = "CONTINUE"
        self._budget_stop = False
        self._joint: dict[str, Any] | None = None
        self._restored = False
        self.max_steps: int | None = ctx.scheduler.max_steps
        self._finished = False
        self.wrote_checkpoint = False
        self._warm: tuple[int, int, dict[str, Any]] | None = None
        self._constraints: list[float] = []
        self._constraints_dirty = False  # set_constraints was called since the last write

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
        ctx = self._ctx
        override = ctx.space.get(name)
        if override is not None:
            dist = apply_override(name, dist, override)
        if name in self._distributions:
            check_compatible(name, self._distributions[name], dist)
            return self._params[name]
        if name in self._params:  # fixed by the caller (a clone's params, ask(fixed=...), tell of a retried trial)
            value = self._params[name]
        elif name in ctx.fixed:
            value = ctx.fixed[name]
            if not dist.contains(value):
                raise SpaceError(
                    f"fixed parameter {name!r}={value!r} is outside its range {dist}; "
                    f"widen the range with space: {{{name}: ...}} or fix another value"
                )
        else:
            history = ctx.scheduler.sampler_view(ctx.cache.history)
            if self._joint is None:
                self._joint = ctx.sampler.sample_joint(history, self.snapshot()) or {}
            value = self._joint.get(name, _MISSING)
            if value is _MISSING or not dist.contains(value):
                # Not in the joint proposal, or proposed for an older range of this parameter.
                value = ctx.sampler.sample(history, self.snapshot(), name, dist)
            if not dist.contains(value):
                raise SpaceError(f"sampler {ctx.sampler.name!r} proposed {value!r} for {name!r}, outside {dist}")
        self._params[name] = value
        self._distributions[name] = dist
        self._params_dirty = True
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
        self._params_dirty = True

    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-serialisable value to the trial (shown by ``itero show``)."""
        self._user_attrs[key] = value
        self._user_attrs_dirty = True

    def set_constraints(self, values: Sequence[float]) -> None:
        """Record the trial's constraint values: it is feasible when every value is <= 0 (Optuna's
        ``constraints_func`` convention). Infeasible trials stay out of ``study.best_trial`` and
        ``study.pareto_front()``, and the samplers steer away from them (TPE counts them among the bad trials,
        NSGA-II ranks them by constrained domination). Call it again to replace the values.

            mem_gb = peak_memory_gb(model)
            trial.set_constraints([mem_gb - 4.0, latency_ms - 20.0])   # at most 4 GB and 20 ms
        """
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
            raise TypeError(
                f"set_constraints: expected a list of numbers, got {type(values).__name__} {_short(values)}"
            )
        clean = []
        for i, v in enumerate(values):
            if isinstance(v, bool) or not (isinstance(v, (int, float)) or _is_scalar_tensor(v)):
                raise TypeError(f"set_constraints: value {i} must be a number, got {type(v).__name__} {_short(v)}")
            x = float(v)
            if not math.isfinite(x):
                raise ValueError(f"set_constraints: value {i} is {x}; constraint values must be finite")
            clean.append(x)
        self._constraints = clean
        self._constraints_dirty = True

    @property
    def constraints(self) -> list[float]:
        """The constraint values set in this run (empty when none)."""
        return list(self._constraints)

    # ------------------------------------------------------------------ state and steps
    def track_dataset(self, name: str, data: Any) -> DatasetVersion:
        """Record the version of dataset ``name`` this trial uses (see ``itero.track_dataset``)."""
        version = version_of(name, data)
        if self._datasets.get(name) != version.digest:
            self._datasets[name] = version.digest
            self._datasets_dirty = True
        key = (name, version.digest)
        if key not in self._ctx.recorded_datasets:
            self._ctx.store.record_datasets(self._ctx.study_id, [(name, version.digest, version.kind, version.info)])
            self._ctx.recorded_datasets.add(key)
        return version

    @property
    def datasets(self) -> dict[str, str]:
        """``{dataset name: content digest}`` of the datasets this trial tracked."""
        return dict(self._datasets)

    def energy_kwh(self) -> float:
        """Energy this trial has used so far, over all its runs (kWh)."""
        return (self._energy_before + self._energy_run + self._unflushed_joules()) / 3.6e6

    def _unflushed_joules(self) -> float:
        meter = self._ctx.meter
        return meter.joules(self._s_flushed, meter.sample()) if meter.enabled else 0.0

    def restore(self) -> Any:
        """The state to resume from: this trial's own checkpoint, a donor's for a clone, a matching trial's
        when the study shares weights, or None."""
        if self._checkpoint_id is None:
            return self._warm_start()
        _trial_id, _step, data = self._ctx.store.load_checkpoint(self._checkpoint_id)
        self._restored = True
        return load_state(data)

    def _warm_start(self) -> Any:
        """With ``share_weights=[names]``: start a fresh trial from the checkpoint of the best trial whose
        parameters ``names`` (those that shape the model) equal this one's, from that checkpoint's step."""
        keys = self._ctx.share_weights
        if not keys or self._start_step or self._restored or self._step:
            return None
        if any(k not in self._params for k in keys):
            missing = [k for k in keys if k not in self._params]
            logger.debug("trial %d: no shared weights, %s not suggested before restore()", self.number, missing)
            return None
        history = self._ctx.cache.history
        key = [self._params[k] for k in keys]
        matches = [
            t
            for t in history.trials
            if t.checkpoint_id is not None and t.id != self.id and [t.params.get(k) for k in keys] == key
        ]
        matches.sort(key=lambda t: (_loss_or_inf(history, t), -t.step))
        for donor in matches[:3]:
            assert donor.checkpoint_id is not None
            try:
                _tid, step, data = self._ctx.store.load_checkpoint(donor.checkpoint_id)
            except (LookupError, ArtifactError):  # collected in the meantime: try the next match
                continue
            if self.max_steps is not None and step >= self.max_steps:
                continue
            self._start_step = self._step = self._flushed_step = step
            self._checkpoint_id = donor.checkpoint_id
            self.parent_id = donor.id
            self.restored_from = donor.checkpoint_id
            self._restored = True
            self._warm = (donor.id, donor.checkpoint_id, {"shared_from": donor.number, "from_step": step})
            logger.info("Trial %d starts from trial %d's weights at step %d", self.number, donor.number, step)
            return load_state(data)
        return None

    @property
    def start_step(self) -> int:
        """The step this run starts after (0 for a fresh start)."""
        return self._start_step

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
        if self._params_dirty:
            # Publish the parameters before training so that peers' samplers see this trial as running there
            # (TPE's constant liar).
            self._flush()
        step = self._start_step
        while step < cap:
            if self._decision != "CONTINUE":
                return
            unflushed = self._unflushed_joules() if self._ctx.budget.max_energy_j is not None else 0.0
            if not self._ctx.take_step(unflushed):
                self._budget_stop = True
                return
            step += 1
            yield step
            self._step = max(self._step, step)

    # ------------------------------------------------------------------ reports
    def report(self, step: int, metrics: Mapping[str, Any], state: Any = None) -> None:
        """Record ``metrics`` at ``step``; ``state`` (a value or a zero-argument callable) is serialised only
        when the scheduler needs a checkpoint here."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"report step must be an integer >= 0, got {step!r}")
        if not isinstance(metrics, Mapping):
            raise TypeError(f"report metrics must be a dict of name to number, got {type(metrics).__name__}")
        clean = _clean_metrics(metrics, where="report")
        if ENERGY_METRIC in self._ctx.directions and ENERGY_METRIC not in clean:
            clean[ENERGY_METRIC] = self.energy_kwh()
        self._metrics.update(clean)
        self._reports[step] = clean
        self._pending.append((step, clean))
        self._step = max(self._step, step)
        ctx = self._ctx
        snap = self.snapshot()
        decision = ctx.scheduler.decide(ctx.cache.history, snap, step, can_pause=state is not None).value
        if decision == "PAUSE" and self.max_steps is not None and step >= self.max_steps:
            decision = "CONTINUE"  # the trial's last step: it completes instead
        wants = decision == "PAUSE" or ctx.scheduler.wants_checkpoint(ctx.cache.history, snap, step)
        checkpoint = None
        data = b""
        if wants and state is not None:
            value = state() if callable(state) else state
            data = dump_state(value)
            digest, size = ctx.store.save_checkpoint_data(data)
            checkpoint = (step, digest, size)
        if decision == "PAUSE" and checkpoint is None:
            decision = "STOP"  # no state to resume from: stop in place instead of pausing
        self._decision = decision
        now = time.perf_counter()
        if checkpoint is not None or decision != "CONTINUE" or now - self._last_flush >= _FLUSH_SECONDS:
            self._flush(checkpoint=checkpoint)
        if checkpoint is not None:
            ctx.store.artifacts.restore(checkpoint[1], data)

    def _flush(
        self,
        *,
        state: str | None = None,
        checkpoint: tuple[int, str, int] | None = None,
        metrics: Mapping[str, float] | None = None,
        error: str | None = None,
        outcome: str | None = None,
    ) -> None:
        ctx = self._ctx
        now, sample = time.perf_counter(), ctx.meter.sample()
        energy = ctx.meter.joules(self._s_flushed, sample)
        co2 = energy / 3.6e6 * ctx.grams_per_kwh
        cost = (self._step - self._flushed_step, now - self._t_flushed, sample.cpu - self._s_flushed.cpu, energy, co2)
        self._energy_run += energy
        run = None
        if outcome is not None:
            run = RunCost(
                self._start_step,
                self._step,
                now - self._t0,
                sample.cpu - self._s0.cpu,
                self._started_at,
                outcome,
                energy_j=self._energy_run,
                co2_g=self._energy_run / 3.6e6 * ctx.grams_per_kwh,
                energy_method=ctx.meter.method,
            )
        ck_id = self._ctx.store.write_trial(
            self._ctx.study_id,
            self.id,
            state=state,
            params=self._params if self._params_dirty else None,
            distributions={k: d.to_dict() for k, d in self._distributions.items()} if self._params_dirty else None,
            metrics=metrics if metrics is not None else (self._metrics if self._pending else None),
            step=self._step,
            reports_=self._pending,
            error=error,
            user_attrs=self._user_attrs if self._user_attrs_dirty else None,
            cost=cost,
            run=run,
            worker_id=self._ctx.worker_id,
            checkpoint=checkpoint,
            warm_start=self._warm,
            datasets=self._datasets if self._datasets_dirty else None,
            system_attrs={CONSTRAINTS_KEY: self._constraints} if self._constraints_dirty else None,
        )
        self._warm = None
        self._constraints_dirty = False
        if ck_id is not None:
            self._checkpoint_id = ck_id
            self.wrote_checkpoint = True
        self._pending = []
        self._params_dirty = self._user_attrs_dirty = self._datasets_dirty = False
        self._flushed_step = self._step
        self._t_flushed, self._s_flushed = now, sample
        self._last_flush = now

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
        self._flush(state=TrialState.WAITING.value, outcome="INTERRUPTED")
        logger.warning(
            "Trial %d interrupted after step %d; the next run of the study resumes it", self.number, self._step
        )

    def finish(self, result: Any = None, exc: BaseException | None = None) -> TrialState:
        """End this run: decide the trial's state from the objective's outcome and write it."""
        from itero.exceptions import TrialPruned

        if self._finished:
            raise RuntimeError(f"trial {self.number} is already finished")
        self._finished = True
        names = list(self._ctx.directions)
        metrics: dict[str, float] | None = None
        error = None
        if exc is not None:
            if isinstance(exc, TrialPruned):
                state = TrialState.PRUNED
                error = str(exc) or None
            else:
                state = TrialState.FAILED
                error = f"{type(exc).__name__}: {exc}"
        elif self._decision == "PAUSE":
            state = TrialState.PAUSED
        elif self._decision == "STOP":
            state = TrialState.PRUNED
        elif self._budget_stop and self._step < (self.max_steps or 0):
            state = TrialState.PAUSED if self._checkpoint_id is not None else TrialState.PRUNED
            error = "stopped when the study's budget ran out"
        else:
            state, metrics, error = self._final_metrics(result, names)
        if state == TrialState.FAILED:
            logger.warning("Trial %d failed: %s", self.number, error)
        self._flush(state=state.value, metrics=metrics, error=error, outcome=state.value)
        return state

    def _final_metrics(self, result: Any, names: list[str]) -> tuple[TrialState, dict[str, float] | None, str | None]:
        if result is None:
            metrics = dict(self._metrics)
        elif isinstance(result, Mapping):
            try:
                metrics = {**self._metrics, **_clean_metrics(result, where="returned metrics")}
            except (TypeError, ValueError) as exc:
                return TrialState.FAILED, None, str(exc)
        elif (isinstance(result, (int, float)) and not isinstance(result, bool)) or _is_scalar_tensor(result):
            if len(names) != 1:
                return (
                    TrialState.FAILED,
                    None,
                    (
                        f"the objective returned a single number but the study has {len(names)} objectives "
                        f"({', '.join(names)}); return a dict of metrics"
                    ),
                )
            metrics = {**self._metrics, names[0]: float(result)}
        else:
            return (
                TrialState.FAILED,
                None,
                (
                    f"the objective returned {type(result).__name__} {_short(result)}; expected None (its last "
                    f"reports count), a dict of metrics, or a number (single objective)"
                ),
            )
        if ENERGY_METRIC in names and ENERGY_METRIC not in metrics:
            metrics[ENERGY_METRIC] = self.energy_kwh()
        missing = [n for n in names if n not in metrics]
        if missing:
            return (
                TrialState.FAILED,
                metrics,
                (
                    f"objective metric {missing[0]!r} was neither reported nor returned "
                    f"(got {sorted(metrics) or 'no metrics'})"
                ),
            )
        bad = [n for n in names if not math.isfinite(metrics[n])]
        if bad:
            return TrialState.FAILED, metrics, f"objective metric {bad[0]!r} is {metrics[bad[0]]}"
        return TrialState.COMPLETE, metrics, None


def _loss_or_inf(history: Any, trial: FrozenTrial) -> float:
    try:
        value = history.loss(trial)
    except (KeyError, TypeError, ValueError):
        return math.inf
    return value if math.isfinite(value) else math.inf


def _is_scalar_tensor(x: Any) -> bool:
    return hasattr(x, "item") and getattr(x, "ndim", 1) == 0


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _clean_metrics(metrics: Mapping[str, Any], where: str) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        if not isinstance(key, str):
            raise TypeError(f"{where}: metric names must be strings, got {key!r}")
        if isinstance(value, bool) or not (isinstance(value, (int, float)) or _is_scalar_tensor(value)):
            raise TypeError(f"{where}: metric {key!r} must be a number, got {type(value).__name__} {_short(value)}")
        out[key] = float(value)
    return out
