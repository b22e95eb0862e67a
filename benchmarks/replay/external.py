"""Syne Tune and DEHB on the replay tables, each through its own public API, in their own environment.

    bash benchmarks/replay/setup_peers.sh                                   # once: benchmarks/replay/.venv-peers
    python benchmarks/replay/run.py --tasks friedman-mlp --methods syne-asha dehb --seeds 5
    benchmarks/replay/.venv-peers/bin/python benchmarks/replay/external.py \\
        --table benchmarks/replay/tables/friedman-mlp.jsonl.gz --method syne-mobster --seed 0 --workers 4 --budget 100

Syne Tune 0.13 (the last release with MOBSTER, Hyper-Tune and DyHPO) and DEHB 0.1.2 need numpy < 2, which
itero does not support, so they run in ``benchmarks/replay/.venv-peers`` (``setup_peers.sh``; not in ``[dev]``,
not in CI). This file has two halves:

- run by that environment's Python (``main``): the adapters. It loads the table with itero's own loader and
  replays it with ``simulate.Replay`` (numpy and ``itero.space`` only), so a proposal maps to a table row exactly
  as for itero (``RowIndex``) and a trial's training seed is ``Replay.seed_of(trial key)``. It prints the run's
  ``Trace`` as one JSON object on stdout.
- imported by ``run.py`` in itero's environment (``run_external``): runs that as a subprocess and rebuilds the
  ``Trace``, which ``score.py`` scores like any other method's.

How each method is driven:

- ``syne-asha``, ``syne-bohb``, ``syne-mobster``, ``syne-hypertune``, ``syne-dyhpo``: the baselines of
  ``syne_tune.optimizer.baselines`` (``ASHA``, ``BOHB``, ``MOBSTER``, ``HyperTune``, ``DyHPO``) with their default
  arguments, built as Syne Tune's own simulated benchmarks build them (``config_space`` with a
  ``max_resource_attr``, ``metric``, ``mode``, ``resource_attr``, ``random_seed``), run by ``Tuner`` with
  ``n_workers`` workers on a ``UserBlackboxBackend`` over a ``Blackbox`` that answers a configuration with its
  table row's curve and the cumulative recorded step seconds as ``elapsed_time``, plus ``SimulatorCallback``.
  Three departures from the stock simulator, all about time, none about decisions: (1) the scheduler's own
  computation is not added to the simulated clock (the stock backend adds the real seconds spent outside it,
  which makes a run depend on the machine's speed and load); (2) when every worker is busy the clock jumps to
  the next event instead of advancing by a fixed ``tuner_sleep_time`` (the default, 5 s, is hundreds of steps
  here), and the simulator's fixed delays are 0; (3) times are handed to Syne Tune in milliseconds, so that its
  hard-coded minimum of 0.01 between two results and 0.001 per stop are negligible against steps of ~20 ms.
  ASHA, BOHB, MOBSTER and Hyper-Tune run in their default ``type="stopping"`` (a trial is started once and
  stopped at a rung, never resumed); DyHPO pauses and resumes: the backend resumes a paused trial from its
  checkpoint (``support_checkpointing=True``) and a resume is charged the table's ``load_seconds``, both on the
  clock and in the compute. A trial whose row diverged at step ``k`` reports steps ``1..k-1`` and then fails
  (``Status.failed``) when step ``k`` ends, as a training script that raises on a NaN loss does; step ``k`` is
  charged.
- ``dehb``: ``dehb.DEHB`` (``min_fidelity=1``, ``max_fidelity=max_steps``, ``eta=3``, a ConfigSpace space built
  from the table's) through ``ask`` and ``tell``, with ``n_workers`` simulated workers on an event queue (DEHB's
  own parallel mode starts Dask processes; its ask/tell interface is the one made for other schedulers). An
  evaluation at fidelity ``b`` trains ``round(b)`` steps from scratch (DEHB does not resume), its ``cost`` is
  their recorded seconds and its ``fitness`` the validation loss at that step (``inf`` when the row diverged).

Every trial (Syne Tune trial, DEHB evaluation) is a new training run: its training seed is
``Replay.seed_of(trial id or evaluation number)``. Compute is charged step by step in simulated-time order; a
run stops once it has spent ``budget * max_steps`` steps (Syne Tune checks its stop criterion once per tuner
loop, so it may overshoot by a few steps; the trace records what was spent). Tables with several objectives are
refused: these methods are single-objective here. ``--search-options JSON`` hands Syne Tune searcher options to
the baseline (for instance ``{"opt_skip_period": 10}``: MOBSTER, Hyper-Tune and DyHPO then refit their Gaussian
process's hyperparameters at every tenth suggestion only); ``run.py`` does so for those three (``SEARCH_OPTIONS``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import heapq
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

VENV = Path(__file__).resolve().parent / ".venv-peers"
PYTHON = VENV / "bin" / "python"
SYNE_METHODS = ("syne-asha", "syne-bohb", "syne-mobster", "syne-hypertune", "syne-dyhpo")
EXTERNAL_METHODS = (*SYNE_METHODS, "dehb")
SETUP = "bash benchmarks/replay/setup_peers.sh"
SCALE = 1000.0  # Syne Tune's simulated clock runs in milliseconds (see the module docstring)
RESOURCE = "step"  # Syne Tune's resource attribute
MAX_RESOURCE = "max_step"  # its max_resource_attr (the config key that caps a job's steps)
ELAPSED = "elapsed_time"  # its elapsed_time_attr (milliseconds since the job (re)started)
CHARGE = "replay_seconds"  # compute of the step a result reports (plus a resume's checkpoint load)


def environment_problem() -> str | None:
    """Why the peers' environment cannot run, in one line (``None`` when it can)."""
    if not PYTHON.exists():
        return f"the Syne Tune / DEHB environment {VENV.relative_to(ROOT)} does not exist: create it with `{SETUP}`"
    return None


