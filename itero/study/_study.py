"""The study: a named search whose trials live in the store; its results, and ask and tell.

>>> import itero
>>> def objective(trial):
...     x = trial.suggest_float("x", -10, 10)
...     return (x - 2) ** 2
>>> study = itero.create_study(
...     "quadratic", storage="sqlite://", objectives={"loss": "minimize"}, sampler={"name": "tpe", "seed": 0}
... )
>>> study.optimize(objective, n_trials=20, show_progress=False)
>>> round(study.best_trial.params["x"])
2
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from itero._hypervolume import hypervolume
from itero.exceptions import ArtifactError, BudgetSpentError, DataVersionWarning
from itero.executors import Budget, ClockMeter, RunContext, RunHost, Trial, is_queued
from itero.samplers import BaseSampler
from itero.schedulers import BaseScheduler
from itero.space import Distribution
from itero.store import RunFull, Store, StudyBudget, TrialRunRecord, load_state, public_url
from itero.store._cache import StudyCache
from itero.study import _narrow, _steer
from itero.study._budget import set_budget
from itero.study._optimize import optimize
from itero.study._pareto import non_dominated
from itero.study._records import DatasetRecord, EnvironmentRecord, StudyTotals
from itero.tracking import EnergyMeter, capture_environment, compare_versions, intensity
from itero.trial import FrozenTrial, History, TrialState


class Study:
    """A named search: its objectives, sampler, scheduler and trials, all kept in ``store``."""

    def __init__(
        self,
        store: Store,
        name: str,
        study_id: int,
        directions: dict[str, str],
        sampler: BaseSampler,
        scheduler: BaseScheduler,
        params: Mapping[str, Any] | None = None,
        space: Mapping[str, Distribution] | None = None,
        share_weights: tuple[str, ...] = (),
        tracking: bool = True,
        region: str = "world",
    ) -> None:
        self.store = store
        self.name = name
        self.id = study_id
        self.directions = dict(directions)
        self.sampler = sampler
        self.scheduler = scheduler
        self.params = dict(params or {})
        self.space = dict(space or {})
        self.share_weights = tuple(share_weights)
        self.tracking = tracking
        self.region = region
        self._cache = StudyCache(store, study_id, name, self.directions)
        self._ask_host: RunHost | None = None
        self._asked: dict[int, Trial] = {}
        # ``load_study``, set by it and by ``create_study``: how a peer on a cluster opens this study again.
        self._reopen: Callable[..., Study] | None = None

    def __repr__(self) -> str:
        return f"Study({self.name!r}, objectives={self.directions}, storage={self.storage_url!r})"

    # ------------------------------------------------------------------ results
    @property
    def history(self) -> History:
        return self._cache.refresh()

    def refresh(self) -> int:
        """Read what changed in the store since the last read; return the study's ``version`` (the same number
        again when nothing was written meanwhile).

            version = study.refresh()
        """
        self._cache.refresh()
        return self._cache.version

    @property
    def version(self) -> int:
        """A number that grows with every write to the study (trials, reports), as of the last read: a live view
        redraws only when it changed."""
        return self._cache.version

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial, in order of number."""
        return list(self.history.trials)

    @property
    def best_trial(self) -> FrozenTrial:
        """The best feasible COMPLETE trial (single objective; the earliest one on ties). Trials whose
        constraints (``trial.set_constraints``) are violated never count."""
        history = self.history
        if history.is_multi_objective:
            raise ValueError(
                f"study {self.name!r} has {len(self.directions)} objectives ({', '.join(self.directions)}); "
                "there is no single best trial: use study.pareto_front()"
            )
        done = history.completed()
        if not done:
            raise ValueError(f"study {self.name!r} has no COMPLETE trial yet")
        feasible = [t for t in done if t.is_feasible]
        if not feasible:
            raise ValueError(
                f"study {self.name!r} has no feasible COMPLETE trial yet (every one violates a constraint)"
            )
        _warn_data_versions(self.name, feasible)
        return min(feasible, key=history.loss)

    @property
    def best_value(self) -> float:
        return self.best_trial.metrics[next(iter(self.directions))]

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    def restore(self, trial: FrozenTrial | int | None = None) -> Any:
        """The state ``trial`` (a trial or its number; default the best trial) gave at its kept checkpoint, as
        the objective gave it to ``trial.report(..., state=...)``: the best trial, and each trial of the Pareto
        front, keeps its last step's, so its weights need no retraining.

            weights = study.restore()                       # the best trial's state dict
            model.load_state_dict(weights["model"])
        """
        t = self.best_trial if trial is None else trial
        if isinstance(t, int):
            found = [x for x in self.history.trials if x.number == t]
            if not found:
                raise ValueError(f"study {self.name!r} has no trial {t}")
            t = found[0]
        why = (
            f"trial {t.number} of study {self.name!r} ({t.state.value}) kept no checkpoint: a trial keeps its last "
            "step's state when it reports its objectives with a state there (trial.report(step, metrics, "
            "state=...)) and is the best or on the front when it ends, until it no longer is"
        )
        if t.checkpoint_id is None:
            raise ArtifactError(why)
        try:
            owner, _step, data = self.store.load_checkpoint(t.checkpoint_id)
        except LookupError:  # collected when the trial stopped being best
            raise ArtifactError(why) from None
        if owner != t.id:  # a clone's donor checkpoint, not one of its own
            raise ArtifactError(why)
        return load_state(data)

    def pareto_front(self) -> list[FrozenTrial]:
        """The non-dominated feasible COMPLETE trials (for one objective: the best ones)."""
        history = self.history
        done = [t for t in history.completed() if t.is_feasible]
        _warn_data_versions(self.name, done)
        return [done[i] for i in non_dominated([history.losses(t) for t in done])]

    def hypervolume(self, reference: Mapping[str, float] | Sequence[float], method: str = "auto") -> float:
        """Hypervolume of the Pareto front (feasible trials) up to ``reference``, a point in the objectives'
        own units (a mapping by name, or a sequence in the study's objective order); maximised objectives
        count from the reference upwards. ``method``: ``"auto"`` (exact up to 3 objectives and for small
        fronts, a quasi-Monte Carlo estimate beyond), ``"exact"`` or ``"monte_carlo"``. See
        :func:`itero._hypervolume.hypervolume`.

            study.hypervolume({"val_acc": 0.5, "flops": 2e6})   # the region better than 50% and 2 MFLOPs
        """
        names = list(self.directions)
        if isinstance(reference, Mapping):
            missing = [n for n in names if n not in reference]
            if missing or len(reference) != len(names):
                raise ValueError(
                    f"hypervolume: reference must give a value for each objective {names}, got {reference!r}"
                )
            ref = [float(reference[n]) for n in names]
        else:
            ref = [float(v) for v in reference]
            if len(ref) != len(names):
                raise ValueError(f"hypervolume: reference needs {len(names)} values ({', '.join(names)}), got {ref}")
        history = self.history
        signs = history.directions_signs
        return hypervolume(
            [history.losses(t) for t in self.pareto_front()],
            [s * r for s, r in zip(signs, ref, strict=True)],
            method=method,
        )

    def data_versions(self) -> list[DatasetRecord]:
        """Every version of every dataset the study's trials tracked, with the trial numbers that used it."""
        used: dict[tuple[str, str], list[int]] = {}
        for t in self.history.trials:
            for name, digest in t.datasets.items():
                used.setdefault((name, digest), []).append(t.number)
        return [
            DatasetRecord(r.name, r.digest, r.kind, r.info, r.created_at, used.get((r.name, r.digest), []))
            for r in self.store.datasets(self.id)
        ]

    def data_warnings(self) -> list[str]:
        """One line per dataset whose trials saw different versions (empty when all saw the same data)."""
        return compare_versions(self.history.trials)

    def environments(self) -> list[EnvironmentRecord]:
        """The environments the study's workers ran in, each with the trial numbers whose runs used it."""
        by_worker: dict[int, set[int]] = {}
        numbers = {t.id: t.number for t in self.history.trials}
        for run in self.runs():
            if run.worker_id is not None and run.trial_id in numbers:
                by_worker.setdefault(run.worker_id, set()).add(numbers[run.trial_id])
        out = []
        for env in self.store.environments(self.id):
            trials: set[int] = set()
            for w in env.worker_ids:
                trials |= by_worker.get(w, set())
            out.append(EnvironmentRecord(env.id, env.info, len(env.worker_ids), sorted(trials)))
        return out

    def runs(self) -> list[TrialRunRecord]:
        """Every run of every trial, oldest first: a trial has one run per start or resume, each with its steps
        (``start_step`` to ``end_step``), ``outcome`` and cost (wall and CPU seconds, energy, CO₂)."""
        return self.store.trial_runs(self.id)

    @property
    def config(self) -> dict[str, Any]:
        """The study's stored settings, as every peer rebuilds the study from them: ``sampler`` and
        ``scheduler`` specs, fixed ``params``, ``space`` overrides, ``share_weights``, ``tracking``, ``region``, and
        the parameters a person ``narrowed`` mid-study (``narrow``)."""
        return self.store.get_study(self.name).config

    @property
    def created_at(self) -> float:
        """When the study was created (Unix seconds)."""
        return self.store.get_study(self.name).created_at

    @property
    def storage_url(self) -> str:
        """The URL of the study's store with its password hidden (safe to print)."""
        return public_url(self.store.url)

    def totals(self) -> StudyTotals:
        history = self.history
        return StudyTotals(
            trials=len(history),
            finished=sum(1 for t in history.trials if t.state.is_finished()),
            steps=self._cache.steps_spent,
            wall_seconds=self._cache.wall_seconds,
            cpu_seconds=self._cache.cpu_seconds,
            run_seconds=self.store.run_seconds(self.id),
            checkpoint_bytes=self.store.checkpoint_bytes(self.id),
            energy_j=self._cache.energy_j,
            co2_g=self._cache.co2_g,
            region=self.region,
        )

    # ------------------------------------------------------------------ optimize
    optimize = optimize  # defined in itero/study/_optimize.py
    set_budget = set_budget  # defined in itero/study/_budget.py

    # ------------------------------------------------------------------ the expert in the loop (itero/study/_steer.py)
    enqueue = _steer.enqueue
    stop_trial = _steer.stop_trial
    pause_trial = _steer.pause_trial
    resume_trial = _steer.resume_trial
    set_trial_note = _steer.set_trial_note
    add_trial_tag = _steer.add_trial_tag
    remove_trial_tag = _steer.remove_trial_tag
    actions = _steer.actions
    narrow = _narrow.narrow
    widen = _narrow.widen

    @property
    def narrowed(self) -> dict[str, _narrow.Narrowing]:
        """The parameters a person narrowed or pinned mid-study (``narrow``), by name."""
        return _narrow.narrowed(self)

    @property
    def budget(self) -> StudyBudget:
        """The study's budget (``set_budget``; the YAML ``budget:``) and how much of it is taken."""
        return self.store.get_budget(self.id)

    def _context(self, store: Store, cache: StudyCache, budget: Budget, simulated: bool = False) -> RunContext:
        """What a worker of this study needs: its parts, the store it writes to (whose clock it keeps) and the
        run's budget. A ``simulated`` worker (on a ``FakeClock``) measures no energy, captures no environment
        and writes every report at once."""
        if simulated:
            return RunContext(
                **self._parts(store, cache, budget),
                tracking=False,
                meter=ClockMeter(store.clock),
                flush_seconds=0.0,
            )
        return RunContext(
            **self._parts(store, cache, budget),
            tracking=self.tracking,
            meter=EnergyMeter.detect(self.tracking),
            grams_per_kwh=intensity(self.region).grams_per_kwh if self.tracking else 0.0,
        )

    def _parts(self, store: Store, cache: StudyCache, budget: Budget) -> dict[str, Any]:
        return {
            "store": store,
            "study_id": self.id,
            "study_name": self.name,
            "directions": self.directions,
            "sampler": self.sampler,
            "scheduler": self.scheduler,
            "cache": cache,
            "fixed": self.params,
            "space": self.space,
            "budget": budget,
            "share_weights": self.share_weights,
            "clock": store.clock,
        }

    # ------------------------------------------------------------------ ask and tell
    def ask(self, fixed: Mapping[str, Any] | None = None) -> Trial:
        """Start a trial for a loop you drive yourself; finish it with ``tell``. An enqueued trial
        (``enqueue``) is handed out first, with its parameters (``fixed`` ones take precedence).

        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        study.tell(trial, {"loss": (x - 0.3) ** 2})
        """
        if self._ask_host is None:
            ctx = self._context(self.store, self._cache, Budget())
            environment = capture_environment(energy=self.tracking) if self.tracking else None
            ctx.worker_id = self.store.register_worker(self.id, environment)
            self._ask_host = RunHost(ctx)
        for t in self._cache.refresh().with_state(TrialState.WAITING):
            if is_queued(t) and self.store.claim_trial(self.id, t.id, ["WAITING"], self._ask_host.worker_id):
                trial = Trial(self._ask_host, t.id, t.number, params=fixed, fixed=t.enqueued)
                self._asked[t.number] = trial
                return trial
        try:
            trial_id, number = self.store.create_trial(self.id, worker_id=self._ask_host.worker_id)
        except RunFull:
            budget = self.budget
            raise BudgetSpentError(
                f"study {self.name!r}: its {budget.max_trials} trials are all started (the study's budget); "
                "raise it with study.set_budget(trials=...)"
            ) from None
        trial = Trial(self._ask_host, trial_id, number, params=fixed)
        self._asked[number] = trial
        return trial

    def tell(
        self,
        trial: Trial | int,
        values: float | Mapping[str, float] | None = None,
        state: TrialState | str | None = None,
    ) -> FrozenTrial:
        """Finish an asked trial with its metrics (or a float for one objective), or with ``state`` PRUNED or
        FAILED. Returns the stored trial."""
        from itero.exceptions import TrialPruned

        number = trial.number if isinstance(trial, Trial) else trial
        live = self._asked.pop(number, None)
        if live is None:
            raise ValueError(f"trial {number} of study {self.name!r} was not asked in this process or is told")
        st = TrialState(state) if state is not None else None
        if st == TrialState.PRUNED:
            live.finish(exc=TrialPruned())
        elif st == TrialState.FAILED:
            live.finish(exc=RuntimeError("told FAILED"))
        elif st not in (None, TrialState.COMPLETE):
            raise ValueError(f"tell: state must be COMPLETE, PRUNED or FAILED, got {state!r}")
        else:
            live.finish(values)
        frozen = self._cache.refresh().get(live.id)
        assert frozen is not None
        return frozen


def _warn_data_versions(name: str, trials: Sequence[FrozenTrial]) -> None:
    for line in compare_versions(trials):
        warnings.warn(
            f"study {name!r} compares trials that saw different data: {line}", DataVersionWarning, stacklevel=3
        )
