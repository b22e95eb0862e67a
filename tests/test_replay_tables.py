"""The replay recorder (benchmarks/replay/record.py) and the table loader: tiny tables recorded, resumed after a
kill, recorded by two processes, and bad tables rejected with the line named."""

from __future__ import annotations

import gzip
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from itero.tasks._tables import TableError, load_table, read_records

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

RECORD = Path(__file__).resolve().parents[1] / "benchmarks" / "replay" / "record.py"


def _recorder() -> Any:
    # Imported by name from its folder (not by path) so that the processes of --jobs can import it too.
    if str(RECORD.parent) not in sys.path:
        sys.path.insert(0, str(RECORD.parent))
    return importlib.import_module("record")


record = _recorder()


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: Any) -> Path:
    out = tmp_path_factory.mktemp("tables")
    torch.set_num_threads(1)
    record.main(["friedman-mlp", "diverge-mlp", "--configs", "3", "--max-steps", "3", "--out", str(out)])
    return out


def _lines(path: Path) -> list[dict[str, Any]]:
    return read_records(path)[0]


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    with gzip.open(path, "wt") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    return path


def test_recorded_tables_load(tables: Path) -> None:
    table = load_table(tables / "friedman-mlp.jsonl.gz")
    assert table.task == "friedman-mlp" and table.seeds == [0, 1] and table.max_steps == 3
    assert table.curves["val_rmse"].shape == (3, 2, 3) and np.isfinite(table.curves["val_rmse"]).all()
    assert table.curves["flops"][1, 0, 0] == table.curves["flops"][1, 1, 2] > 0  # a constant of the configuration
    assert table.test_metric("val_rmse") == "test_rmse"
    assert (table.step_seconds > 0).all() and (table.load_seconds > 0).all() and (table.checkpoint_bytes > 0).all()
    assert set(table.params[0]) == set(table.space) == {
        "lr", "weight_decay", "width", "depth", "dropout", "batch_size", "optimizer"
    }  # fmt: skip
    h = table.header
    assert h["objectives"] == {"val_rmse": "minimize"} and "record.py" in h["command"]
    assert {"itero", "torch", "numpy", "python"} <= set(h["versions"]) and h["machine"]["platform"]
    # the same configurations as digits-aug-mlp's table would have: the space is shared
    assert record.draw_configs("digits-aug-mlp", 3, 0)[0] == table.params


def test_diverged_rows_are_nan_from_their_step(tables: Path) -> None:
    table = load_table(tables / "diverge-mlp.jsonl.gz")
    assert table.header["diverges"] is True
    k = int(table.diverged_at[0, 0])  # Sobol point 0 has lr 0.9 and momentum 0.99: it blows up
    assert k >= 1
    assert np.isnan(table.curves["val_rmse"][0, 0, k - 1 :]).all()
    assert np.isfinite(table.curves["val_rmse"][0, 0, : k - 1]).all()
    assert np.isfinite(table.step_seconds[0, 0, :k]).all() and np.isnan(table.step_seconds[0, 0, k:]).all()


def test_recording_resumes_after_a_kill(tmp_path: Path) -> None:
    configs, _ = record.draw_configs("diverge-mlp", 3, 0)
    record._work([("diverge-mlp", configs[1], 1, 0, 2)], str(tmp_path), 0)
    shard = tmp_path / ".diverge-mlp.shard-0.jsonl.gz"
    first = _lines(shard)[0]
    with shard.open("ab") as fh:  # a second row killed mid-write
        fh.write(gzip.compress(json.dumps(first).encode() + b"\n")[:-12])
    assert read_records(shard) == ([first], True)
    record.main(["diverge-mlp", "--configs", "3", "--max-steps", "2", "--out", str(tmp_path)])
    table = load_table(tmp_path / "diverge-mlp.jsonl.gz")
    assert not list(tmp_path.glob(".*shard*"))
    assert table.step_seconds[1, 0, 0] == first["step_seconds"][0]  # kept, not recorded again
    assert table.params == configs


def test_two_processes_record_disjoint_rows(tmp_path: Path) -> None:
    record.main(["diverge-mlp", "--configs", "4", "--max-steps", "1", "--jobs", "2", "--out", str(tmp_path)])
    table = load_table(tmp_path / "diverge-mlp.jsonl.gz")
    assert table.curves["val_rmse"].shape == (4, 1, 1)


def _mutate(row: dict[str, Any], what: str) -> None:
    if what == "short":
        row["metrics"]["val_rmse"].pop()
    elif what == "nan":
        row["metrics"]["val_rmse"][1] = None
    elif what == "unknown":
        row["params"]["momentum"] = 0.9
    elif what == "outside":
        row["params"]["width"] = 10_000
    elif what == "diverged":
        row["diverged_at"] = 2


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("short", r"metric 'val_rmse': 2 steps; expected 3"),
        ("nan", r"metric 'val_rmse': step 2 is missing or NaN and the row did not diverge"),
        ("unknown", r"unknown parameter 'momentum'"),
        ("outside", r"parameter 'width' = 10000 is outside the space"),
        ("diverged", r"diverged at step 2, but task 'friedman-mlp' does not diverge"),
    ],
)
def test_bad_rows_are_rejected_with_their_line(tables: Path, tmp_path: Path, what: str, message: str) -> None:
    records = _lines(tables / "friedman-mlp.jsonl.gz")
    _mutate(records[2], what)  # line 3: configuration 0, seed 1
    with pytest.raises(TableError, match=r"bad\.jsonl\.gz: line 3 \(config 0, seed 1\): " + message):
        load_table(_write(tmp_path / "bad.jsonl.gz", records))


def test_missing_duplicate_and_cut_rows_are_rejected(tables: Path, tmp_path: Path) -> None:
    records = _lines(tables / "diverge-mlp.jsonl.gz")
    with pytest.raises(TableError, match=r"1 rows missing, first config 2 seed 0"):
        load_table(_write(tmp_path / "a.jsonl.gz", records[:-1]))
    with pytest.raises(TableError, match=r"line 5 \(config 2, seed 0\): a second row"):
        load_table(_write(tmp_path / "b.jsonl.gz", [*records, records[-1]]))
    finite_after = json.loads(json.dumps(records[1]))
    k = finite_after["diverged_at"]
    assert k < 3
    finite_after["metrics"]["val_rmse"] = [1.0] * (k - 1) + [None] * (3 - k) + [1.0]
    with pytest.raises(TableError, match=r"line 2 \(config 0, seed 0\): metric 'val_rmse': step 3 is finite after"):
        load_table(_write(tmp_path / "c.jsonl.gz", [records[0], finite_after, *records[2:]]))
    data = (tables / "diverge-mlp.jsonl.gz").read_bytes()
    (tmp_path / "d.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(TableError, match=r"the file is cut after line"):
        load_table(tmp_path / "d.jsonl.gz")


def test_a_bad_header_is_rejected(tables: Path, tmp_path: Path) -> None:
    records = _lines(tables / "diverge-mlp.jsonl.gz")
    del records[0]["space"]
    with pytest.raises(TableError, match=r"line 1: a bad header \(KeyError: 'space'\)"):
        load_table(_write(tmp_path / "h.jsonl.gz", records))
    with pytest.raises(TableError, match=r"line 1 must be the header"):
        load_table(_write(tmp_path / "r.jsonl.gz", records[1:]))
