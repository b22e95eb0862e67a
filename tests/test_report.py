"""``itero report`` and ``itero.plot``: the figures a study calls for, plain messages when there is nothing to
plot, escaping of everything the user named, a self-contained file, and the CLI's exit codes."""

from __future__ import annotations

import base64
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest
from typer.testing import CliRunner

import itero
import itero.plot
import itero.report
from itero.cli import app

XSS = "<script>alert(1)</script>"


# ---------------------------------------------------------------------------------------------- studies
def curves(trial: itero.Trial) -> None:
    x = trial.suggest_float("x", 0.0, 1.0)
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    opt = trial.suggest_categorical("optimizer", ["sgd", "adam"])
    itero.track_dataset("train", np.arange(20))
    trial.restore()
    for step in trial.steps(max_steps=4):
        trial.report(step, {"loss": x + lr + 0.1 * (opt == "sgd") + 1.0 / step}, state=lambda s=step: {"step": s})


def two_objectives(trial: itero.Trial) -> None:
    x = trial.suggest_float("x", 0.0, 1.0)
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    for step in trial.steps(max_steps=3):
        trial.report(step, {"err": x + 1.0 / step + (kind == "c"), "size": (1.0 - x) ** 2})


def pbt_objective(trial: itero.Trial) -> None:
    lr = trial.suggest_float("lr", 0.01, 1.0, log=True)
    state = trial.restore()
    w = 0.0 if state is None else state["w"]
    for step in trial.steps(max_steps=12):
        w += lr
        trial.report(step, {"loss": 1.0 / (1.0 + w)}, state=lambda w=w: {"w": w})


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('report') / 'itero.db'}"


@pytest.fixture(scope="module")
def asha(url: str) -> itero.Study:
    study = itero.create_study(
        "asha", storage=url, objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 0},
        scheduler={"name": "asha", "max_steps": 4, "eta": 2},
    )  # fmt: skip
    study.optimize(curves, n_trials=30, show_progress=False)
    assert len(study.history.completed()) >= 5 and any(str(t.state) == "PAUSED" for t in study.trials)
    return study


@pytest.fixture(scope="module")
def pareto(url: str) -> itero.Study:
    study = itero.create_study(
        "pareto", storage=url, objectives={"err": "minimize", "size": "minimize"}, sampler={"name": "random", "seed": 1}
    )
    study.optimize(two_objectives, n_trials=20, show_progress=False)
    return study


@pytest.fixture(scope="module")
def pbt(url: str) -> itero.Study:
    study = itero.create_study(
        "pbt", storage=url, objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 1},
        scheduler={"name": "pbt", "max_steps": 12, "interval": 3, "population": 4, "quantile": 0.25,
                   "generations": 1},
    )  # fmt: skip
    study.optimize(pbt_objective, show_progress=False)
    assert any(t.parent_id is not None for t in study.trials)
    return study


