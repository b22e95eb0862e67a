"""Studies: create or load one, optimize an objective, ask and tell, read the results.

>>> import itero
>>> def objective(trial):
...     x = trial.suggest_float("x", -10, 10)
...     return (x - 2) ** 2
>>> study = itero.create_study("quadratic", storage="sqlite://", objectives={"loss": "minimize"})
>>> study.optimize(objective, n_trials=20, show_progress=False)
>>> round(study.best_trial.params["x"])
2
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from itero._hypervolume import hypervolume
from itero._spec import spec_of
from itero.exceptions import ConfigError, DataVersionWarning
from itero.executors import Budget, RunContext, Worker, run_processes
from itero.samplers import BaseSampler, make_sampler
from itero.schedulers import BaseScheduler, make_scheduler
from itero.space import Distribution, parse_space
from itero.store import Store
from itero.store._cache import StudyCache
from itero.study._pareto import non_dominated
from itero.study._progress import StudyProgress
from itero.tracking import EnergyMeter, capture_environment, compare_versions, intensity
from itero.trial import FrozenTrial, History, TrialState
from itero.trial._trial import ENERGY_METRIC, Trial

logger = logging.getLogger("itero")

DEFAULT_STORAGE = "sqlite:///itero.db"
_DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class StudyTotals:
    """What a study has spent so far, over all its optimize runs."""

    trials: int
    finished: int
    steps: int
    wall_seconds: float
    cpu_seconds: float
    run_seconds: float
    checkpoint_bytes: int
    energy_j: float = 0.0
    co2_g: float = 0.0
    region: str = "world"

    @property
    def energy_kwh(self) -> float:
        return self.energy_j / 3.6e6

    @property
    def co2_kg(self) -> float:
        return self.co2_g / 1e3

    @property
    def cpu_hours(self) -> float:
        return self.cpu_seconds / 3600


@dataclass(frozen=True)
class DatasetRecord:
    """One version of a dataset the study's trials used."""

    name: str
    digest: str
    kind: str
    info: dict[str, Any]
    first_seen: float
    trials: list[int]


@dataclass(frozen=True)
class EnvironmentRecord:
    """One environment (Python, packages, git commit, host, CPU, GPU) the study's workers ran in."""

    id: int
    info: dict[str, Any]
    workers: int
    trials: list[int]


