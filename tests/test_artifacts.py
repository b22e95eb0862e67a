"""Checkpoints live where the study says — a folder, an S3 bucket, the database — and every worker finds them."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

import itero
from itero.exceptions import ArtifactError
from itero.store import ArtifactStore, Store, open_artifacts
from itero.store._schema import blobs

ASHA = {"name": "asha", "max_steps": 4, "min_steps": 1, "eta": 2}


def paused_objective(trial: itero.Trial) -> None:
    x = trial.suggest_float("x", 0.0, 1.0)
    state = trial.restore() or {"w": 0.0}
    for step in trial.steps(max_steps=4):
        state = {"w": state["w"] + x}
        trial.report(step, {"loss": x + 1.0 / step}, state=state)


def later_is_worse(trial: itero.Trial) -> None:
    """As ``paused_objective``, but each trial worse than every earlier one at every step: ASHA pauses the later
    ones and resumes the earlier paused ones once enough worse trials arrived, whatever order the workers run in
    (random values could, now and then, leave no paused trial worth resuming)."""
    x = trial.suggest_float("x", 0.0, 1.0)
    state = trial.restore() or {"w": 0.0}
    for step in trial.steps(max_steps=4):
        state = {"w": state["w"] + x}
        trial.report(step, {"loss": trial.number + x / 10 + 1.0 / step}, state=state)


def _resumed(study: itero.Study) -> list[int]:
    """Steps the study's runs started from after a pause (their checkpoints were read back)."""
    return [r.start_step for r in study.runs() if r.start_step > 0]


# ------------------------------------------------------------------------------------------- S3 (moto server)
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local S3-compatible server (moto's standalone server) with one bucket; its endpoint in the environment
    (as boto3, s3fs and worker processes read it). Stopped after the test."""
    pytest.importorskip("s3fs")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=1)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)
        for key, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("ITERO_ARTIFACTS", raising=False)
        import s3fs

        s3fs.S3FileSystem(skip_instance_cache=True).mkdir("itero-test")
        yield "s3://itero-test/checkpoints"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_checkpoints_in_an_s3_bucket_resume_across_processes(tmp_path: Path, s3: str) -> None:
    import s3fs

    url = f"sqlite:///{tmp_path / 'itero.db'}"
    study = itero.create_study(
        "s3", storage=url, objectives={"loss": "minimize"}, scheduler=ASHA, sampler="random", artifacts=s3
    )
    assert study.config["artifacts"] == s3
    study.optimize(later_is_worse, n_trials=8, n_jobs=2, show_progress=False)
    assert _resumed(study), "no trial was resumed from a checkpoint"
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    stored = {p.rsplit("/", 1)[-1] for p in fs.find("itero-test/checkpoints")}
    assert stored and stored >= set(study.store.checkpoint_digests(study.id))
    assert not (tmp_path / "itero-artifacts").exists()  # nothing beside the database
    peer = itero.load_study("s3", storage=url)  # another worker: finds the bucket from the study's record
    assert peer.restore() is not None and peer.restore()["w"] > 0  # the best trial's kept checkpoint
    digest = next(iter(stored))
    fs.pipe_file(f"itero-test/checkpoints/{digest[:2]}/{digest}", b"tampered")
    with pytest.raises(ArtifactError, match="corrupt: its content does not match its hash"):
        peer.store.artifacts_for(peer.id).get(digest)


def test_an_unreachable_bucket_is_a_clear_error_before_any_trial(tmp_path: Path, s3: str) -> None:
    study = itero.create_study("nob", storage="sqlite://", sampler="random", artifacts="s3://no-such-bucket/x")
    with pytest.raises(
        ArtifactError, match=r"cannot use the study's artifacts \(checkpoints\) at s3://no-such-bucket/x"
    ):
        study.optimize(paused_objective, n_trials=2, show_progress=False)
    assert study.trials == []


# ------------------------------------------------------------------------------------------- the database
def interrupted_objective(trial: itero.Trial) -> None:
    """Checkpoints at every step; Ctrl-C at step 2 while ``ITERO_TEST_INTERRUPT`` is set."""
    x = trial.suggest_float("x", 0.0, 1.0)
    state = trial.restore() or {"w": 0.0}
    for step in trial.steps(max_steps=4):
        if step == 2 and os.environ.get("ITERO_TEST_INTERRUPT"):
            raise KeyboardInterrupt
        state = {"w": state["w"] + x}
        trial.report(step, {"loss": x + 1.0 / step}, state=state)


WORKER = """
import sys
import threading
import itero
from test_artifacts import interrupted_objective
study = itero.load_study(sys.argv[2], storage=sys.argv[1])
study.optimize(interrupted_objective, n_trials=0, show_progress=False)
"""


def test_postgresql_keeps_checkpoints_in_the_database_by_default(
    tmp_path: Path, postgres_url: str, study_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial interrupted by Ctrl-C in a run started in one folder is resumed by a process started in another."""
    monkeypatch.delenv("ITERO_ARTIFACTS", raising=False)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    study = itero.create_study(
        study_name,
        storage=postgres_url,
        objectives={"loss": "minimize"},
        scheduler={"name": "fifo", "checkpoint_every": 1},
        sampler="random",
    )
    assert study.config["artifacts"] == "database"
    monkeypatch.setenv("ITERO_TEST_INTERRUPT", "1")
    with pytest.raises(KeyboardInterrupt):
        study.optimize(interrupted_objective, n_trials=1, show_progress=False)
    monkeypatch.delenv("ITERO_TEST_INTERRUPT")
    assert [t.state for t in study.trials] == [itero.TrialState.WAITING]
    (second / "worker.py").write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "worker.py", postgres_url, study_name], cwd=second, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    study = itero.load_study(study_name, storage=postgres_url)
    (trial,) = study.trials
    assert trial.state == itero.TrialState.COMPLETE and [r.start_step for r in study.runs()] == [0, 1]
    assert not list(tmp_path.rglob("itero-artifacts"))  # no folder anywhere: the database holds the bytes
    with study.store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(blobs)).scalar_one() > 0


