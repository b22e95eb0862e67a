"""Warm start from earlier studies: the source's best configuration first, draws near its best ones while it
ranks the new study's trials, none once it misleads; stored with the study, from YAML, and bad items named."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import itero
from itero.config import parse_config, run_config
from itero.exceptions import ConfigError
from itero.samplers import Source, Transfer
from itero.samplers._transfer import MIN_RANKED, PRIOR_WEIGHT


def _bowl(centre: float):
    def objective(trial: itero.Trial) -> float:
        x = trial.suggest_float("x", -10.0, 10.0)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        return (x - centre) ** 2 + (0.0 if kind == "b" else 4.0)

    return objective


def _source(store, name: str, centre: float, n: int = 40) -> itero.Study:
    study = itero.create_study(
        name, storage=store, objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 0}, scheduler="fifo"
    )
    study.optimize(_bowl(centre), n_trials=n, show_progress=False)
    return study


def _target(store, name: str, sources: list, seed: int = 1) -> itero.Study:
    return itero.create_study(
        name,
        storage=store,
        objectives={"loss": "minimize"},
        sampler={"name": "tpe", "seed": seed},
        scheduler="fifo",
        warm_start_from=sources,
    )


def test_a_good_source_starts_at_its_best_and_keeps_its_weight():
    old = _source("sqlite://", "old", centre=3.0)
    new = _target(old.store, "new", ["old"])
    assert isinstance(new.sampler, Transfer) and new.sampler.weights(new.history) == pytest.approx([PRIOR_WEIGHT])
    new.optimize(_bowl(3.0), n_trials=12, show_progress=False)
    assert new.trials[0].params == old.best_trial.params  # the source's best, exactly
    assert new.sampler.weights(new.history)[0] > 0.6  # it ranks the new study's trials well
    cold = _target(old.store, "cold", [])
    cold.optimize(_bowl(3.0), n_trials=12, show_progress=False)
    assert new.best_value < cold.best_value


def test_a_misleading_source_gets_no_weight_and_no_more_trials():
    old = _source("sqlite://", "old", centre=-8.0)
    new = _target(old.store, "new", ["old"])
    new.optimize(_bowl(8.0), n_trials=MIN_RANKED + 5, show_progress=False)
    assert new.sampler.weights(new.history) == pytest.approx([0.0])
    plans = [new.sampler._plan(new.history, t) for t in new.trials[MIN_RANKED + 1 :]]
    assert plans == [None] * len(plans)  # every later trial is the study's own sampler's


def test_an_overlapping_space_moves_shared_parameters_and_samples_the_rest():
    old = itero.create_study("old", storage="sqlite://", scheduler="fifo")
    for x in (25.0, -20.0):
        trial = old.ask(fixed={"x": x})
        trial.suggest_float("x", -30.0, 30.0)
        old.tell(trial, abs(x - 25.0))
    new = _target(old.store, "new", ["old"])

    def objective(trial: itero.Trial) -> float:
        x = trial.suggest_float("x", -10.0, 10.0)  # 25 is outside: the source's best is clipped to 10
        y = trial.suggest_float("y", 0.0, 1.0)  # the source never had it: the study's sampler draws it
        return x + y

    new.optimize(objective, n_trials=1, show_progress=False)
    assert new.trials[0].params["x"] == 10.0 and 0.0 <= new.trials[0].params["y"] <= 1.0
    with pytest.raises(ConfigError, match="warm_start_from"):
        itero.create_study("x", storage=old.store, sampler=new.sampler)


def test_weights_follow_the_ranking_and_the_sampler_survives_pickling():
    src = Source("old", [{"x": float(i)} for i in range(10)], [float(i) for i in range(10)])
    assert list(src.predict([{"x": 0.2}, {"x": 8.9}], {"x": itero.space.FloatDistribution(0.0, 9.0)})) == [1.0, 8.0]
    copy = pickle.loads(pickle.dumps(Transfer(itero.samplers.TPE(seed=3), [src])))
    assert copy.sources[0].best_params() == {"x": 0.0} and copy.base.seed == 3
    with pytest.raises(ValueError, match="as many losses"):
        Source("bad", [{"x": 1.0}], [])


def test_warm_start_is_stored_and_rebuilt_by_every_peer(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/s.db"
    _source(url, "old", centre=3.0, n=12)
    new = _target(url, "new", [{"study": "old"}])
    assert new.config["warm_start"] == [{"study": "old"}]
    new.optimize(_bowl(3.0), n_trials=4, n_jobs=2, show_progress=False)  # worker processes rebuild it
    again = itero.load_study("new", storage=url)
    assert isinstance(again.sampler, Transfer) and [s.name for s in again.sampler.sources] == ["old"]
    assert len(again.trials) == 4 and np.isfinite(again.best_value)


def test_yaml_warm_start(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/s.db"
    _source(url, "old", centre=3.0, n=12)
    (tmp_path / "obj.py").write_text(
        "def objective(trial):\n    x = trial.suggest_float('x', -10.0, 10.0)\n    return (x - 3.0) ** 2\n"
    )
    study = run_config(
        parse_config(
            {
                "study": "new",
                "storage": url,
                "task": f"{tmp_path}/obj.py:objective",
                "objectives": {"loss": "minimize"},
                "scheduler": "fifo",
                "warm_start": ["old"],
                "budget": {"trials": 3},
            }
        )
    )
    assert study.config["warm_start"] == [{"study": "old"}]
    assert study.trials[0].params["x"] == _best_x(url)


def _best_x(url: str) -> float:
    return itero.load_study("old", storage=url).best_trial.params["x"]


@pytest.mark.parametrize(
    ("item", "words"),
    [
        (["nope"], ["no study named 'nope'", "'old'"]),
        (["new"], ["cannot warm-start from itself"]),
        (["empty"], ["'empty'", "no complete trial"]),
        ([3], ["study names, Study objects"]),
        ([{"study": "old", "storage": 5}], ["storage must be a URL"]),
    ],
)
def test_bad_sources_are_named(item, words):
    old = _source("sqlite://", "old", centre=3.0, n=3)
    itero.create_study("empty", storage=old.store)
    with pytest.raises(ConfigError) as err:
        _target(old.store, "new", item)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_study_whose_source_was_deleted_still_opens(tmp_path: Path, caplog):
    url = f"sqlite:///{tmp_path}/s.db"
    _source(url, "old", centre=3.0, n=6)
    _target(url, "new", ["old"])
    itero.store.Store(url).delete_study("old")
    again = itero.load_study("new", storage=url)
    assert not isinstance(again.sampler, Transfer) and "warm-start source 'old' is gone" in caplog.text
