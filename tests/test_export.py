"""Exports to MLflow and TensorBoard, read back with each tool's own reader."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import itero
from itero.export import to_mlflow, to_tensorboard
from itero.export._mlflow import export_runs
from itero.schedulers import PBT
from itero.trial import FrozenTrial, TrialCost, TrialState

STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAILED": "FAILED"}


def objective(trial: itero.Trial) -> dict[str, float] | None:
    lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
    trial.suggest_categorical("opt", ["sgd", "adam"])
    trial.suggest_int("width", 4, 32)
    if trial.number == 3:
        raise RuntimeError("boom in training")
    loss = 1.0
    for step in trial.steps(max_steps=4):
        loss *= 1.0 - lr / 2
        trial.report(step, {"loss": loss, "acc": 1.0 - loss})
        if trial.number == 2 and step == 2:
            raise itero.TrialPruned("too slow")
    if trial.number == 4:  # final metrics that differ from the last report
        return {"loss": loss / 2, "test_acc": 0.5}
    return None


def pbt_objective(trial: itero.Trial) -> None:
    lr = trial.suggest_float("lr", 0.01, 1.0, log=True)
    state = trial.restore()
    w = 0.0 if state is None else state["w"]
    for step in trial.steps(max_steps=12):
        w += lr
        trial.report(step, {"loss": 1.0 / (1.0 + w)}, state=lambda w=w: {"w": w})


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> itero.Study:
    """Five trials of four steps: three COMPLETE (one with final metrics of its own), one PRUNED, one FAILED."""
    root = tmp_path_factory.mktemp("study")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ITERO_ARTIFACTS", str(root / "artifacts"))
        s = itero.create_study(
            "quad", storage=f"sqlite:///{root}/itero.db", objectives={"loss": "minimize"},
            sampler={"name": "random", "seed": 0}, scheduler="fifo",
        )  # fmt: skip
        s.optimize(objective, n_trials=5, show_progress=False)
    states = [str(t.state) for t in s.trials]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED", "FAILED", "COMPLETE"], states
    return s


@pytest.fixture(scope="module")
def pbt_study(tmp_path_factory: pytest.TempPathFactory) -> itero.Study:
    root = tmp_path_factory.mktemp("pbt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ITERO_ARTIFACTS", str(root / "artifacts"))
        s = itero.create_study(
            "pbt", storage=f"sqlite:///{root}/itero.db", objectives={"loss": "minimize"},
            sampler={"name": "random", "seed": 1}, scheduler=PBT(max_steps=12, interval=3, population=4, quantile=0.25, generations=1),
        )  # fmt: skip
        s.optimize(pbt_objective, show_progress=False)
    assert any(t.parent_id is not None for t in s.trials), "PBT should have cloned at least one member"
    return s


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow SQLite store for the module (creating its schema takes a second or two); tests use their own
    experiment names."""
    pytest.importorskip("mlflow.tracking", reason="the MLflow export tests need mlflow (pip install mlflow-skinny)")
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    log = logging.getLogger("itero")
    handlers, level = list(log.handlers), log.level
    yield
    log.handlers[:] = handlers  # the CLI adds its handler to the `itero` logger
    log.setLevel(level)


