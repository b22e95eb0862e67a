"""What readers (CLI, report, plots, exports) get from a study without touching its store."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import itero
from itero.store import TrialRunRecord
from itero.study import StudySummary, best_trials, study_summaries


def stepped(trial: itero.Trial) -> None:
    x = trial.suggest_float("x", -5, 5)
    for step in trial.steps(max_steps=2):
        trial.report(step, {"loss": (x - 1) ** 2 + 1 / step})


def test_config_created_at_storage_url_and_runs(storage_url, study_name):
    before = time.time()
    study = itero.create_study(
        study_name, storage=storage_url, objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 1}
    )
    study.optimize(stepped, n_trials=3, show_progress=False)
    assert study.config["sampler"]["name"] == "random" and study.config["scheduler"]["name"] == "auto"  # default
    assert study.config["tracking"] is True and study.config["region"] == study.region
    assert before - 1 <= study.created_at <= time.time()
    assert study.storage_url == itero.store.public_url(storage_url)
    runs = study.runs()
    assert all(isinstance(r, TrialRunRecord) for r in runs)
    assert sorted(r.trial_id for r in runs) == sorted(t.id for t in study.trials)
    assert all((r.start_step, r.outcome) == (0, t.state.value) for r, t in zip(runs, study.trials, strict=True))


def test_storage_url_hides_the_password(tmp_path):
    study = itero.create_study("s", storage=f"sqlite:///{tmp_path}/a.db", objectives={"loss": "minimize"})
    study.store.url = "postgresql://me:secret@db/itero"  # what a shared store's URL looks like
    assert study.storage_url == "postgresql://me:***@db/itero"


def test_study_summaries(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    one = itero.create_study("one", storage=url, objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 0})
    one.optimize(stepped, n_trials=3, show_progress=False)
    two = itero.create_study("two", storage=url, objectives={"a": "maximize", "b": "minimize"})
    itero.create_study("empty", storage=url, objectives={"loss": "minimize"})
    two.tell(two.ask(), {"a": 1.0, "b": 1.0})
    two.tell(two.ask(), {"a": 2.0, "b": 0.5})
    summaries = study_summaries(url)
    assert [s.name for s in summaries] == ["one", "two", "empty"]
    assert all(isinstance(s, StudySummary) for s in summaries)
    first, second, empty = summaries
    assert first.counts == {"COMPLETE": 3} and first.directions == {"loss": "minimize"}
    assert [t.number for t in first.best] == [one.best_trial.number]
    assert [t.number for t in second.best] == [1] and second.counts == {"COMPLETE": 2}
    assert empty.best == [] and empty.counts == {} and empty.created_at >= first.created_at
    assert best_trials(one) == first.best


def test_readers_use_the_study_and_only_the_store_imports_sqlalchemy():
    """report, plot, export and the CLI do not reach into ``study.store``; SQL stays in ``itero/store``."""
    root = Path(itero.__file__).parent
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        part = path.relative_to(root).parts[0]
        if part != "store":
            assert not any(m.split(".")[0] == "sqlalchemy" for m in modules), path
        if part in ("report", "plot", "export", "cli"):
            reaches = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "store"]
            assert not reaches, f"{path}:{reaches[0].lineno} reads .store"