# ------------------------------------------------------------------------------------------- folders
def test_a_folder_that_cannot_be_used_fails_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    where = tmp_path / "a-file" / "checkpoints"
    study = itero.create_study("bad", storage="sqlite://", sampler="random", artifacts=str(where))
    with pytest.raises(ArtifactError, match=f"cannot use the study's artifacts \\(checkpoints\\) at {where}"):
        study.optimize(paused_objective, n_trials=1, show_progress=False)


def test_a_mount_says_where_this_machine_reaches_the_recorded_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ITERO_ARTIFACTS", raising=False)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'itero.db'}"
    fifo = {"name": "fifo", "checkpoint_every": 1}
    study = itero.create_study("m", storage=url, objectives={"loss": "minimize"}, scheduler=fifo, artifacts="shared")
    assert study.config["artifacts"] == str(tmp_path / "shared")  # recorded absolute, not per working folder
    monkeypatch.setenv("ITERO_TEST_INTERRUPT", "1")
    with pytest.raises(KeyboardInterrupt):
        study.optimize(interrupted_objective, n_trials=1, show_progress=False)
    monkeypatch.delenv("ITERO_TEST_INTERRUPT")
    shutil.move(tmp_path / "shared", tmp_path / "mounted-elsewhere")
    moved = itero.load_study("m", storage=url, artifacts=str(tmp_path / "mounted-elsewhere"))
    moved.optimize(interrupted_objective, n_trials=0, show_progress=False)
    assert [r.start_step for r in moved.runs()] == [0, 1] and moved.trials[0].state == itero.TrialState.COMPLETE
    assert Store(url).artifacts_for(moved.id).location == str(tmp_path / "shared")  # the record is unchanged


# ------------------------------------------------------------------------------------------- every backend
@pytest.fixture(params=["folder", "database", "postgresql", "fsspec-memory", "s3"])
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ArtifactStore, Store]]:
    """An artifact store of each kind, with the store whose database it may use."""
    kind = request.param
    url = str(request.getfixturevalue("postgres_url")) if kind == "postgresql" else f"sqlite:///{tmp_path / 'a.db'}"
    store = Store(url)
    location = {
        "folder": str(tmp_path / "arts"),
        "database": "database",
        "postgresql": "database",
        "fsspec-memory": f"memory://itero-{tmp_path.name}",
        "s3": request.getfixturevalue("s3") if kind == "s3" else "",
    }[kind]
    yield open_artifacts(location, store.engine), store
    store.dispose()