def client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def ms(moment: dt.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def history(c: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in c.get_metric_history(run_id, key))


def experiment_runs(c: Any, name: str) -> list[Any]:
    experiment = c.get_experiment_by_name(name)
    return list(c.search_runs([experiment.experiment_id], max_results=1000))


# ------------------------------------------------------------------------------------------------ MLflow
def test_mlflow_run_per_trial_with_params_step_metrics_tags_and_status(study, mlflow_uri):
    runs = to_mlflow(study, mlflow_uri, experiment="round-trip")
    trials = study.trials
    assert sorted(runs) == [t.number for t in trials] and len(set(runs.values())) == len(trials)
    c = client(mlflow_uri)
    assert c.get_experiment_by_name("round-trip").tags["itero.objectives"] == '{"loss": "minimize"}'
    for t in trials:
        run = c.get_run(runs[t.number])
        assert run.info.run_name == f"trial-{t.number}"
        assert run.info.status == STATUS[str(t.state)]
        assert run.info.start_time == ms(t.datetime_start) and run.info.end_time == ms(t.datetime_complete)
        assert run.data.params == {name: str(value) for name, value in t.params.items()}
        assert {"lr", "opt", "width"} <= set(run.data.params) and run.data.params["opt"] in ("sgd", "adam")
        tags = run.data.tags
        assert tags["itero.study"] == "quad" and tags["itero.trial_number"] == str(t.number)
        assert tags["itero.state"] == str(t.state) and "itero.parent_trial" not in tags
        for metric in ("loss", "acc"):
            reported = [(step, m[metric]) for step, m in sorted(t.reports.items())]
            if t.number != 4 or metric == "acc":
                assert history(c, run.info.run_id, metric) == reported  # float64: exact
        for metric, value in t.metrics.items():  # the run's latest value is the trial's final one
            assert run.data.metrics[metric] == pytest.approx(value)
        assert run.data.metrics["cost.steps"] == t.cost.steps
        assert run.data.metrics["cost.wall_seconds"] == pytest.approx(t.cost.wall_seconds)
        assert run.data.metrics["cost.cpu_seconds"] == pytest.approx(t.cost.cpu_seconds)
        assert run.data.metrics["cost.energy_kwh"] == pytest.approx(t.cost.energy_kwh)
        assert run.data.metrics["cost.co2_g"] == pytest.approx(t.cost.co2_g)
    failed, pruned, last = (c.get_run(runs[n]) for n in (3, 2, 4))
    assert "boom in training" in failed.data.tags["itero.error"] and "loss" not in failed.data.metrics
    assert failed.data.params.keys() == {"lr", "opt", "width"}
    assert "too slow" in pruned.data.tags["itero.error"]
    assert [s for s, _ in history(c, pruned.info.run_id, "loss")] == [1, 2]
    # Trial 4 returned its own final loss: the history keeps every report, then the final value at step 4.
    t4 = trials[4]
    assert history(c, last.info.run_id, "loss") == sorted(
        [(s, m["loss"]) for s, m in t4.reports.items()] + [(4, t4.metrics["loss"])]
    )
    assert last.data.metrics["loss"] == pytest.approx(t4.reports[4]["loss"] / 2)
    assert last.data.metrics["test_acc"] == 0.5


def test_mlflow_re_export_finds_the_runs_and_adds_none(study, mlflow_uri):
    first = export_runs(study, mlflow_uri, experiment="again")
    assert (first.created, first.updated, first.unchanged) == (5, 0, 0)
    c = client(mlflow_uri)
    points = {r.info.run_id: history(c, r.info.run_id, "loss") for r in experiment_runs(c, "again")}
    second = export_runs(study, mlflow_uri, experiment="again")
    assert second.runs == first.runs and (second.created, second.updated, second.unchanged) == (0, 0, 5)
    runs = experiment_runs(c, "again")
    assert len(runs) == 5
    assert {r.info.run_id: history(c, r.info.run_id, "loss") for r in runs} == points
    # Another study exported into the same experiment gets its own runs.
    other = SimpleNamespace(name="other", directions=study.directions, trials=study.trials[:2])
    assert set(to_mlflow(other, mlflow_uri, experiment="again").values()).isdisjoint(first.runs.values())
    assert len(experiment_runs(c, "again")) == 7


def test_mlflow_lineage_tags_name_the_parent_trial(pbt_study, mlflow_uri):
    runs = to_mlflow(pbt_study, mlflow_uri)  # the experiment is named after the study
    c = client(mlflow_uri)
    assert len(experiment_runs(c, "pbt")) == len(pbt_study.trials)
    by_id = {t.id: t for t in pbt_study.trials}
    clones = [t for t in pbt_study.trials if t.parent_id is not None]
    for t in clones:
        tags = c.get_run(runs[t.number]).data.tags
        assert tags["itero.parent_trial"] == str(by_id[t.parent_id].number)
        assert tags["itero.clone_of"] == str(t.system_attrs["clone_of"])
        assert tags["itero.from_step"] == str(t.system_attrs["from_step"])
        assert tags["itero.replaces"] == str(t.system_attrs["replaces"])
        replaced = c.get_run(runs[t.system_attrs["replaces"]])
        assert replaced.info.status == "KILLED" and replaced.data.tags["itero.state"] == "PRUNED"


def _trial(number: int, state: TrialState, reports: dict[int, dict[str, float]], **kw: Any) -> FrozenTrial:
    start = dt.datetime(2025, 1, 2, 3, 4, 5)
    return FrozenTrial(
        id=100 + number, number=number, state=state, params={"lr": 0.1, "bad name!": "x"}, reports=reports,
        metrics=dict(reports[max(reports)]) if reports else {}, step=max(reports, default=0),
        cost=TrialCost(steps=len(reports), wall_seconds=1.5 * len(reports)), datetime_start=start,
        datetime_complete=start + dt.timedelta(minutes=5) if state.is_finished() else None, **kw,
    )  # fmt: skip


def test_mlflow_updates_an_unfinished_trial_in_place(mlflow_uri):
    """A run exported while its trial ran is completed by the next export: new points only, tags replaced."""
    reports = {1: {"loss": 0.9}, 2: {"loss": 0.8}}
    parent = _trial(0, TrialState.COMPLETE, {1: {"loss": 0.5}})
    running = _trial(
        1, TrialState.RUNNING, reports, parent_id=100, system_attrs={"shared_from": 0, "from_step": 1},
        datasets={"digits@v1": "a" * 64}, user_attrs={"note": "x"}, error="retried once",
    )  # fmt: skip
    snapshot = SimpleNamespace(name="hand", directions={"loss": "minimize"}, trials=[parent, running])
    runs = to_mlflow(snapshot, mlflow_uri)
    assert to_mlflow(snapshot, mlflow_uri) == runs  # still running: updated, with nothing new to log
    c = client(mlflow_uri)
    assert history(c, runs[1], "cost.steps") == [(2, 2.0)] and history(c, runs[1], "loss") == [(1, 0.9), (2, 0.8)]
    run = c.get_run(runs[1])
    assert run.info.status == "RUNNING" and run.info.end_time is None
    tags = run.data.tags
    assert tags["itero.parent_trial"] == "0" and tags["itero.shared_from"] == "0" and tags["itero.from_step"] == "1"
    assert tags["itero.dataset.digits_v1"] == "a" * 64 and tags["itero.error"] == "retried once"
    assert run.data.params == {"lr": "0.1", "bad name_": "x"}

    done = _trial(
        1, TrialState.COMPLETE, {**reports, 3: {"loss": 0.7}}, parent_id=100,
        system_attrs={"shared_from": 0, "from_step": 1}, datasets={"digits@v1": "a" * 64},
    )  # fmt: skip
    snapshot.trials = [parent, done]
    again = export_runs(snapshot, mlflow_uri)
    assert again.runs == runs and (again.created, again.updated, again.unchanged) == (0, 1, 1)
    run = c.get_run(runs[1])
    assert run.info.status == "FINISHED" and run.info.end_time == ms(done.datetime_complete)
    assert history(c, runs[1], "loss") == [(1, 0.9), (2, 0.8), (3, 0.7)]
    assert history(c, runs[1], "cost.steps") == [(2, 2.0), (3, 3.0)]  # cost at the step reached
    assert run.data.metrics["cost.steps"] == 3.0 and run.data.metrics["loss"] == pytest.approx(0.7)
    assert "itero.error" not in run.data.tags and run.data.tags["itero.state"] == "COMPLETE"
    assert len(experiment_runs(c, "hand")) == 2


def test_mlflow_paused_trial_is_scheduled_and_a_second_export_changes_nothing(mlflow_uri):
    paused = _trial(0, TrialState.PAUSED, {1: {"loss": 0.9}, 3: {"loss": 0.6}})
    snapshot = SimpleNamespace(name="paused", directions={"loss": "minimize"}, trials=[paused])
    first = export_runs(snapshot, mlflow_uri)
    run = client(mlflow_uri).get_run(first.runs[0])
    assert run.info.status == "SCHEDULED" and run.data.tags["itero.step"] == "3"  # not running: waiting to go on
    again = export_runs(snapshot, mlflow_uri)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    snapshot.trials = [_trial(0, TrialState.PAUSED, {1: {"loss": 0.9}, 3: {"loss": 0.6}, 9: {"loss": 0.5}})]
    resumed = export_runs(snapshot, mlflow_uri)  # promoted and paused again further on: updated
    assert (resumed.updated, resumed.unchanged) == (1, 0)
    assert client(mlflow_uri).get_run(first.runs[0]).data.tags["itero.step"] == "9"


def test_mlflow_batches_stay_within_mlflow_limits(mlflow_uri, monkeypatch):
    """A log_batch holds at most 1000 entities, of which 100 params and 100 tags (recent MlflowClients split
    bigger batches themselves; the export does not count on it)."""
    from mlflow.tracking import MlflowClient

    sizes: list[tuple[int, int, int]] = []
    log_batch = MlflowClient.log_batch

    def spy(self: Any, run_id: str, metrics: Any = (), params: Any = (), tags: Any = (), **kw: Any) -> Any:
        sizes.append((len(metrics), len(params), len(tags)))
        return log_batch(self, run_id, metrics=metrics, params=params, tags=tags, **kw)

    monkeypatch.setattr(MlflowClient, "log_batch", spy)
    reports = {step: {f"m{k}": step * 0.5 + k for k in range(3)} for step in range(1, 501)}
    trial = _trial(0, TrialState.COMPLETE, reports)
    trial.params = {f"p{i:03d}": i for i in range(150)}
    trial.datasets = {f"set{i}": f"{i:064x}" for i in range(120)}
    runs = to_mlflow(SimpleNamespace(name="big", directions={"m0": "minimize"}, trials=[trial]), mlflow_uri)
    assert all(m <= 1000 and p <= 100 and t <= 100 and m + p + t <= 1000 for m, p, t in sizes), sizes
    assert [sum(column) for column in zip(*sizes, strict=True)] == [
        1500 + 5,
        150,
        120 + 4,
    ]  # study, number, state, step
    c = client(mlflow_uri)
    run = c.get_run(runs[0])
    assert len(run.data.params) == 150 and run.data.params["p149"] == "149"
    assert sum(k.startswith("itero.dataset.") for k in run.data.tags) == 120
    for k in range(3):
        assert history(c, runs[0], f"m{k}") == [(s, s * 0.5 + k) for s in range(1, 501)]


def test_mlflow_plain_directory_store(study, tmp_path, monkeypatch):
    """MLflow 3 keeps its file store only behind ``MLFLOW_ALLOW_FILE_STORE=true``; then a directory works."""
    pytest.importorskip("mlflow.tracking")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    runs = to_mlflow(study, str(tmp_path / "mlruns"))
    c = client(str(tmp_path / "mlruns"))
    assert c.get_run(runs[0]).data.params == {k: str(v) for k, v in study.trials[0].params.items()}
    assert history(c, runs[0], "acc") == [(s, m["acc"]) for s, m in sorted(study.trials[0].reports.items())]


def test_missing_packages_say_what_to_install(study, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(ImportError, match=r"pip install mlflow-skinny"):
        to_mlflow(study, f"sqlite:///{tmp_path}/m.db")
    monkeypatch.setitem(sys.modules, "tensorboard.plugins.hparams.summary_v2", None)
    with pytest.raises(ImportError, match=r"pip install tensorboard"):
        to_tensorboard(study, tmp_path / "tb")
    assert not (tmp_path / "tb").exists() and not (tmp_path / "m.db").exists()


# ------------------------------------------------------------------------------------------- TensorBoard
def read_events(directory: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(directory), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def hparams_data(acc: Any, tag: str) -> Any:
    from tensorboard.plugins.hparams import plugin_data_pb2

    return plugin_data_pb2.HParamsPluginData.FromString(acc.PluginTagToContent("hparams")[tag])


def test_tensorboard_hparams_view_and_scalars(study, tmp_path):
    pytest.importorskip("tensorboard", reason="the TensorBoard export tests need tensorboard")
    root = to_tensorboard(study, tmp_path / "tb")
    assert root == tmp_path / "tb"
    experiment = hparams_data(read_events(root), "_hparams_/experiment").experiment
    infos = {h.name: h for h in experiment.hparam_infos}
    assert set(infos) == {"lr", "opt", "width"}
    assert [v.string_value for v in infos["opt"].domain_discrete.values] == ["adam", "sgd"]
    assert (infos["lr"].domain_interval.min_value, infos["lr"].domain_interval.max_value) == (1e-3, 1.0)
    assert (infos["width"].domain_interval.min_value, infos["width"].domain_interval.max_value) == (4, 32)
    metrics = [m.name.tag for m in experiment.metric_infos]
    assert metrics[0] == "loss" and "cost/wall_seconds" in metrics

    status = {"COMPLETE": "STATUS_SUCCESS", "FAILED": "STATUS_FAILURE", "PRUNED": "STATUS_UNKNOWN"}
    for t in study.trials:
        acc = read_events(root / f"trial-{t.number}")
        start = hparams_data(acc, "_hparams_/session_start_info").session_start_info
        assert start.group_name == f"trial-{t.number}"
        assert start.hparams["opt"].string_value == t.params["opt"]
        assert start.hparams["lr"].number_value == t.params["lr"]
        assert start.hparams["width"].number_value == t.params["width"]
        assert start.start_time_secs == pytest.approx(t.datetime_start.timestamp())
        end = hparams_data(acc, "_hparams_/session_end_info").session_end_info
        from tensorboard.plugins.hparams import api_pb2

        assert api_pb2.Status.Name(end.status) == status[str(t.state)]
        scalars = acc.Tags()["scalars"]
        for metric in ("loss", "acc"):
            if not t.reports:
                assert metric not in scalars
                continue
            points = [(e.step, e.value) for e in acc.Scalars(metric)]
            reported = [(s, m[metric]) for s, m in sorted(t.reports.items())]
            if t.number == 4 and metric == "loss":  # the final value comes last, where HParams reads it
                reported.append((4, t.metrics["loss"]))
            assert [s for s, _ in points] == [s for s, _ in reported]  # TensorBoard keeps float32 values
            assert [v for _, v in points] == pytest.approx([v for _, v in reported], rel=1e-6)
        assert acc.Scalars("cost/steps")[-1].value == t.cost.steps
    assert read_events(root / "trial-4").Scalars("test_acc")[-1].value == 0.5

    # Exporting again replaces the previous export's files (one event file per directory), not others.
    (root / "notes.txt").write_text("mine")
    for old in (root / "events.out.tfevents.0000000001.host.1.itero", root / "trial-0/events.out.tfevents.1.h.itero"):
        old.write_bytes(b"")
    to_tensorboard(study, root)
    assert len(list(root.glob("events.out.tfevents.*"))) == 1
    assert all(len(list(d.glob("events.out.tfevents.*"))) == 1 for d in root.glob("trial-*"))
    assert (root / "notes.txt").read_text() == "mine"
    assert len(read_events(root / "trial-0").Scalars("loss")) == 4


def test_tensorboard_mixed_categorical_choices_become_strings(tmp_path):
    pytest.importorskip("tensorboard")
    from itero.space import CategoricalDistribution

    dist = CategoricalDistribution((None, 1, "two"))
    trials = [
        FrozenTrial(id=i, number=i, state=TrialState.COMPLETE, params={"c": c, "flag": i == 0},
                    distributions={"c": dist}, metrics={"loss": float(i)}, reports={1: {"loss": float(i)}}, step=1)
        for i, c in enumerate(dist.choices)
    ]  # fmt: skip
    root = to_tensorboard(SimpleNamespace(name="mixed", directions={"loss": "minimize"}, trials=trials), tmp_path)
    infos = {h.name: h for h in hparams_data(read_events(root), "_hparams_/experiment").experiment.hparam_infos}
    assert sorted(v.string_value for v in infos["c"].domain_discrete.values) == ["1", "None", "two"]
    start = hparams_data(read_events(root / "trial-0"), "_hparams_/session_start_info").session_start_info
    assert start.hparams["c"].string_value == "None" and start.hparams["flag"].bool_value is True


# ----------------------------------------------------------------------------------------------------- CLI
def invoke(*args: str) -> Result:
    from itero.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_cli_exports(study, tmp_path, capfd):
    mlflow_uri = f"sqlite:///{tmp_path}/mlflow.db"  # a new MLflow database: MLflow logs its creation, unless quiet
    url = study.store.url
    result = invoke("export", "mlflow", "quad", "--tracking-uri", mlflow_uri, "--experiment", "cli", "--storage", url)
    assert result.exit_code == 0, result.output
    assert "exported 5 trial(s) of 'quad' to MLflow experiment 'cli'" in result.stdout
    assert "runs:     5 new, 0 updated, 0 unchanged" in result.stdout
    assert f"mlflow ui --backend-store-uri {mlflow_uri}" in result.stdout
    assert result.stderr == "" and capfd.readouterr().err == ""  # MLflow's own logs and warnings stay quiet
    again = invoke("export", "mlflow", "quad", "--tracking-uri", mlflow_uri, "--experiment", "cli", "--storage", url)
    assert again.exit_code == 0 and "0 new, 0 updated, 5 unchanged" in again.stdout
    assert len(experiment_runs(client(mlflow_uri), "cli")) == 5

    logdir = tmp_path / "tb"
    result = invoke("export", "tensorboard", "quad", "--logdir", str(logdir), "--storage", url)
    assert result.exit_code == 0, result.output
    assert f"tensorboard --logdir {logdir}" in result.stdout
    assert sorted(p.name for p in logdir.glob("trial-*")) == [f"trial-{n}" for n in range(5)]


def test_cli_unknown_study_is_the_usual_error(study, tmp_path, mlflow_uri):
    url = study.store.url
    expected = invoke("show", "nope", "--storage", url)
    assert expected.exit_code == 2 and expected.stderr.startswith("error: ")
    for args in (["mlflow", "nope", "--tracking-uri", mlflow_uri], ["tensorboard", "nope", "--logdir", str(tmp_path)]):
        result = invoke("export", *args, "--storage", url)
        assert result.exit_code == 2 and result.stderr == expected.stderr
    missing = invoke(
        "export", "tensorboard", "quad", "--logdir", str(tmp_path), "--storage", f"sqlite:///{tmp_path}/x.db"
    )
    assert missing.exit_code == 2 and "no database at" in missing.stderr and not (tmp_path / "x.db").exists()
