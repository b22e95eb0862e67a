"""The written report in a real browser (headless Chromium through Playwright): no console errors, no network
request, and every figure rendered. Skips when Chromium or the ``playwright`` package is missing, except in CI
(the ``chromium`` fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest

import itero
import itero.report


def two_objectives(trial: itero.Trial) -> None:
    x = trial.suggest_float("x", 0.0, 1.0)
    lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    for step in trial.steps(max_steps=3):
        trial.report(step, {"err": x + lr + 1.0 / step + (kind == "b"), "size": (1.0 - x) ** 2})


def pbt_objective(trial: itero.Trial) -> None:
    lr = trial.suggest_float("lr", 0.01, 1.0, log=True)
    state = trial.restore()
    w = 0.0 if state is None else state["w"]
    for step in trial.steps(max_steps=9):
        w += lr
        trial.report(step, {"loss": 1.0 / (1.0 + w)}, state=lambda w=w: {"w": w})


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A two-objective study (history, curves, parallel, importance, Pareto) and a PBT one (lineage)."""
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'itero.db'}"
    two = itero.create_study(
        "two", storage=url, objectives={"err": "minimize", "size": "minimize"}, sampler={"name": "random", "seed": 0}
    )
    two.optimize(two_objectives, n_trials=16, show_progress=False)
    pbt = itero.create_study(
        "pbt", storage=url, objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 1},
        scheduler={"name": "pbt", "max_steps": 9, "interval": 3, "population": 4, "quantile": 0.25,
                   "generations": 1},
    )  # fmt: skip
    pbt.optimize(pbt_objective, show_progress=False)
    return [itero.report.write_report(s, folder / f"{s.name}.html") for s in (two, pbt)]


def test_every_figure_renders_offline_without_console_errors(reports: list[Path], tmp_path: Path, chromium: str):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            for path in reports:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                requests: list[str] = []
                page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.on("request", lambda r, requests=requests: requests.append(r.url))
                page.goto(path.as_uri())
                expected = page.locator("div.plot").count()
                try:
                    page.wait_for_function(
                        f"document.querySelectorAll('.js-plotly-plot').length === {expected}", timeout=15_000
                    )
                except PlaywrightTimeout:
                    pytest.fail(f"{path.name}: not every figure rendered; console errors: {errors}")
                page.wait_for_timeout(300)  # let WebGL traces draw
                shot = tmp_path / f"{path.stem}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert expected >= 5, path.name  # history x2, curves, parallel, and Pareto or lineage
                assert page.locator("#fig-pareto.js-plotly-plot, #fig-lineage.js-plotly-plot").count() == 1
                assert page.locator(".js-plotly-plot").count() == expected
                assert page.locator("div.plot .main-svg").count() >= expected  # each drew its SVG layers
                assert not errors, errors
                assert all(url.startswith(("file:", "data:", "blob:")) for url in requests), requests
                assert shot.stat().st_size > 50_000
                page.close()
        finally:
            browser.close()