# ---------------------------------------------------------------------------------------------- parsing
class Page(HTMLParser):
    """Element ids, plot containers, section ids and script tags of a report."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.plots: list[str] = []
        self.sections: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[str] = []  # every src and href of the page's own tags (not inside scripts)
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "div" and "plot" in (a.get("class") or "").split():
            self.plots.append(str(a["id"]))
        if tag == "section":
            self.sections.append(str(a["id"]))
        if tag == "script":
            self.scripts.append(a)
        self.links += [str(v) for k, v in attrs if k in ("src", "href") and v]


def figure(text: str, fig_id: str) -> dict[str, Any]:
    """The plotly JSON of figure ``fig_id`` as embedded in the report."""
    found = re.search(rf'<script type="application/json" id="{fig_id}-data">(.*?)</script>', text, re.S)
    assert found, f"no data for {fig_id}"
    return json.loads(found.group(1))


def names(fig: dict[str, Any]) -> list[str]:
    return [str(t.get("name", "")) for t in fig["data"]]


# ---------------------------------------------------------------------------------------------- tests
def test_single_objective_report_has_history_curves_parallel_and_importance(asha: itero.Study):
    text = itero.report.build_report(asha)
    page = Page(text)
    assert page.plots == ["fig-history-steps", "fig-history-energy", "fig-curves", "fig-parallel", "fig-importance"]
    assert "pareto" not in page.sections and "fig-pareto" not in page.ids
    assert page.sections == ["summary", "cost", "history", "curves", "params", "lineage", "data", "trials"]
    steps, energy = figure(text, "fig-history-steps"), figure(text, "fig-history-energy")
    assert "steps" in steps["layout"]["xaxis"]["title"]["text"]
    assert re.search(r"energy \((kWh|Wh|J)", energy["layout"]["xaxis"]["title"]["text"])
    assert names(steps) == ["completed trial", "best so far"]
    # pauses and promotions of ASHA are drawn on the learning curves
    legend = " ".join(names(figure(text, "fig-curves")))
    assert "paused, then promoted (resumed)" in legend and "paused (not resumed)" in legend
    importance = figure(text, "fig-importance")
    assert set(importance["data"][0]["y"]) == {"x", "lr", "optimizer"}
    parallel = figure(text, "fig-parallel")["data"][0]
    cat = next(d for d in parallel["dimensions"] if d["label"] == "optimizer")
    assert cat["ticktext"] == ["sgd", "adam"]  # categoricals as labelled ticks
    for dim in parallel["dimensions"]:  # numeric axes span the data (5% margin), not past it
        if "ticktext" not in dim or "(log)" in dim["label"]:
            raw = dim["values"]  # plotly may send arrays as base64 ("bdata")
            values = list(np.frombuffer(base64.b64decode(raw["bdata"]), raw["dtype"])) if "bdata" in raw else raw
            lo, hi = dim["range"]
            assert lo <= min(values) and max(values) <= hi and hi - lo <= 1.11 * (max(values) - min(values)) + 2e-3
    # cost, dataset and environment come from the tracking records
    totals = asha.totals()
    assert f"{totals.steps:,}" in text and "train" in text and "cpu=" in text
    assert asha.data_versions()[0].digest[:12] in text
    assert 'id="fig-lineage-none"' in text  # ASHA makes no clones


def test_two_objective_report_adds_the_pareto_front(pareto: itero.Study):
    text = itero.report.build_report(pareto)
    page = Page(text)
    assert "fig-pareto" in page.plots and "pareto" in page.sections
    fig = figure(text, "fig-pareto")
    front = next(t for t in fig["data"] if t["name"].startswith("Pareto front"))
    assert front["name"] == f"Pareto front ({len(pareto.pareto_front())})"
    assert {"fig-history-steps", "fig-curves", "fig-parallel", "fig-importance"} <= set(page.plots)
    assert "★" in text  # the front is marked in the trials table


def test_pbt_lineage_lists_each_clone_with_parent_step_and_replaced_trial(pbt: itero.Study):
    text = itero.report.build_report(pbt)
    assert "fig-lineage" in Page(text).plots
    numbers = {t.id: t.number for t in pbt.trials}
    for t in pbt.trials:
        if t.parent_id is not None:
            a = t.system_attrs
            row = (
                f'<td class="n">#{t.number}</td>.*?<td>clone</td><td class="n">#{numbers[t.parent_id]}</td>'
                f'<td class="n">{a["from_step"]}</td><td class="n">#{a["replaces"]}</td>'
            )
            assert re.search(row, text), row
    assert "clone from a parent's checkpoint" in " ".join(names(figure(text, "fig-curves")))


def test_a_study_without_completed_trials_says_so_and_still_shows_cost_and_environment(url: str):
    study = itero.create_study(
        "paused-only", storage=url, objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 0},
        scheduler={"name": "asha", "max_steps": 9, "eta": 3},
    )  # fmt: skip
    study.optimize(curves, max_steps_total=2, show_progress=False)  # two trials, paused at their first rung
    assert not study.history.completed()
    text = itero.report.build_report(study)
    page = Page(text)
    assert "no-complete" in page.ids and "No trial has completed yet" in text
    assert page.plots == ["fig-curves"]  # the reports of paused trials are still curves
    for none in ("fig-history-steps-none", "fig-parallel-none", "fig-importance-none"):
        assert none in page.ids
    assert "cost" in page.sections and "Environments (1)" in text
    empty = itero.create_study("empty", storage=url, objectives={"loss": "minimize"})
    text = itero.report.build_report(empty)
    assert "No trial has completed yet" in text and "no trials at all" in text and Page(text).plots == []


def test_failed_trials_show_their_last_error(url: str):
    def broken(trial: itero.Trial) -> None:
        trial.suggest_float("x", 0.0, 1.0)
        raise RuntimeError("the objective is broken [on purpose]")

    study = itero.create_study("broken", storage=url, objectives={"loss": "minimize"})
    study.optimize(broken, n_trials=2, show_progress=False)
    text = itero.report.build_report(study)
    assert "2 trial(s) failed" in text and "the objective is broken [on purpose]" in text
    assert "No trial has completed yet" in text


def test_everything_the_user_named_is_escaped(tmp_path: Path):
    def objective(trial: itero.Trial) -> None:
        x = trial.suggest_float(XSS, 0.0, 1.0)
        trial.suggest_categorical("choice", [XSS, "plain"])
        itero.track_dataset(XSS, np.arange(5))
        for step in trial.steps(max_steps=2):
            trial.report(step, {XSS: x + 1.0 / step})
        if trial.number == 2:
            raise RuntimeError(XSS)

    study = itero.create_study(
        XSS,
        storage=f"sqlite:///{tmp_path}/x.db",
        scheduler="fifo",
        objectives={XSS: "minimize"},
        sampler={"name": "random", "seed": 0},
    )
    study.optimize(objective, n_trials=7, show_progress=False)
    text = itero.report.build_report(study)
    assert "<script>alert" not in text.lower() and "</script><" not in text.replace("</script>\n<", "")
    assert text.lower().count("<script") == text.lower().count("</script>")  # no tag closed from inside data
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # shown, escaped: name, dataset, error
    assert len(Page(text).plots) == 5  # and the page still has all its figures


def test_the_report_is_self_contained(asha: itero.Study):
    text = itero.report.build_report(asha)
    page = Page(text)
    assert not [s for s in page.scripts if s.get("src")]
    assert page.links and all(link.startswith("#") for link in page.links)  # the navigation, nothing else
    outside_scripts = re.sub(r"<script.*?</script>", "", text, flags=re.S)
    assert not re.search(r"https?://", outside_scripts)
    assert len([s for s in page.scripts if s.get("type") == "text/javascript"]) == 1  # plotly.js, once
    assert "Plotly" in text and text.count("plotly.js v") <= 1


def test_plot_functions_return_figures_even_when_there_is_nothing_to_plot(asha: itero.Study, url: str):
    empty = itero.create_study("nothing", storage=url, objectives={"loss": "minimize"})
    for study in (asha, empty):
        figures = [
            itero.plot.optimization_history(study),
            itero.plot.optimization_history(study, x="energy"),
            itero.plot.learning_curves(study),
            itero.plot.parallel_coordinates(study),
            itero.plot.param_importances(study),
            itero.plot.pareto_front(study),
            itero.plot.lineage(study),
        ]
        assert all(isinstance(f, go.Figure) for f in figures)
    assert "one objective" in itero.plot.pareto_front(asha).layout.annotations[0].text
    assert "No trial has completed" in itero.plot.optimization_history(empty).layout.annotations[0].text
    with pytest.raises(ValueError, match="x must be 'steps' or 'energy'"):
        itero.plot.optimization_history(asha, x="time")  # type: ignore[arg-type]


def test_importance_needs_five_trials_and_scikit_learn(asha: itero.Study, url: str, monkeypatch: pytest.MonkeyPatch):
    few = itero.create_study("few", storage=url, scheduler="fifo", objectives={"err": "minimize", "size": "minimize"})
    few.optimize(two_objectives, n_trials=3, show_progress=False)
    assert "needs at least 5 completed trials (this study has 3)" in itero.plot.importances(itero.plot.snapshot(few))
    result = itero.plot.importances(asha)
    assert isinstance(result, dict) and abs(sum(result["loss"].values()) - 1.0) < 1e-9
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)  # as if scikit-learn were not installed
    text = itero.report.build_report(asha)
    assert "needs scikit-learn" in text and "fig-importance" not in Page(text).plots


def test_cli_writes_the_report_and_names_existing_studies_for_an_unknown_one(
    asha: itero.Study, url: str, tmp_path: Path
):
    out = tmp_path / "sub" / "report.html"
    result = CliRunner().invoke(app, ["report", "asha", "-o", str(out), "--storage", url], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert out.exists() and str(out.resolve()) in result.stdout and " MB)" in result.stdout
    assert Page(out.read_text()).plots[0] == "fig-history-steps"
    result = CliRunner().invoke(app, ["report", "nope", "-o", str(tmp_path / "x.html"), "--storage", url])
    assert result.exit_code == 2 and not (tmp_path / "x.html").exists()
    assert "no study named 'nope'" in result.stderr and "'asha'" in result.stderr and "'pareto'" in result.stderr


def test_a_pareto_axis_over_decades_is_logarithmic(tmp_path: Path):
    study = itero.create_study(
        "flops", storage=f"sqlite:///{tmp_path}/f.db", objectives={"err": "minimize", "flops": "minimize"},
        sampler={"name": "random", "seed": 0},
    )  # fmt: skip

    def costs(trial: itero.Trial) -> dict[str, float]:
        width = trial.suggest_int("width", 8, 4096, log=True)
        return {"err": 1.0 / width**0.3, "flops": float(width) ** 2.5}

    study.optimize(costs, n_trials=20, show_progress=False)
    layout = figure(itero.report.build_report(study), "fig-pareto")["layout"]
    assert layout["yaxis"]["type"] == "log" and "log scale" in layout["yaxis"]["title"]["text"]
    assert layout["xaxis"].get("type") != "log"  # err spans less than three decades
