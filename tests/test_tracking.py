"""Tracking: dataset hashes, environment records, energy and carbon per run, energy objective and budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import itero
from itero.exceptions import ConfigError, DataVersionWarning
from itero.tracking import DatasetError, EnergyMeter, _energy, _hashing, hash_data, intensity, track_dataset
from itero.tracking._datasets import clear_session_datasets, number_ranges
from itero.trial import TrialState


@pytest.fixture(autouse=True)
def _fresh_cache(tmp_path, monkeypatch):
    """Each test has its own file-hash cache and no datasets tracked outside trials."""
    monkeypatch.setenv("ITERO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_hashing, "_cache", None)
    clear_session_datasets()
    yield
    clear_session_datasets()


def _folder(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.bin").write_bytes(bytes(range(256)) * 100)
    (root / "sub" / "b.txt").write_text("hello\n")
    return root


# ---------------------------------------------------------------------------------------------- hashes
_IN_CHILD = """
import json, sys, numpy as np, torch
from itero.tracking import hash_data
data = {
    "array": np.arange(12, dtype=np.float32).reshape(3, 4),
    "tensor": torch.arange(6).reshape(2, 3),
    "pair": (np.ones(3), np.arange(3)),
    "tds": torch.utils.data.TensorDataset(torch.zeros(4, 2), torch.arange(4)),
    "folder": sys.argv[1],
}
print(json.dumps({k: hash_data(v)[0] for k, v in data.items()}))
"""


def test_hashes_are_stable_across_processes(tmp_path):
    folder = _folder(tmp_path / "data")
    here = {
        "array": hash_data(np.arange(12, dtype=np.float32).reshape(3, 4))[0],
        "tensor": hash_data(torch.arange(6).reshape(2, 3))[0],
        "pair": hash_data((np.ones(3), np.arange(3)))[0],
        "tds": hash_data(torch.utils.data.TensorDataset(torch.zeros(4, 2), torch.arange(4)))[0],
        "folder": hash_data(str(folder))[0],
    }
    env = {**os.environ, "ITERO_CACHE_DIR": str(tmp_path / "other-cache")}
    out = subprocess.run(
        [sys.executable, "-c", _IN_CHILD, str(folder)], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout) == here
    assert len(set(here.values())) == len(here)  # different data, different digests


def test_one_changed_byte_changes_the_digest(tmp_path):
    a = np.arange(1000, dtype=np.uint8)
    b = a.copy()
    b[500] ^= 1
    assert hash_data(a)[0] != hash_data(b)[0]
    assert hash_data(a)[0] != hash_data(a.astype(np.int16))[0]  # dtype is part of the content
    assert hash_data(a)[0] != hash_data(a.reshape(10, 100))[0]  # so is the shape
    t = torch.arange(10.0)
    t2 = t.clone()
    t2[3] += 1
    assert hash_data(t)[0] != hash_data(t2)[0]
    folder = _folder(tmp_path / "data")
    before = hash_data(folder)[0]
    raw = bytearray((folder / "a.bin").read_bytes())
    raw[1234] ^= 0xFF
    (folder / "a.bin").write_bytes(bytes(raw))
    assert hash_data(folder)[0] != before
    (folder / "a.bin").write_bytes(bytes(raw[:-1]))  # one byte shorter
    assert hash_data(folder)[0] != before
    (folder / "sub" / "b.txt").rename(folder / "sub" / "c.txt")  # a renamed file changes the folder
    assert hash_data(folder)[0] not in (before,)


def test_unchanged_files_are_not_read_again(tmp_path, monkeypatch):
    folder = _folder(tmp_path / "data")
    digest, kind, info = hash_data(folder)
    assert kind == "folder" and info["files"] == 2 and info["bytes"] == 25606

    def no_reading(*args, **kwargs):
        raise AssertionError(f"file read again: {args[0]}")

    monkeypatch.setattr(_hashing, "_cache", None)  # a new process: only the on-disk cache is left
    monkeypatch.setattr(_hashing, "open", no_reading, raising=False)
    assert hash_data(folder)[0] == digest
    os.utime(folder / "a.bin", ns=(1, 1))  # a new modification time: that file is read again
    with pytest.raises(AssertionError, match=r"a\.bin"):
        hash_data(folder)


def test_unreadable_data_names_the_path_or_the_type(tmp_path):
    missing = tmp_path / "nope" / "train.csv"
    with pytest.raises(DatasetError, match=r"dataset 'train': cannot read dataset at '.*nope/train\.csv'"):
        track_dataset("train", missing)
    with pytest.raises(DatasetError, match="cannot hash object: pass a numpy array"):
        track_dataset("x", object())
    with pytest.raises(DatasetError, match="object array"):
        hash_data(np.array([{}, 1], dtype=object))
    with pytest.raises(DatasetError, match="non-empty string"):
        track_dataset("", np.ones(2))


def test_ranges_text():
    assert number_ranges([5, 0, 1, 2, 7, 8]) == "0-2, 5, 7-8"
    assert number_ranges([3]) == "3" and number_ranges([]) == "none"


# ---------------------------------------------------------------------------------------------- studies
def _objective_with_data(data_for):
    def objective(trial: itero.Trial) -> None:
        x = trial.suggest_float("x", -2, 2)
        itero.track_dataset("train", data_for(trial.number))
        for step in trial.steps(3):
            sum(range(20_000))  # a little CPU work to measure
            trial.report(step, {"loss": (x - 1) ** 2 + 1 / step})

    return objective


def test_datasets_are_recorded_per_trial_and_versions_compared(storage_url, study_name):
    study = itero.create_study(study_name, storage=storage_url, scheduler="fifo", objectives={"loss": "minimize"})
    v1, v2 = np.arange(10), np.arange(10) + 1
    study.optimize(_objective_with_data(lambda n: v1 if n < 3 else v2), n_trials=5, show_progress=False)
    d1, d2 = hash_data(v1)[0], hash_data(v2)[0]
    assert [t.datasets for t in study.trials] == [{"train": d1}] * 3 + [{"train": d2}] * 2
    records = study.data_versions()
    assert [(r.name, r.digest, r.kind, r.trials) for r in records] == [
        ("train", d1, "array", [0, 1, 2]),
        ("train", d2, "array", [3, 4]),
    ]
    assert records[0].info == {"shape": [10], "dtype": "int64"}
    assert study.data_warnings() == [f"dataset 'train': 2 versions — {d1[:12]} (trials 0-2), {d2[:12]} (trials 3-4)"]
    with pytest.warns(DataVersionWarning, match="saw different data"):
        study.best_trial  # noqa: B018


def test_datasets_tracked_before_optimize_apply_to_every_trial_and_survive_resume(tmp_path):
    data = np.linspace(0, 1, 50)
    version = itero.track_dataset("features", data)
    study = itero.create_study(  # seeded: unseeded, some draws left no paused trial good enough to resume
        "s",
        storage=f"sqlite:///{tmp_path}/s.db",
        objectives={"loss": "minimize"},
        sampler={"name": "tpe", "seed": 0},
        scheduler="asha",
    )

    def objective(trial: itero.Trial) -> None:
        x = trial.suggest_float("x", -2, 2)
        trial.restore()
        for step in trial.steps(9):
            trial.report(step, {"loss": (x - 1) ** 2 + 1 / step}, state={"x": x})

    study.optimize(objective, n_trials=9, show_progress=False)
    assert any(r.start_step > 0 for r in study.store.trial_runs(study.id))  # some trials were resumed
    assert all(t.datasets == {"features": version.digest} for t in study.trials)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataVersionWarning)
        study.best_trial  # noqa: B018 - one version: no warning


def test_energy_is_positive_adds_up_and_names_its_method(storage_url, study_name):
    study = itero.create_study(study_name, storage=storage_url, objectives={"loss": "minimize"})
    study.optimize(_objective_with_data(lambda n: np.ones(3)), n_trials=4, show_progress=False)
    meter = EnergyMeter.detect()
    runs = study.store.trial_runs(study.id)
    assert len(runs) == 4
    assert all(r.energy_j > 0 and r.co2_g > 0 and r.energy_method == meter.method for r in runs)
    trials = study.trials
    for t in trials:
        mine = [r for r in runs if r.trial_id == t.id]
        assert t.cost.energy_j == pytest.approx(sum(r.energy_j for r in mine))
        assert t.cost.co2_g == pytest.approx(t.cost.energy_j / 3.6e6 * intensity("world").grams_per_kwh)
    totals = study.totals()
    assert totals.energy_j == pytest.approx(sum(t.cost.energy_j for t in trials))
    assert totals.co2_g == pytest.approx(sum(t.cost.co2_g for t in trials))
    assert totals.energy_kwh == pytest.approx(totals.energy_j / 3.6e6) and totals.region == "world"
    if meter.method.startswith("cpu=tdp-estimate"):
        watts = _energy.cpu_power().watts_per_thread
        assert totals.energy_j == pytest.approx(totals.cpu_seconds * watts, rel=1e-6)


def test_region_sets_the_carbon_intensity(tmp_path):
    study = itero.create_study("s", storage=f"sqlite:///{tmp_path}/s.db", objectives={"loss": "minimize"}, region="FR")
    assert study.region == "FRA"
    study.optimize(_objective_with_data(lambda n: np.ones(3)), n_trials=2, show_progress=False)
    totals = study.totals()
    assert totals.co2_g == pytest.approx(totals.energy_j / 3.6e6 * intensity("FRA").grams_per_kwh)
    assert intensity("FRA").grams_per_kwh < intensity("world").grams_per_kwh
    assert itero.load_study("s", storage=f"sqlite:///{tmp_path}/s.db").region == "FRA"
    with pytest.raises(ConfigError, match=r"region 'Atlantis' is not a country code .* or 'world'"):
        itero.create_study("t", storage="sqlite://", objectives={"loss": "minimize"}, region="Atlantis")


def test_tracking_off_records_no_environment_and_no_energy(tmp_path):
    study = itero.create_study(
        "s", storage=f"sqlite:///{tmp_path}/s.db", objectives={"loss": "minimize"}, tracking=False
    )
    study.optimize(_objective_with_data(lambda n: np.ones(3)), n_trials=2, show_progress=False)
    assert study.environments() == []
    assert study.totals().energy_j == 0 and study.totals().cpu_seconds > 0
    assert {r.energy_method for r in study.store.trial_runs(study.id)} == {"off"}
    assert all(t.datasets for t in study.trials)  # explicit track_dataset calls still count
    with pytest.raises(ConfigError, match="max_energy_kwh needs energy tracking"):
        study.optimize(_objective_with_data(lambda n: np.ones(3)), n_trials=1, max_energy_kwh=1.0)


def test_energy_as_an_objective(tmp_path):
    study = itero.create_study(
        "s",
        storage=f"sqlite:///{tmp_path}/s.db",
        scheduler="fifo",
        objectives={"loss": "minimize", "energy_kwh": "minimize"},
        sampler={"name": "random", "seed": 0},
    )

    def objective(trial: itero.Trial) -> None:
        x = trial.suggest_float("x", -2, 2)
        n = trial.suggest_int("work", 1, 5)
        for step in trial.steps(2):
            sum(range(50_000 * n))
            trial.report(step, {"loss": (x - 1) ** 2})

    study.optimize(objective, n_trials=6, show_progress=False)
    for t in study.trials:
        assert t.state == TrialState.COMPLETE
        # The metric is read just before the trial's last write, so it is at most the recorded total.
        assert 0 < t.metrics["energy_kwh"] <= t.cost.energy_kwh * (1 + 1e-9)
        assert all("energy_kwh" in r for r in t.reports.values())
    assert study.pareto_front()
    with pytest.raises(ConfigError, match="'energy_kwh' is the measured energy: it needs tracking=True and 'minimize'"):
        itero.create_study("t", storage="sqlite://", objectives={"energy_kwh": "maximize"})


def test_energy_budget_stops_the_study(tmp_path):
    study = itero.create_study("s", storage=f"sqlite:///{tmp_path}/s.db", objectives={"loss": "minimize"})

    def objective(trial: itero.Trial) -> None:
        x = trial.suggest_float("x", -2, 2)
        for step in trial.steps(50):
            sum(range(100_000))
            trial.report(step, {"loss": (x - 1) ** 2})

    probe = EnergyMeter.detect()
    a = probe.sample()
    objective_cost = 0.0
    for _ in range(50):
        sum(range(100_000))
    objective_cost = probe.joules(a, probe.sample())  # about one trial's energy
    budget_kwh = 2.5 * objective_cost / 3.6e6
    study.optimize(objective, n_trials=100, max_energy_kwh=budget_kwh, show_progress=False)
    totals = study.totals()
    assert totals.trials < 100
    # Stopped at the first step past the budget: over by at most about one step of one trial.
    assert totals.energy_kwh <= budget_kwh * 1.3
    assert totals.energy_kwh >= budget_kwh * 0.9
    with pytest.raises(ConfigError, match="max_energy_kwh must be a positive number"):
        study.optimize(objective, n_trials=1, max_energy_kwh=0)


def test_environment_is_recorded_once_per_worker_and_linked_from_trials(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "objective.py").write_text(
        "def objective(trial):\n    x = trial.suggest_float('x', -1, 1)\n    return x * x\n"
    )
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    sys.path.insert(0, str(repo))
    try:
        import objective as user_module  # the objective lives in the user's repository

        study = itero.create_study("s", storage=f"sqlite:///{tmp_path}/s.db", objectives={"loss": "minimize"})
        study.optimize(user_module.objective, n_trials=3, show_progress=False)
        (repo / "objective.py").write_text((repo / "objective.py").read_text() + "# edited\n")
        from itero.tracking import _environment

        _environment.capture.cache_clear()
        study.optimize(user_module.objective, n_trials=2, show_progress=False)
    finally:
        sys.path.remove(str(repo))
        sys.modules.pop("objective", None)
    envs = study.environments()
    assert [e.info["git"]["commit"] for e in envs] == [commit, commit]
    assert [e.info["git"]["dirty"] for e in envs] == [False, True]
    assert [e.trials for e in envs] == [[0, 1, 2], [3, 4]] and [e.workers for e in envs] == [1, 1]
    info = envs[0].info
    assert info["python"] == sys.version.split()[0] and info["packages"]["numpy"] == np.__version__
    assert info["cpu"] and info["cpu_count"] >= 1 and info["energy"]["method"] == EnergyMeter.detect().method


# ---------------------------------------------------------------------------------------------- meters
def _fake_rapl(root: Path, uj: int, wrap: int = 1_000_000_000) -> None:
    d = root / "intel-rapl:0"
    d.mkdir(parents=True, exist_ok=True)
    (d / "energy_uj").write_text(str(uj))
    (d / "max_energy_range_uj").write_text(str(wrap))
    sub = root / "intel-rapl:0:0"  # a sub-domain: counted inside its package, never twice
    sub.mkdir(exist_ok=True)
    (sub / "energy_uj").write_text("5")
    (sub / "max_energy_range_uj").write_text(str(wrap))


def test_rapl_counts_the_process_share_and_wraps(tmp_path, monkeypatch):
    root = tmp_path / "powercap"
    stat = tmp_path / "stat"
    hz = os.sysconf("SC_CLK_TCK")
    monkeypatch.setattr(_energy, "PROC_STAT", stat)
    _fake_rapl(root, 999_000_000)
    meter = EnergyMeter(_energy._Rapl(root), None, _energy.cpu_power())
    assert meter.method == "cpu=rapl"
    stat.write_text(f"cpu  {100 * hz} 0 0 500 0 0 0 0 0 0\n")
    a = meter.sample()
    _fake_rapl(root, 9_000_000)  # wrapped: 1,000 J - 999 J + 9 J = 10 J on the package
    stat.write_text(f"cpu  {102 * hz} 0 0 900 0 0 0 0 0 0\n")  # 2 busy CPU seconds on the machine
    b = meter.sample()
    b = _energy.Sample(a.cpu + 0.5, b.rapl, b.busy, b.gpu)  # this process: 0.5 of those 2 seconds
    assert meter.joules(a, b) == pytest.approx(10.0 * 0.25)
    assert meter.describe()["rapl_domains"] == ["intel-rapl:0"]


def test_nvml_gpus_are_charged_when_this_process_uses_them():
    energy = {0: 1_000, 1: 5_000}
    me = os.getpid()
    fake = SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: b"Fake GPU",
        nvmlDeviceGetTotalEnergyConsumption=lambda h: energy[h],
        nvmlDeviceGetComputeRunningProcesses=lambda h: [SimpleNamespace(pid=me if h == 0 else 1)],
    )
    meter = EnergyMeter(None, _energy._Nvml(fake), _energy.cpu_power())
    assert meter.method.endswith(";gpu=nvml") and meter.describe()["gpus"] == ["Fake GPU", "Fake GPU"]
    a = meter.sample()
    energy[0] += 30_000  # 30 J on the GPU this process uses
    energy[1] += 99_000  # another process's GPU: not charged
    b = meter.sample()
    b = _energy.Sample(a.cpu, b.rapl, b.busy, b.gpu)  # no CPU time
    assert meter.joules(a, b) == pytest.approx(30.0)


def test_cpu_power_comes_from_codecarbon_table():
    from itero.tracking import _codecarbon

    assert _codecarbon.match_cpu("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz") == ("intel xeon gold 6248", 150.0)
    assert _codecarbon.match_cpu("AMD EPYC 7763 64-Core Processor") == ("amd epyc 7763", 280.0)
    assert _codecarbon.match_cpu("AMD EPYC") is None  # ambiguous: CodeCarbon's default applies
    power = _energy.cpu_power()
    assert power.tdp_watts > 0 and power.threads == os.cpu_count() and "codecarbon" in power.source