def check_objectives(objectives: Any) -> dict[str, str]:
    """Validate ``{metric: "maximize" | "minimize"}``."""
    if objectives is None:
        return {"value": "minimize"}
    if isinstance(objectives, str):
        objectives = {objectives: "minimize"}
    if not isinstance(objectives, Mapping) or not objectives:
        raise ConfigError(f"objectives: expected a mapping of metric name to maximize|minimize, got {objectives!r}")
    out = {}
    for name, direction in objectives.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"objectives: metric names must be non-empty strings, got {name!r}")
        d = str(direction).lower() if isinstance(direction, str) else direction
        if d not in _DIRECTIONS:
            raise ConfigError(f"objectives.{name}: got {direction!r}; expected 'maximize' or 'minimize'")
        out[name] = d
    return out


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
        self._ask_ctx: RunContext | None = None
        self._asked: dict[int, Trial] = {}

    def __repr__(self) -> str:
        return f"Study({self.name!r}, objectives={self.directions}, storage={self.store.url!r})"

    # ------------------------------------------------------------------ results
    @property
    def history(self) -> History:
        return self._cache.refresh()

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
            DatasetRecord(r.name, r.digest, r.kind, json.loads(r.info), r.created_at, used.get((r.name, r.digest), []))
            for r in self.store.datasets(self.id)
        ]

    def data_warnings(self) -> list[str]:
        """One line per dataset whose trials saw different versions (empty when all saw the same data)."""
        return compare_versions(self.history.trials)

    def environments(self) -> list[EnvironmentRecord]:
        """The environments the study's workers ran in, each with the trial numbers whose runs used it."""
        by_worker: dict[int, set[int]] = {}
        numbers = {t.id: t.number for t in self.history.trials}
        for run in self.store.trial_runs(self.id):
            if run.worker_id is not None and run.trial_id in numbers:
                by_worker.setdefault(run.worker_id, set()).add(numbers[run.trial_id])
        out = []
        for env_id, info, worker_ids in self.store.environments(self.id):
            trials: set[int] = set()
            for w in worker_ids:
                trials |= by_worker.get(w, set())
            out.append(EnvironmentRecord(env_id, info, len(worker_ids), sorted(trials)))
        return out

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
    def optimize(
        self,
        objective: Callable[[Trial], Any],
        n_trials: int | None = None,
        max_steps_total: int | None = None,
        timeout: float | None = None,
        n_jobs: int = 1,
        show_progress: bool | None = None,
        callbacks: Sequence[Callable[[FrozenTrial], None]] = (),
        max_energy_kwh: float | None = None,
    ) -> None:
        """Run trials until ``n_trials`` more have been started (and finished), ``max_steps_total`` steps have
        been spent in this call, ``max_energy_kwh`` of energy has been used (measured as in ``itero.tracking``;
        trials running when it is reached stop at their next step), or ``timeout`` seconds have passed — the
        first reached. ``n_jobs`` peer worker processes share the work (``-1``: one per core). With no limit at
        all it runs until interrupted."""
        _check_limit("n_trials", n_trials)
        _check_limit("max_steps_total", max_steps_total)
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or timeout <= 0
            or not math.isfinite(timeout)
        ):
            raise ConfigError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
        if max_energy_kwh is not None:
            if (
                isinstance(max_energy_kwh, bool)
                or not isinstance(max_energy_kwh, (int, float))
                or not (max_energy_kwh > 0 and math.isfinite(max_energy_kwh))
            ):
                raise ConfigError(f"max_energy_kwh must be a positive number or None, got {max_energy_kwh!r}")
            if not self.tracking:
                raise ConfigError("max_energy_kwh needs energy tracking, but this study has tracking=False")
        if n_jobs == -1:
            n_jobs = os.cpu_count() or 1
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
            raise ConfigError(f"n_jobs must be an integer >= 1 (or -1 for one per core), got {n_jobs!r}")
        if n_jobs > 1 and self.store.in_memory:
            raise ConfigError(
                f"n_jobs={n_jobs} needs a store the worker processes can share; {self.store.url!r} is in memory: "
                "use a file such as 'sqlite:///itero.db'"
            )
        if not callable(objective):
            raise ConfigError(f"objective must be callable, got {type(objective).__name__}")
        self._cache.refresh()
        steps_at_start = self._cache.steps_spent
        deadline = time.time() + timeout if timeout is not None else None
        max_energy_j = None if max_energy_kwh is None else float(max_energy_kwh) * 3.6e6
        energy_at_start = self._cache.energy_j
        run_id = self.store.create_run(
            self.id, n_trials, max_steps_total, steps_at_start, deadline, max_energy_j, energy_at_start
        )
        budget = Budget(
            run_id=run_id,
            max_steps=max_steps_total,
            deadline=deadline,
            max_energy_j=max_energy_j,
            energy_at_start=energy_at_start,
        )
        progress = StudyProgress(self, n_trials, max_steps_total, timeout, enabled=show_progress)
        try:
            with progress:
                if n_jobs == 1:

                    def on_end(t: FrozenTrial) -> None:
                        progress.update(self._cache)
                        for cb in callbacks:
                            cb(t)

                    watch = on_end if (progress.enabled or callbacks) else None
                    Worker(self._context(self.store, self._cache, budget), objective, watch).run()
                else:
                    if callbacks:
                        raise ConfigError("callbacks run in the worker processes' parent only with n_jobs=1")
                    self._run_parallel(objective, n_jobs, budget, lambda: progress.update(self._cache))
        finally:
            self.store.end_run(run_id)
            self._cache.refresh()

    def _context(self, store: Store, cache: StudyCache, budget: Budget) -> RunContext:
        return RunContext(
            store=store,
            study_id=self.id,
            study_name=self.name,
            directions=self.directions,
            sampler=self.sampler,
            scheduler=self.scheduler,
            cache=cache,
            fixed=self.params,
            space=self.space,
            budget=budget,
            share_weights=self.share_weights,
            tracking=self.tracking,
            meter=EnergyMeter.detect(self.tracking),
            grams_per_kwh=intensity(self.region).grams_per_kwh if self.tracking else 0.0,
        )

    def _run_parallel(
        self, objective: Callable[[Trial], Any], n_jobs: int, budget: Budget, poll: Callable[[], None]
    ) -> None:
        url, root = self.store.url, self.store.artifacts_root

        def make_worker() -> Worker:
            store = Store(url, artifacts=root)  # a fresh connection pool in the child process
            cache = StudyCache(store, self.id, self.name, self.directions)
            return Worker(self._context(store, cache, budget), objective)

        def release(pid: int) -> list[int]:
            released: list[int] = []
            for wid in self.store.workers_of_process(self.id, pid):
                released += self.store.release_trials(self.id, worker_id=wid)
            return released

        def work_left() -> bool:
            history = self._cache.refresh()
            if history.with_state(TrialState.WAITING):
                return True
            ctx = self._context(self.store, self._cache, budget)
            if ctx.budget_exhausted():
                return False
            action = self.scheduler.next(history).action
            if action == "done" or (action == "wait" and not history.with_state(TrialState.RUNNING)):
                return False
            if action != "start":
                return True  # a paused trial to resume, a clone to make or a trial to stop
            assert budget.run_id is not None
            run = self.store.get_run(budget.run_id)
            slots = run.n_trials is None or run.started < run.n_trials
            return slots and not self.sampler.is_exhausted(self.scheduler.sampler_view(history))

        self.store.engine.dispose()  # children must not share the parent's connections
        run_processes(n_jobs, make_worker, release, work_left, poll, max_restarts=3 * n_jobs + 100)

    # ------------------------------------------------------------------ ask and tell
    def ask(self, fixed: Mapping[str, Any] | None = None) -> Trial:
        """Start a trial for a loop you drive yourself; finish it with ``tell``.

        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        study.tell(trial, {"loss": (x - 0.3) ** 2})
        """
        if self._ask_ctx is None:
            self._ask_ctx = self._context(self.store, self._cache, Budget())
            environment = capture_environment(energy=self.tracking) if self.tracking else None
            self._ask_ctx.worker_id = self.store.register_worker(self.id, environment)
        self._cache.refresh()
        trial_id, number = self.store.create_trial(self.id, worker_id=self._ask_ctx.worker_id)
        trial = Trial(self._ask_ctx, trial_id, number, params=fixed)
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


