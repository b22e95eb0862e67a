"""The replay simulator: itero's real engine and the peers on a recorded table, on simulated time."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.replay.peers import run_peer
from benchmarks.replay.score import score, targets
from benchmarks.replay.simulate import Replay, RowIndex, itero_objective, run_itero
from itero.tasks._tables import FORMAT, Table, load_table

STEPS = 9


def _write_table(path: Path, n: int = 60, seeds: tuple[int, ...] = (0, 1), two_objectives: bool = False) -> Table:
    """A table whose curves approach 1 + (x - 0.3)^2 + ...: low ``x`` learns slowly (curves cross)."""
    rng = np.random.default_rng(0)
    space = {
        "x": {"type": "float", "low": 0.0, "high": 1.0, "log": False, "step": None},
        "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True, "step": None},
        "width": {"type": "int", "low": 8, "high": 64, "log": False, "step": 1},
        "act": {"type": "categorical", "choices": ["relu", "tanh"]},
    }
    objectives = {"val_loss": "minimize", "flops": "minimize"} if two_objectives else {"val_loss": "minimize"}
    header = {
        "kind": "header", "format": FORMAT, "task": "toy", "objectives": objectives, "max_steps": STEPS,
        "metrics": ["val_loss", "test_loss"], "n_configs": n, "seeds": list(seeds), "diverges": False,
        "space": space,
    }  # fmt: skip
    lines = [json.dumps(header)]
    for c in range(n):
        p = {
            "x": float(rng.random()),
            "lr": float(10 ** rng.uniform(-4, 0)),
            "width": int(rng.integers(8, 65)),
            "act": ["relu", "tanh"][int(rng.integers(2))],
        }
        final = 1 + (p["x"] - 0.3) ** 2 + 0.1 * abs(math.log10(p["lr"]) + 2) + (0.05 if p["act"] == "tanh" else 0)
        speed = 0.2 + 2 * p["x"]
        for s in seeds:
            noise = 0.01 * (s + 1) * ((c * 7 + s) % 5)
            val = [round(final + noise + 3 * math.exp(-speed * t), 6) for t in range(1, STEPS + 1)]
            lines.append(
                json.dumps(
                    {
                        "kind": "row", "config": c, "seed": s, "params": p,
                        "metrics": {"val_loss": val, "test_loss": [v + 0.02 for v in val]},
                        "step_seconds": [round(0.5 + p["width"] / 64, 4)] * STEPS, "diverged_at": None,
                        "costs": {"flops": float(p["width"] * 100)} if two_objectives else {},
                        "save_seconds": 0.05, "load_seconds": 0.04, "checkpoint_bytes": 1000,
                    }
                )
            )  # fmt: skip
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return load_table(path)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Table:
    return _write_table(tmp_path_factory.mktemp("replay") / "toy.jsonl.gz")


def test_a_recorded_configuration_maps_to_its_own_row_and_others_to_the_nearest(table):
    index = RowIndex(table)
    for i in (0, 17, 59):
        assert index.row(table.params[i]) == i
    p = dict(table.params[5])
    p["x"] = min(1.0, p["x"] + 1e-6)
    assert index.row(p) == 5
    with pytest.raises(ValueError, match="without parameter 'act'"):
        index.row({"x": 0.1, "lr": 0.01, "width": 10})
    with pytest.raises(ValueError, match="outside the table's space"):
        index.row({"x": 2.0, "lr": 0.01, "width": 10, "act": "relu"})


def test_a_replayed_trial_reports_exactly_the_tables_values(table):
    import itero
    from itero.executors import FakeClock
    from itero.store import Store
    from itero.study import simulate

    clock = FakeClock(start=0.0)
    study = itero.create_study("one", storage=Store("sqlite://", clock=clock), objectives=table.objectives,
                               sampler={"name": "random", "seed": 1}, scheduler="fifo", tracking=False)  # fmt: skip
    replay = Replay(table, seed=3)
    trace = __import__("benchmarks.replay.simulate", fromlist=["Trace"]).Trace()
    simulate(study, itero_objective(replay, clock, trace), n_trials=3)
    for t in study.trials:
        row, seed = trace.rows[t.number]
        assert [t.reports[s]["val_loss"] for s in range(1, STEPS + 1)] == list(table.curves["val_loss"][row, seed])
        saved = float(table.save_seconds[row, seed]) if t.checkpoint_id is not None else 0.0  # a new best's weights
        assert t.cost.wall_seconds == pytest.approx(float(table.step_seconds[row, seed].sum()) + saved)
    spent = sum(t.cost.wall_seconds for t in study.trials)
    assert clock.now == pytest.approx(spent)


@pytest.mark.parametrize("method", ["itero-asha", "itero-hyperband", "itero-tpe"])
def test_itero_runs_are_deterministic_and_keep_the_budget(table, method):
    a = run_itero(table, method, seed=4, n_workers=4, budget=10)
    b = run_itero(table, method, seed=4, n_workers=4, budget=10)
    assert a == b
    assert a.steps <= 10 * STEPS and a.completions
    times = [c.time for c in a.completions]
    assert times == sorted(times)  # completions arrive in simulated-time order
    assert run_itero(table, method, seed=5, n_workers=4, budget=10) != a


def test_more_workers_finish_the_same_compute_sooner(table):
    one = run_itero(table, "itero-tpe", seed=0, n_workers=1, budget=8)
    four = run_itero(table, "itero-tpe", seed=0, n_workers=4, budget=8)
    assert one.completions[-1].time > 2 * four.completions[-1].time
    assert one.completions[-1].time == pytest.approx(one.completions[-1].seconds)  # one worker: time is compute


@pytest.mark.parametrize("method", ["optuna-tpe", "optuna-tpe-sh", "optuna-tpe-hb", "i-epoch"])
def test_the_peers_run_on_the_same_table(table, method):
    pytest.importorskip("optuna")
    a = run_peer(table, method, seed=2, n_workers=4, budget=10)
    assert a == run_peer(table, method, seed=2, n_workers=4, budget=10)
    assert 0 < a.steps <= 10 * STEPS + 4 and a.completions
    s = score(a, table, budget=10)
    assert s["final_test"] >= s["final_val"]  # test = val + 0.02 in this table
    assert s["test_regret"] >= 0


def test_scores_count_compute_to_targets(table):
    goal = targets(table)
    assert goal["best"] <= goal["p99"] <= goal["p90"]
    trace = run_itero(table, "itero-random", seed=0, n_workers=1, budget=30)
    s = score(trace, table, budget=30)
    assert s["improvements"] and all(x[0] <= trace.steps for x in s["improvements"])
    for name, hit in s["reached"].items():
        if not hit:
            assert s["to_target"][name]["steps"] == 2 * 30 * STEPS


def test_the_clairvoyant_floor_trains_only_runs_that_reach_the_target_past_their_first_step(table):
    from benchmarks.replay.floor import METHOD, reaching

    good = reaching(table)
    assert 0 < good.mean() <= 0.11  # the 90th percentile of the table's final values
    trace = run_itero(table, METHOD, seed=0, n_workers=4, budget=10, oracle=good)
    assert trace.completions and all(good[c.row, c.seed] for c in trace.completions)
    plain = run_itero(table, METHOD, seed=0, n_workers=4, budget=10)
    assert (
        score(trace, table, 10)["to_target"]["p90"]["seconds"] < score(plain, table, 10)["to_target"]["p90"]["seconds"]
    )


def test_two_objectives_are_scored_by_hypervolume(tmp_path):
    table = _write_table(tmp_path / "mo.jsonl.gz", n=30, seeds=(0,), two_objectives=True)
    trace = run_itero(table, "itero-tpe", seed=0, n_workers=2, budget=8)
    s = score(trace, table, budget=8)
    assert s["final_val"] < 0  # minus a hypervolume
    assert targets(table)["best"] <= s["final_val"]