# ----------------------------------------------------------------------------------------------------------------
# itero's side: run a method in the peers' environment and rebuild its Trace.


def run_external(
    table: Any, method: str, *, seed: int, n_workers: int, budget: float, search_options: dict[str, Any] | None = None
) -> Any:
    """Run ``method`` (one of ``EXTERNAL_METHODS``) on ``table`` in the peers' environment; its ``Trace``.
    ``search_options`` go to Syne Tune's searcher (``--search-options``)."""
    from benchmarks.replay.simulate import Completion, Trace

    if method not in EXTERNAL_METHODS:
        raise ValueError(f"unknown external method {method!r}; known: {', '.join(EXTERNAL_METHODS)}")
    if len(table.objectives) > 1:
        raise ValueError(f"{method} is single-objective here; table {table.task!r} has objectives {table.objectives}")
    problem = environment_problem()
    if problem:
        raise RuntimeError(problem)
    cmd = [str(PYTHON), str(Path(__file__).resolve()), "--table", str(table.path), "--method", method,
           "--seed", str(seed), "--workers", str(n_workers), "--budget", repr(float(budget))]  # fmt: skip
    if search_options:
        cmd += ["--search-options", json.dumps(search_options)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONHASHSEED": "0"}  # fmt: skip
    env.pop("PYTHONPATH", None)  # itero's environment's paths have no place in the peers' one
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{method} on {table.task} (seed {seed}) failed with exit code {proc.returncode}:\n{tail}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return Trace(
        steps=int(out["steps"]),
        seconds=float(out["seconds"]),
        completions=[
            Completion(c["time"], c["steps"], c["seconds"], c["row"], c["seed"], tuple(c["values"]), tuple(c["tests"]))
            for c in out["completions"]
        ],
    )


# ----------------------------------------------------------------------------------------------------------------
# The peers' side (run by .venv-peers/bin/python): the adapters.


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds."""
    return value.item() if hasattr(value, "item") else value


def _choices(dist: Any) -> list[Any]:
    """A categorical's choices as the method's space holds them: themselves when they are all of one type (str,
    int or float), else their ``repr`` (Syne Tune and ConfigSpace want one type per parameter)."""
    kinds = {type(c) for c in dist.choices}
    if len(kinds) == 1 and kinds <= {str, int, float}:
        return list(dist.choices)
    return [repr(c) for c in dist.choices]


def to_table_params(space: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """A method's proposal as a point of the table's space (a categorical back from its ``repr``; a number
    clipped and put on the distribution's step grid, which these methods' spaces do not have)."""
    from itero.space import CategoricalDistribution

    out: dict[str, Any] = {}
    for name, dist in space.items():
        value = _plain(config[name])
        if isinstance(dist, CategoricalDistribution):
            if not dist.contains(value):
                by_repr = {repr(c): c for c in dist.choices}
                value = by_repr.get(value, value)
        else:
            value = dist.from_unit(dist.to_unit(min(dist.high, max(dist.low, value))))
        out[name] = value
    return out


class Runner:
    """One run's bookkeeping on the peers' side: the replay, its trace, and the budget."""

    def __init__(self, table: Any, seed: int, budget: float) -> None:
        from benchmarks.replay.simulate import Replay, Trace

        self.table = table
        self.replay = Replay(table, seed)
        self.trace = Trace()
        self.seed = seed
        self.budget_steps = int(budget * table.max_steps)
        self.metric = self.replay.metrics[0]
        self.mode = "max" if table.objectives[self.metric] == "maximize" else "min"
        self.sign = -1.0 if self.mode == "max" else 1.0

    def row_of(self, config: dict[str, Any]) -> int:
        return self.replay.index.row(to_table_params(self.table.space, config))

    def diverged_at(self, row: int, seed: int) -> int:
        """The step the run diverged at (its training raised there), 0 if it did not."""
        return int(self.table.diverged_at[row, seed])

    def spent(self) -> bool:
        return self.trace.steps >= self.budget_steps

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": self.trace.steps,
            "seconds": self.trace.seconds,
            "completions": [dataclasses.asdict(c) for c in self.trace.completions],
        }


def syne_space(space: dict[str, Any]) -> dict[str, Any]:
    """The table's space as a Syne Tune configuration space."""
    from syne_tune.config_space import choice, lograndint, loguniform, randint, uniform

    from itero.space import CategoricalDistribution, FloatDistribution

    out: dict[str, Any] = {}
    for name, d in space.items():
        if isinstance(d, CategoricalDistribution):
            out[name] = choice(_choices(d))
        elif isinstance(d, FloatDistribution):
            out[name] = loguniform(d.low, d.high) if d.log else uniform(d.low, d.high)
        else:
            out[name] = lograndint(int(d.low), int(d.high)) if d.log else randint(int(d.low), int(d.high))
    return out


def run_syne(runner: Runner, method: str, n_workers: int, search_options: dict[str, Any] | None = None) -> None:
    import numpy as np
    from syne_tune import Tuner
    from syne_tune.backend.simulator_backend.events import CompleteEvent
    from syne_tune.backend.simulator_backend.simulator_backend import SimulatorConfig
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.backend.trial_status import Status
    from syne_tune.blackbox_repository.blackbox import Blackbox
    from syne_tune.blackbox_repository.simulated_tabular_backend import UserBlackboxBackend
    from syne_tune.config_space import randint
    from syne_tune.constants import ST_TUNER_TIME
    from syne_tune.optimizer import baselines

    table, replay, trace = runner.table, runner.replay, runner.trace
    max_steps = table.max_steps

    class TableBlackbox(Blackbox):
        """The table as a Syne Tune blackbox: a configuration's curve (its nearest row's, trained with the seed
        the backend sets for the trial) and the cumulative step seconds, in milliseconds."""

        def __init__(self) -> None:
            super().__init__(
                configuration_space=syne_space(table.space),
                fidelity_space={RESOURCE: randint(1, max_steps)},
                objectives_names=[runner.metric, ELAPSED, CHARGE],
            )
            self._fidelities = np.arange(1, max_steps + 1)

        @property
        def fidelity_values(self) -> np.ndarray:
            return self._fidelities

        def _objective_function(self, configuration: dict, fidelity: Any = None, seed: Any = None) -> np.ndarray:
            row = runner.row_of(configuration)
            values = table.curves[runner.metric][row, seed]
            seconds = np.nan_to_num(table.step_seconds[row, seed], nan=0.0)
            return np.stack([values, np.cumsum(seconds) * SCALE, seconds], axis=1)

    class ReplayBackend(UserBlackboxBackend):
        """``UserBlackboxBackend`` with the replay's training seeds, checkpoint loads and divergences."""

        def __init__(self) -> None:
            super().__init__(
                blackbox=TableBlackbox(),
                elapsed_time_attr=ELAPSED,
                max_resource_attr=MAX_RESOURCE,
                support_checkpointing=True,
                simulator_config=SimulatorConfig(0.0, 0.0, 0.0, 0.0, 0.0),
            )
            self.rows: dict[int, tuple[int, int]] = {}
            self.failing: dict[int, float] = {}  # trial -> compute of the step it diverged at
            self._fail_after = 0.0

        def _advance_by_outside_time(self) -> None:
            """Simulated time is the recorded compute alone, not the scheduler's real seconds (determinism)."""

        def _run_job_and_collect_results(self, trial_id: int, config: dict | None = None) -> tuple[str, list]:
            config = self._trial_dict[trial_id].config if config is None else config
            seed = replay.seed_of(trial_id)
            row = runner.row_of(self._filter_config(config))
            self.rows[trial_id] = trace.rows[trial_id] = (row, seed)
            resumed_from = self._resource_paused_for_trial.get(trial_id)
            self._seed = seed  # the parent queries the blackbox with self._seed
            status, results = super()._run_job_and_collect_results(trial_id, config)
            load = float(table.load_seconds[row, seed]) if resumed_from is not None else 0.0
            for r in results:
                r[ELAPSED] += load * SCALE
            if results and load:
                results[0][CHARGE] += load
            k = runner.diverged_at(row, seed)
            if k:
                kept = [r for r in results if int(r[RESOURCE]) < k]
                last = kept[-1][ELAPSED] if kept else 0.0
                failed_step = next((r for r in results if int(r[RESOURCE]) == k), None)
                if failed_step is not None:  # the job ends, failed, when the step that diverged ends
                    self._fail_after = failed_step[ELAPSED] - last
                    self.failing[trial_id] = float(failed_step[CHARGE])
                    return Status.failed, kept
            return status, results

        def _process_start_event(self, trial_id: int, time_event: float, config: dict | None = None) -> None:
            self._fail_after = 0.0
            super()._process_start_event(trial_id, time_event, config)
            if self._fail_after:  # the parent completes a job with its last result: a failing one ends later
                heap = self._simulator_state.event_heap
                heap[:] = [
                    (t + self._fail_after, n, e)
                    if e.trial_id == trial_id and isinstance(e, CompleteEvent)
                    else (t, n, e)
                    for t, n, e in heap
                ]
                heapq.heapify(heap)

    backend = ReplayBackend()

    class ReplayCallback(SimulatorCallback):
        """``SimulatorCallback`` that jumps the clock to the next event when the tuner waits, and charges each
        result's compute to the trace (a trial reaching ``max_steps`` is a completion)."""

        def __init__(self) -> None:
            super().__init__()
            self.charged_failures: set[int] = set()

        def on_tuning_sleep(self, sleep_time: float) -> None:
            heap = backend._simulator_state.event_heap
            if heap:
                self._time_keeper.advance_to(heap[0][0])
            else:
                self._time_keeper.advance(1e-3)

        def on_fetch_status_results(self, trial_status_dict: dict, new_results: list) -> None:
            super().on_fetch_status_results(trial_status_dict, new_results)
            for trial_id, (_, status) in trial_status_dict.items():
                if status == Status.failed and trial_id not in self.charged_failures:
                    self.charged_failures.add(trial_id)
                    trace.charge(backend.failing.get(trial_id, 0.0), steps=1)

        def on_trial_result(self, trial: Any, status: str, result: dict, decision: str) -> None:
            super().on_trial_result(trial, status, result, decision)
            trace.charge(float(result[CHARGE]), steps=1)
            if int(result[RESOURCE]) == max_steps:
                row, seed = backend.rows[trial.trial_id]
                replay.complete(trace, float(result[ST_TUNER_TIME]) / SCALE, row, seed)

    blackbox = backend.blackbox
    kwargs = dict(
        config_space=blackbox.configuration_space_with_max_resource_attr(MAX_RESOURCE),
        metric=runner.metric,
        mode=runner.mode,
        resource_attr=RESOURCE,
        max_resource_attr=MAX_RESOURCE,
        random_seed=runner.seed,
    )
    scheduler_class = {
        "syne-asha": baselines.ASHA,
        "syne-bohb": baselines.BOHB,
        "syne-mobster": baselines.MOBSTER,
        "syne-hypertune": baselines.HyperTune,
        "syne-dyhpo": baselines.DyHPO,
    }[method]
    if search_options:  # Syne Tune's searcher options (e.g. opt_skip_period, max_size_data_for_model); default: its own
        kwargs["search_options"] = search_options
    scheduler = scheduler_class(**kwargs)
    with tempfile.TemporaryDirectory(prefix="replay-syne-") as folder:
        os.environ["SYNETUNE_FOLDER"] = folder
        tuner = Tuner(
            trial_backend=backend,
            scheduler=scheduler,
            stop_criterion=lambda status: runner.spent(),
            n_workers=n_workers,
            sleep_time=0,
            callbacks=[ReplayCallback()],
            results_update_interval=1e9,
            print_update_interval=1e9,
            max_failures=10**9,  # a diverged trial fails; that is no reason to stop the run
            tuner_name="replay",
            save_tuner=False,
        )
        tuner.run()


def run_dehb(runner: Runner, n_workers: int) -> None:
    import ConfigSpace as CS
    from dehb import DEHB

    from itero.space import CategoricalDistribution, FloatDistribution

    table, replay, trace = runner.table, runner.replay, runner.trace
    max_steps = table.max_steps
    cs = CS.ConfigurationSpace(seed=runner.seed)
    for name, d in table.space.items():
        if isinstance(d, CategoricalDistribution):
            cs.add(CS.CategoricalHyperparameter(name, _choices(d)))
        elif isinstance(d, FloatDistribution):
            cs.add(CS.UniformFloatHyperparameter(name, d.low, d.high, log=d.log))
        else:
            cs.add(CS.UniformIntegerHyperparameter(name, int(d.low), int(d.high), log=d.log))
    with tempfile.TemporaryDirectory(prefix="replay-dehb-") as folder:
        dehb = DEHB(cs=cs, min_fidelity=1, max_fidelity=max_steps, eta=3, n_workers=1, seed=runner.seed,
                    output_path=folder, save_freq="end", log_level="ERROR")  # fmt: skip
        events: list[tuple[float, int, int]] = []  # (time a step ends, order, job number)
        jobs: dict[int, dict[str, Any]] = {}
        order = itertools.count()
        numbers = itertools.count()

        def start(now: float) -> None:
            info = dehb.ask()
            number = next(numbers)
            row, seed = runner.row_of(dict(info["config"])), replay.seed_of(number)
            steps = max(1, min(max_steps, round(float(info["fidelity"]))))
            k = runner.diverged_at(row, seed)
            jobs[number] = {"info": info, "row": row, "seed": seed, "steps": steps, "last": min(steps, k or steps),
                            "step": 0, "cost": 0.0}  # fmt: skip
            trace.rows[number] = (row, seed)
            advance(number, now)

        def advance(number: int, now: float) -> None:
            job = jobs[number]
            job["step"] += 1
            seconds = replay.step_seconds(job["row"], job["seed"], job["step"])
            heapq.heappush(events, (now + seconds, next(order), number))

        for _ in range(n_workers):
            start(0.0)
        while events and not runner.spent():
            now, _, number = heapq.heappop(events)
            job = jobs[number]
            seconds = replay.step_seconds(job["row"], job["seed"], job["step"])
            trace.charge(seconds, steps=1)
            job["cost"] += seconds
            if job["step"] < job["last"]:
                advance(number, now)
                continue
            value = replay.values(job["row"], job["seed"], job["step"], [runner.metric])[0]
            fitness = runner.sign * value if math.isfinite(value) and job["last"] == job["steps"] else math.inf
            dehb.tell(job["info"], {"fitness": fitness, "cost": job["cost"]})
            if job["step"] == max_steps and math.isfinite(fitness):
                replay.complete(trace, now, job["row"], job["seed"])
            del jobs[number]
            if not runner.spent():
                start(now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, required=True, help="a replay table (.jsonl.gz)")
    parser.add_argument("--method", required=True, choices=EXTERNAL_METHODS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget", type=float, default=100.0, help="full trainings of compute (default 100)")
    parser.add_argument("--search-options", type=json.loads, default=None,
                        help='Syne Tune searcher options as JSON, e.g. \'{"opt_skip_period": 10}\' (default: its defaults)')  # fmt: skip
    a = parser.parse_args()
    if a.workers < 1 or a.budget <= 0:
        parser.error("--workers must be >= 1 and --budget > 0")
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # the libraries print; stdout carries the trace alone
        import logging
        import random
        import warnings

        import numpy as np

        from itero.tasks._tables import TableError, load_table

        warnings.filterwarnings("ignore")
        logging.disable(logging.ERROR)
        try:
            table = load_table(a.table)
        except (OSError, TableError) as exc:
            parser.error(str(exc))
        if len(table.objectives) > 1:
            parser.error(f"{a.method} is single-objective here; table {table.task!r} has {table.objectives}")
        random.seed(a.seed)
        np.random.seed(a.seed)
        runner = Runner(table, a.seed, a.budget)
        t0 = time.process_time()
        if a.method == "dehb":
            run_dehb(runner, a.workers)
        else:
            run_syne(runner, a.method, a.workers, a.search_options)
        result = {"task": table.task, "method": a.method, "seed": a.seed, "workers": a.workers, "budget": a.budget,
                  "cpu_seconds": round(time.process_time() - t0, 3), **runner.to_json()}  # fmt: skip
    out.write(json.dumps(result) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
