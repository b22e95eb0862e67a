"""The Syne Tune and DEHB peers (benchmarks/replay/external.py) on a tiny table, through run.py's dispatch.

They run in their own environment (numpy < 2), which CI does not have: those tests skip, naming the command that
creates it. The refusals (no environment, several objectives) are checked everywhere."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from test_replay import STEPS, _write_table

from benchmarks.replay import external
from benchmarks.replay import run as replay_run
from benchmarks.replay.external import EXTERNAL_METHODS, environment_problem, run_external
from itero.tasks._tables import Table, load_table

PROBLEM = environment_problem()
needs_peers = pytest.mark.skipif(PROBLEM is not None, reason=PROBLEM or "")
BUDGET = 10


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("replay-external")
    _write_table(folder / "toy.jsonl.gz")
    _diverging(folder / "toy.jsonl.gz", folder / "toy-diverge.jsonl.gz")
    return folder


def _diverging(src: Path, dst: Path, at: int = 3) -> Table:
    """``src`` where every configuration with ``x > 0.7`` (which learn fastest) diverges at step ``at``."""
    with gzip.open(src, "rt") as fh:
        header, *rows = (json.loads(line) for line in fh)
    header.update(task="toy-diverge", diverges=True)
    for r in rows:
        if r["params"]["x"] > 0.7:
            r["diverged_at"] = at
            r["metrics"] = {m: v[: at - 1] + [None] * (STEPS - at + 1) for m, v in r["metrics"].items()}
            r["step_seconds"] = r["step_seconds"][:at] + [None] * (STEPS - at)
    with gzip.open(dst, "wt") as fh:
        fh.write("".join(json.dumps(x) + "\n" for x in [header, *rows]))
    return load_table(dst)


@pytest.fixture()
def dispatch(tables: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """run.py reading its tables from the test's folder."""
    monkeypatch.setattr(replay_run, "TABLES", tables)
    monkeypatch.setattr(replay_run, "_tables", {})
    return tables


@needs_peers
@pytest.mark.parametrize("method", EXTERNAL_METHODS)
def test_each_peer_runs_on_the_table_through_run_py(dispatch, method):
    summary = replay_run.run_one("toy", method, seed=2, workers=4, budget=BUDGET)
    assert summary["method"] == method and summary["task"] == "toy"
    assert BUDGET * STEPS <= summary["steps"] <= BUDGET * STEPS + 4  # stops at the budget (a tuner loop may overshoot)
    assert summary["completed"] >= 1 and summary["improvements"]
    assert summary["final_test"] >= summary["final_val"]  # test = val + 0.02 in this table
    assert summary["test_regret"] >= 0


@needs_peers
@pytest.mark.parametrize("method", ["syne-asha", "syne-dyhpo", "dehb"])
def test_a_run_is_deterministic_and_replays_the_tables_rows(dispatch, method):
    table = replay_run.table_of("toy")
    a = run_external(table, method, seed=5, n_workers=3, budget=BUDGET)
    assert a == run_external(table, method, seed=5, n_workers=3, budget=BUDGET)
    assert a != run_external(table, method, seed=6, n_workers=3, budget=BUDGET)
    times = [c.time for c in a.completions]
    assert times == sorted(times) and a.completions
    for c in a.completions:
        assert c.values == (float(table.curves["val_loss"][c.row, c.seed, -1]),)
        assert c.tests == (float(table.curves["test_loss"][c.row, c.seed, -1]),)
        assert 0 < c.steps <= a.steps and 0 < c.seconds <= a.seconds + 1e-9
        assert c.time < c.seconds  # three workers share the compute


@needs_peers
def test_one_worker_spends_its_compute_as_time(dispatch):
    trace = run_external(replay_run.table_of("toy"), "syne-asha", seed=0, n_workers=1, budget=BUDGET)
    for c in trace.completions:
        assert c.time == pytest.approx(c.seconds, rel=1e-4)


@needs_peers
@pytest.mark.parametrize("method", ["syne-asha", "syne-dyhpo", "dehb"])
def test_diverged_rows_fail_and_never_complete(dispatch, method):
    table = replay_run.table_of("toy-diverge")
    assert table.diverged_at.any()
    summary = replay_run.run_one("toy-diverge", method, seed=1, workers=4, budget=BUDGET)
    assert summary["steps"] >= BUDGET * STEPS  # the failures did not stop the run
    trace = run_external(table, method, seed=1, n_workers=4, budget=BUDGET)
    assert all(table.diverged_at[c.row, c.seed] == 0 for c in trace.completions)


def test_a_table_with_several_objectives_is_refused(tmp_path):
    table = _write_table(tmp_path / "mo.jsonl.gz", n=20, seeds=(0,), two_objectives=True)
    with pytest.raises(ValueError, match="single-objective"):
        run_external(table, "syne-asha", seed=0, n_workers=2, budget=2)


def test_a_missing_environment_says_how_to_create_it(tables, monkeypatch):
    monkeypatch.setattr(external, "PYTHON", tables / "no-such-venv" / "bin" / "python")
    problem = external.environment_problem()
    assert problem is not None and "bash benchmarks/replay/setup_peers.sh" in problem and "\n" not in problem
    with pytest.raises(RuntimeError, match=r"setup_peers\.sh"):
        run_external(load_table(tables / "toy.jsonl.gz"), "dehb", seed=0, n_workers=1, budget=1)
