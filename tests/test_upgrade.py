"""A database written by an earlier release (``tests/data/schema-NNNN``, made by the ``make.py`` beside it) opens
with today's itero, is migrated to today's schema, keeps its trials and checkpoints, and its study resumes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine

import itero
from itero.store import load_state
from itero.store._engine import current_revision
from itero.store._schema import SCHEMA_REVISION
from itero.trial import TrialState

DATA = Path(__file__).with_name("data")


def _objective(trial: itero.Trial) -> None:  # the objective of make.py
    x = trial.suggest_float("x", -5.0, 5.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    state = trial.restore()
    done = 0 if state is None else state["done"]
    assert done == trial.start_step, "a resumed trial starts from its checkpoint"
    for step in trial.steps(max_steps=4):
        done += 1
        trial.report(step, {"loss": (x - 1.0) ** 2 + (kind == "a") + 1.0 / step}, state={"done": done})


@pytest.mark.parametrize("folder", sorted(p.name for p in DATA.glob("schema-*")))
def test_an_earlier_database_opens_migrates_and_resumes(folder: str, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("ITERO_ARTIFACTS")  # checkpoints beside the database, where the earlier release put them
    shutil.copytree(DATA / folder, tmp_path / folder)
    url = f"sqlite:///{tmp_path / folder / 'itero.db'}"
    before = {"PAUSED": [0, 1, 6, 7], "COMPLETE": [2, 3, 4, 5]}
    study = itero.load_study("upgrade", storage=url)
    assert current_revision(create_engine(url)) == SCHEMA_REVISION
    trials = study.trials
    assert {s: [t.number for t in trials if t.state.value == s] for s in before} == before
    assert all(set(t.params) == {"x", "kind"} for t in trials)
    for t in trials:  # every paused trial's checkpoint still loads, at the step it paused
        if t.state == TrialState.PAUSED:
            assert t.checkpoint_id is not None
            _trial_id, step, data = study.store.load_checkpoint(t.checkpoint_id)
            assert step == t.step and load_state(data) == {"done": t.step}
    study.add_trial_tag(2, "upgraded")  # hand actions (schema 0005) work on rows an earlier release wrote
    assert study.trials[2].tags == ["upgraded"] and [a.kind for a in study.actions()] == ["tag"]
    study.optimize(_objective, n_trials=6, show_progress=False)
    after = study.trials
    assert len(after) == 14 and not [t for t in after if t.state == TrialState.FAILED]
