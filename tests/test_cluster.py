"""Peers on cluster engines (Ray, Dask) and local workers with their own GPUs: the same worker loop and store."""

from __future__ import annotations

import _thread
import os
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import itero
from itero.exceptions import ConfigError
from itero.store._schema import workers
from itero.trial import TrialState


def trivial(trial: itero.Trial) -> float:
    x = trial.suggest_float("x", -1.0, 1.0)
    trial.set_user_attr("pid", os.getpid())
    trial.set_user_attr("devices", os.environ.get("CUDA_VISIBLE_DEVICES"))
    return x * x


def meet(trial: itero.Trial) -> float:
    """``trivial``, but each trial waits (up to 60 s) until two worker processes have started one: a worker
    process that starts first cannot take every trial before the other one is up."""
    folder = Path(os.environ["ITERO_TEST_MEET"])
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(folder.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return trivial(trial)


def slow(trial: itero.Trial) -> None:
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in trial.steps(max_steps=100):
        time.sleep(0.1)
        trial.report(step, {"loss": x / step})


def _study(tmp_path: Path, name: str) -> itero.Study:
    url = f"sqlite:///{tmp_path / 'itero.db'}"
    return itero.create_study(name, storage=url, objectives={"loss": "minimize"}, sampler="random", scheduler="fifo")


def _peer_pids(study: itero.Study) -> set[int]:
    with study.store.engine.connect() as conn:
        return set(conn.execute(select(workers.c.pid).where(workers.c.study_id == study.id)).scalars())


# ------------------------------------------------------------------------------------------- local GPUs
def test_each_local_worker_gets_its_own_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,7,9")  # a fake device list: nothing here touches CUDA
    (tmp_path / "meet").mkdir()
    monkeypatch.setenv("ITERO_TEST_MEET", str(tmp_path / "meet"))
    study = _study(tmp_path, "gpus")
    study.optimize(meet, n_trials=12, n_jobs=2, gpus_per_trial=2, show_progress=False)
    by_pid: dict[int, set[str]] = {}
    for t in study.trials:
        by_pid.setdefault(t.user_attrs["pid"], set()).add(t.user_attrs["devices"])
    assert sorted(map(sorted, by_pid.values())) == [["3,5"], ["7,9"]]  # two workers, each with its own pair
    with pytest.raises(ConfigError, match=r"gpus_per_trial=2 with n_jobs=3 needs 6 GPU\(s\); this machine shows 4"):
        study.optimize(trivial, n_trials=1, n_jobs=3, gpus_per_trial=2, show_progress=False)


@pytest.mark.parametrize(
    ("executor", "message"),
    [
        ("spark", "executor: got 'spark'; expected one of local, ray, dask"),
        ({"name": "ray", "gpu": 1}, r"unknown option\(s\) \['gpu'\]"),
        ({"name": "ray", "cpus_per_trial": -1}, "executor.cpus_per_trial must be a number >= 0, got -1"),
    ],
)
def test_a_bad_executor_names_the_fix(tmp_path: Path, executor: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _study(tmp_path, "bad").optimize(trivial, n_trials=1, executor=executor, show_progress=False)


def test_a_cluster_needs_a_store_its_peers_reach() -> None:
    study = itero.create_study("mem", storage="sqlite://")
    with pytest.raises(ConfigError, match="executor 'ray' needs a store its peers can reach"):
        study.optimize(trivial, n_trials=1, executor="ray", show_progress=False)


# ------------------------------------------------------------------------------------------- Ray
@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A local Ray cluster on 127.0.0.1 (2 CPUs) started for these tests and stopped after them."""
    ray = pytest.importorskip("ray")
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(__import__(__name__))  # the objectives travel with the tasks
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        runtime_env={"env_vars": {"ITERO_HEARTBEAT_SECONDS": "0.5", "ITERO_ARTIFACTS": ""}},
    )
    yield
    ray.shutdown()
    cloudpickle.unregister_pickle_by_value(__import__(__name__))


def test_ray_peers_run_a_study(tmp_path: Path, ray_cluster: None) -> None:
    study = _study(tmp_path, "ray")
    study.optimize(trivial, n_trials=20, n_jobs=2, executor="ray", show_progress=False)
    assert len(study.trials) == 20 and {t.state for t in study.trials} == {TrialState.COMPLETE}
    pids = {t.user_attrs["pid"] for t in study.trials}
    assert os.getpid() not in pids and len(_peer_pids(study)) == 2  # two Ray tasks, none in this process


def test_ctrl_c_stops_ray_peers_and_gives_their_trials_back(tmp_path: Path, ray_cluster: None) -> None:
    study = _study(tmp_path, "ray-stop")

    def interrupt_when_running() -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            if (
                sum(t.state == TrialState.RUNNING for t in itero.load_study("ray-stop", storage=study.store.url).trials)
                == 2
            ):
                break
            time.sleep(0.1)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_when_running, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        # More trials than can finish before both peers run at once, however slowly the second one starts.
        study.optimize(slow, n_trials=40, n_jobs=2, executor="ray", show_progress=False)
    states = [t.state for t in itero.load_study("ray-stop", storage=study.store.url).trials]
    assert states.count(TrialState.WAITING) == 2 and TrialState.RUNNING not in states, states


# ------------------------------------------------------------------------------------------- Dask
def test_dask_peers_run_a_study(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        study = _study(tmp_path, "dask")
        study.optimize(trivial, n_trials=12, n_jobs=2, executor=client, show_progress=False)
    assert len(study.trials) == 12 and {t.state for t in study.trials} == {TrialState.COMPLETE}
    assert os.getpid() not in {t.user_attrs["pid"] for t in study.trials}
    assert len(_peer_pids(study)) == 2


def test_peers_that_cannot_load_the_objective_stop_the_run_with_the_cause(
    tmp_path: Path, ray_cluster: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ghost = types.ModuleType("itero_ghost_module")  # importable here only: Ray's workers cannot load it
    exec("def objective(trial):\n    return trial.suggest_float('x', 0, 1)\n", ghost.__dict__)
    monkeypatch.setitem(sys.modules, "itero_ghost_module", ghost)
    study = _study(tmp_path, "ghost")
    with pytest.raises(
        ConfigError, match=r"peers on ray fail as they start .*itero_ghost_module.*import the objective"
    ):
        study.optimize(ghost.objective, n_trials=4, n_jobs=2, executor="ray", show_progress=False)
    assert study.trials == []


def test_itero_run_with_ray_runs_the_yaml_study_on_ray(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    (tmp_path / "obj.py").write_text(
        "import os\ndef objective(trial):\n    trial.set_user_attr('pid', os.getpid())\n"
        "    return trial.suggest_float('x', 0, 1) ** 2\n"
    )
    url = f"sqlite:///{tmp_path / 'itero.db'}"
    (tmp_path / "s.yaml").write_text(
        f"study: on-ray\nstorage: {url}\ntask: obj.py:objective\nobjectives: {{loss: minimize}}\n"
        "sampler: random\nscheduler: fifo\nbudget: {trials: 6}\nn_jobs: 2\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "itero.cli", "run", "s.yaml", "--ray", "local", "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    study = itero.load_study("on-ray", storage=url)
    assert len(study.trials) == 6 and {t.state for t in study.trials} == {TrialState.COMPLETE}
    assert len(_peer_pids(study)) == 2