def _check_limit(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{name} must be an integer >= 1 or None, got {value!r}")


def create_study(
    name: str,
    storage: str | Store = DEFAULT_STORAGE,
    objectives: Mapping[str, str] | None = None,
    sampler: Any = "tpe",
    scheduler: Any = "fifo",
    params: Mapping[str, Any] | None = None,
    space: Mapping[str, Any] | None = None,
    load_if_exists: bool = False,
    artifacts: str | None = None,
    share_weights: Sequence[str] | None = None,
    tracking: bool = True,
    region: str | None = None,
) -> Study:
    """Create a study (or, with ``load_if_exists=True``, continue the one of that name).

    ``objectives`` maps metric names to ``"maximize"`` or ``"minimize"`` (default ``{"value": "minimize"}``);
    ``sampler`` and ``scheduler`` take an instance, a name or ``{"name": ..., **options}``; ``params`` fixes
    parameters the objective would otherwise search; ``space`` narrows or replaces their ranges.
    ``share_weights=["width", "depth"]`` starts a new trial from the checkpoint of the best stored trial
    whose parameters of those names (the ones that shape the model) are equal, when its objective calls
    ``trial.restore()`` after suggesting them (off by default).
    ``tracking`` records each worker's environment and each trial run's energy and CO2 (on by default);
    ``region`` is the ISO 3166 country code whose grid carbon intensity converts energy to CO2 (default
    ``$ITERO_REGION`` or ``"world"``, the world average). An objective named ``energy_kwh`` is filled with
    each trial's measured energy.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ConfigError(f"study name must be a non-empty string of at most 255 characters, got {name!r}")
    directions = check_objectives(objectives)
    sampler_obj = make_sampler(sampler)
    scheduler_obj = make_scheduler(scheduler)
    sampler_obj.check_objectives(directions)
    scheduler_obj.check_objectives(directions)
    space_obj = parse_space(space) if space is not None and not _is_parsed(space) else dict(space or {})
    if params is not None and not isinstance(params, Mapping):
        raise ConfigError(f"params: expected a mapping of parameter name to value, got {params!r}")
    shared = _check_names("share_weights", share_weights)
    if not isinstance(tracking, bool):
        raise ConfigError(f"tracking must be true or false, got {tracking!r}")
    region_code = intensity(region or os.environ.get("ITERO_REGION") or "world").region
    if ENERGY_METRIC in directions and (not tracking or directions[ENERGY_METRIC] != "minimize"):
        raise ConfigError(
            f"objective {ENERGY_METRIC!r} is the measured energy: it needs tracking=True and 'minimize', "
            f"got tracking={tracking}, {directions[ENERGY_METRIC]!r}"
        )
    store = storage if isinstance(storage, Store) else Store(storage, artifacts=artifacts)
    config = {
        "sampler": spec_of(sampler_obj),
        "scheduler": spec_of(scheduler_obj),
        "params": dict(params or {}),
        "space": {k: d.to_dict() for k, d in space_obj.items()},
        "share_weights": list(shared),
        "tracking": tracking,
        "region": region_code,
    }
    _check_json(config)
    record = store.create_study(name, directions, config, load_if_exists=load_if_exists)
    if record.directions != directions:
        raise ConfigError(
            f"study {name!r} exists with objectives {record.directions}, not {directions}; "
            "use another study name to change the objectives"
        )
    return Study(
        store, name, record.id, directions, sampler_obj, scheduler_obj, params, space_obj, shared, tracking, region_code
    )


def load_study(
    name: str,
    storage: str | Store = DEFAULT_STORAGE,
    sampler: Any = None,
    scheduler: Any = None,
    artifacts: str | None = None,
) -> Study:
    """Open an existing study; its sampler, scheduler, fixed params and space come from the store unless given."""
    from itero.space import distribution_from_dict

    store = storage if isinstance(storage, Store) else Store(storage, artifacts=artifacts)
    record = store.get_study(name)
    config = record.config
    sampler_obj = make_sampler(sampler if sampler is not None else config.get("sampler", "tpe"))
    scheduler_obj = make_scheduler(scheduler if scheduler is not None else config.get("scheduler", "fifo"))
    space = {k: distribution_from_dict(v) for k, v in config.get("space", {}).items()}
    shared = tuple(config.get("share_weights", ()))
    return Study(
        store,
        name,
        record.id,
        record.directions,
        sampler_obj,
        scheduler_obj,
        config.get("params"),
        space,
        shared,
        bool(config.get("tracking", True)),
        str(config.get("region", "world")),
    )


def _warn_data_versions(name: str, trials: Sequence[FrozenTrial]) -> None:
    for line in compare_versions(trials):
        warnings.warn(
            f"study {name!r} compares trials that saw different data: {line}", DataVersionWarning, stacklevel=3
        )


def _check_names(key: str, names: Any) -> tuple[str, ...]:
    if names is None:
        return ()
    if isinstance(names, str) or not isinstance(names, Sequence) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{key}: expected a list of parameter names, e.g. ['width', 'depth'], got {names!r}")
    return tuple(names)


def _check_json(config: Mapping[str, Any]) -> None:
    """The study's settings are stored as JSON so that any peer rebuilds the same sampler and scheduler."""
    for key, value in config.items():
        items = value.items() if isinstance(value, Mapping) else [("", value)]
        for option, v in items:
            try:
                json.dumps(v, allow_nan=False)
            except (TypeError, ValueError):
                where = f"{key}.{option}" if option else key
                raise ConfigError(
                    f"{where}: {v!r} cannot be stored (options must be JSON values: numbers, strings, lists, "
                    "mappings) so that every worker rebuilds the same study"
                ) from None


def _is_parsed(space: Mapping[str, Any]) -> bool:
    from itero.space import CategoricalDistribution, FloatDistribution, IntDistribution

    return all(isinstance(v, (FloatDistribution, IntDistribution, CategoricalDistribution)) for v in space.values())