def test_every_artifact_store_keeps_verifies_and_forgets(artifacts: tuple[ArtifactStore, Store]) -> None:
    arts, _ = artifacts
    arts.check()
    others = {e.name for e in arts.entries()}  # a PostgreSQL database is shared by the session's tests
    used = arts.disk_usage()
    digest = arts.put(f"weights of {time.time()}".encode())
    data = arts.get(digest)
    assert arts.put(data) == digest and hashlib.sha256(data).hexdigest() == digest
    (entry,) = [e for e in arts.entries() if e.name not in others]
    assert (entry.name, entry.size) == (digest, len(data)) and arts.disk_usage() == used + len(data)
    assert abs(entry.mtime - time.time()) < 120
    arts.delete(digest)
    with pytest.raises(ArtifactError, match=f"checkpoint {digest[:12]}… is missing from {arts.location}"):
        arts.get(digest)
    arts.restore(digest, data)  # written again when a peer's collection removed it meanwhile
    assert arts.get(digest) == data
    arts.remove(digest)
    arts.delete(digest)  # deleting what is gone is no error
    assert {e.name for e in arts.entries()} == others


# ------------------------------------------------------------------------------------------- an outage
class Outage:
    """A TCP proxy to ``target`` that can refuse connections for a while (``down``) and come back (``up``)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _free_port()
        self._conns: list[socket.socket] = []
        self._server: socket.socket | None = None
        self.up()

    def up(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def stepped_with_checkpoints(trial: itero.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    state = trial.restore() or {"done": 0}
    for step in trial.steps(max_steps=5):
        time.sleep(0.1)
        state = {"done": state["done"] + 1}
        trial.report(step, {"loss": x / step}, state=state)
    return x


def test_an_object_store_down_for_a_while_is_waited_for(
    tmp_path: Path, s3: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    outage = Outage(("127.0.0.1", int(endpoint.rsplit(":", 1)[1])))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{outage.port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the S3 client does not retry: itero's own retries must
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    study = itero.create_study(
        "outage",
        storage=f"sqlite:///{tmp_path / 'itero.db'}",
        objectives={"loss": "minimize"},
        scheduler={"name": "fifo", "checkpoint_every": 1},
        artifacts=s3,
    )

    def blip() -> None:
        time.sleep(1.0)
        outage.down()
        time.sleep(3.0)
        outage.up()

    thread = threading.Thread(target=blip)
    thread.start()
    study.optimize(stepped_with_checkpoints, n_trials=8, show_progress=False)
    thread.join()
    outage.down()
    assert {t.state for t in study.trials} == {itero.TrialState.COMPLETE} and len(study.trials) == 8
    assert any("retrying" in r.getMessage() for r in caplog.records), "the outage was never noticed"


def test_rm_frees_checkpoints_kept_in_the_database_and_a_mount_never_replaces_it(
    tmp_path: Path, postgres_url: str, study_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITERO_ARTIFACTS", str(tmp_path / "leftover-mount"))  # ignored: the study records database
    fifo = {"name": "fifo", "checkpoint_every": 1}
    study = itero.create_study(
        study_name, storage=postgres_url, objectives={"loss": "minimize"}, scheduler=fifo, sampler="random"
    )
    study.optimize(stepped_with_checkpoints, n_trials=2, show_progress=False)
    digests = set(study.store.checkpoint_digests(study.id))
    assert digests and not (tmp_path / "leftover-mount").exists()

    def stored() -> set[str]:
        with study.store.engine.connect() as conn:
            return set(conn.execute(select(blobs.c.digest).where(blobs.c.digest.in_(digests))).scalars())

    assert stored() == digests
    freed = itero.delete_study(study_name, storage=postgres_url)
    assert freed > 0 and stored() == set()
