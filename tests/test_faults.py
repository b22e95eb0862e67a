"""Faults of the database server: a PostgreSQL server restarted mid-study (a private one, started by the test from
the installed binaries, as the postgres user, on its own port and data folder) — workers retry, the study
finishes. The machine's own server is never touched."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import itero
from itero.exceptions import ArtifactUnavailableError
from itero.trial import TrialState


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """A PostgreSQL server of its own: ``initdb`` in a temporary folder, ``pg_ctl`` start, restart and stop."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="itero-pg-"))
        shutil.chown(self.folder, "postgres")
        self.port = _free_port()
        self._as_postgres("initdb", "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bindir / tool), *args], check=True, capture_output=True
        )

    def _ctl(self, action: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        data, log = str(self.folder / "data"), str(self.folder / "log")
        self._as_postgres("pg_ctl", "-D", data, "-o", options, "-l", log, "-m", "fast", "-w", action)

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("restart")

    def stop(self) -> None:
        self._ctl("stop")
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bindirs or shutil.which("runuser") is None or os.geteuid() != 0:
        pytest.skip("needs the PostgreSQL binaries and root (to run them as the postgres user)")
    server = PrivatePostgres(Path(bindirs[-1]))
    server.start()
    yield server
    server.stop()


def stepped(trial: itero.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in trial.steps(max_steps=5):
        time.sleep(0.04)
        trial.report(step, {"loss": x / step})
    return x


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_postgresql_restart_mid_study_is_ridden_out(private_postgres: PrivatePostgres, n_jobs: int) -> None:
    study = itero.create_study(
        f"restart-{n_jobs}",
        storage=private_postgres.url,
        objectives={"loss": "minimize"},
        sampler="random",
        scheduler="fifo",
    )
    restarted = threading.Event()

    def restart_when_busy() -> None:
        time.sleep(1.5)
        private_postgres.restart()
        restarted.set()

    threading.Thread(target=restart_when_busy, daemon=True).start()
    study.optimize(stepped, n_trials=40, n_jobs=n_jobs, show_progress=False)
    assert restarted.is_set(), "the study ended before the server restarted: make it longer"
    done = itero.load_study(f"restart-{n_jobs}", storage=private_postgres.url).trials
    assert len(done) == 40 and {t.state for t in done} == {TrialState.COMPLETE}
    assert sorted(t.number for t in done) == list(range(40))


# ------------------------------------------------------------------------------------------- artifact faults
def big_checkpoints(trial: itero.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    state = trial.restore() or {"w": [0.0] * 20_000}  # ~100 kB of JSON: more than the folder can hold
    for step in trial.steps(max_steps=3):
        trial.report(step, {"loss": x / step}, state=state)
    return x


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Iterator[Path]:
    """A 64 kB file system (tmpfs) mounted for the test: the artifacts' disk fills at the first checkpoint."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_full_artifact_disk_stops_the_run_and_gives_the_trial_back(
    tmp_path: Path, tiny_folder: Path, n_jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ITERO_ARTIFACTS", raising=False)
    url = f"sqlite:///{tmp_path / 'itero.db'}"
    fifo = {"name": "fifo", "checkpoint_every": 1}
    study = itero.create_study(
        f"full-{n_jobs}", storage=url, objectives={"loss": "minimize"}, scheduler=fifo, artifacts=str(tiny_folder)
    )
    expected = "no space left for a checkpoint" if n_jobs == 1 else "could not write checkpoints"
    with pytest.raises(ArtifactUnavailableError, match=expected):
        study.optimize(big_checkpoints, n_trials=4, n_jobs=n_jobs, show_progress=False)
    states = [t.state for t in itero.load_study(f"full-{n_jobs}", storage=url).trials]
    assert TrialState.FAILED not in states and TrialState.RUNNING not in states  # not the trials' fault
    assert TrialState.WAITING in states
