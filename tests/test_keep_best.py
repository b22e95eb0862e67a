"""The best trial keeps its weights: its last step's state is saved when it beats the study's best (or joins the
Pareto front), kept while it stays best, given back by ``study.restore()`` and ``itero export-model``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import itero
from itero.cli import app
from itero.exceptions import ArtifactError


def _objective(trial: itero.Trial) -> float:
    x = trial.suggest_float("x", -1.0, 1.0)
    weights = torch.full((3,), x)
    for step in trial.steps(max_steps=3):
        weights = weights + 1.0
        trial.report(step, {"loss": x * x}, state=lambda w=weights, s=step: {"w": w.clone(), "step": s})
    return x * x


def test_the_best_trial_keeps_its_last_state_and_the_others_none(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/k.db"
    study = itero.create_study(
        "keep", storage=url, objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 0}, scheduler="fifo"
    )
    study.optimize(_objective, n_trials=8, show_progress=False)
    best = study.best_trial
    state = study.restore()
    assert state["step"] == 3 and torch.equal(state["w"], torch.full((3,), best.params["x"]) + 3.0)
    others = [t for t in study.trials if t.id != best.id]
    for t in others:  # no longer best: collected
        with pytest.raises(ArtifactError):
            study.restore(t.number)
    assert 0 < study.totals().checkpoint_bytes < 2_000  # one small state, not eight
    out = tmp_path / "best.pt"
    result = CliRunner().invoke(app, ["export-model", "keep", "--storage", url, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert torch.equal(torch.load(out, weights_only=True)["w"], state["w"])


def test_each_trial_of_the_front_keeps_its_state(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/f.db"
    study = itero.create_study(
        "front", storage=url, objectives={"a": "minimize", "b": "minimize"}, sampler={"name": "random", "seed": 1}
    )

    def two(trial: itero.Trial) -> None:
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in trial.steps(max_steps=2):
            trial.report(step, {"a": x, "b": (1 - x) ** 2 + 0.1 * step}, state={"x": x})

    study.optimize(two, n_trials=6, show_progress=False)
    front = study.pareto_front()
    assert len(front) >= 2 and all(study.restore(t)["x"] == t.params["x"] for t in front)
    result = CliRunner().invoke(app, ["export-model", "front", "--storage", url, "-o", str(tmp_path / "w.json")])
    assert result.exit_code == 2 and "choose a trial of its front with --trial" in result.stderr
