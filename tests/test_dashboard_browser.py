"""The dashboard in a real browser (headless Chromium through Playwright), served by ``itero dashboard`` in its
own process: pages load with no console error and no request outside the app, every figure draws, a trial run by
another process shows up live, and a configuration enqueued from the page is run by a worker."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

import itero

TOKEN = "browser-test-token"
NAME = "live <b>study</b>"

OBJECTIVE = """
import itero, math

def objective(trial):
    lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    for step in trial.steps(max_steps=4):
        trial.report(step, {"loss": (math.log10(lr) + 1.5) ** 2 + 1 / step + (kind == "a"), "size": lr})

def run(url, name, n):
    itero.load_study(name, storage=url).optimize(objective, n_trials=n, show_progress=False)
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[tuple[str, str, Path]]:
    """``(base URL, storage URL, folder with the objective's module)`` of a dashboard serving a 2-objective study."""
    folder = tmp_path_factory.mktemp("dash")
    (folder / "dash_objective.py").write_text(textwrap.dedent(OBJECTIVE))
    url = f"sqlite:///{folder / 'itero.db'}"
    itero.create_study(
        NAME,
        storage=url,
        objectives={"loss": "minimize", "size": "minimize"},
        sampler={"name": "random", "seed": 0},
        scheduler="fifo",  # every trial completes: the enqueued one too
    )
    work(folder, url, 12)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ITERO_DASHBOARD_TOKEN": f"tester={TOKEN}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "itero.cli", "dashboard", "--storage", url, "--port", str(port), "--allow-write"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"the dashboard did not start: {server.stderr.read() if server.stderr else ''}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", url, folder
    finally:
        server.terminate()
        server.wait(10)


def work(folder: Path, url: str, n: int) -> None:
    """Run ``n`` trials of the study in another process (a peer worker, as from another machine)."""
    code = f"import sys; sys.path.insert(0, {str(folder)!r}); import dash_objective as d; d.run({url!r}, {NAME!r}, {n})"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # SwiftShader gives WebGL (parallel coordinates) to a headless browser without a GPU.
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--enable-unsafe-swiftshader"])
        try:
            yield b
        finally:
            b.close()


def open_page(browser: object, url: str) -> tuple[object, list[str], list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_selector("[data-src]:not([data-loaded])", state="detached", timeout=20_000)
    return page, errors, requests


def draw_every_figure(page: object) -> None:
    """Scroll each figure into view (figures are drawn when on screen) and wait until all are drawn."""
    plots = page.locator("div.plot")  # type: ignore[attr-defined]
    for i in range(plots.count()):
        plots.nth(i).scroll_into_view_if_needed()
    page.wait_for_selector("div.plot:not(.js-plotly-plot)", state="detached", timeout=30_000)  # type: ignore[attr-defined]


def test_pages_load_draw_every_figure_and_stay_inside_the_app(served, browser, tmp_path: Path):
    base, _, _ = served
    study_url = f"{base}/studies/{quote(NAME, safe='')}"
    for url, what in [(base + "/", "studies"), (study_url, "study"), (study_url + "/trials/3", "trial")]:
        page, errors, requests = open_page(browser, url)
        expected = page.locator("div.plot").count()
        draw_every_figure(page)
        page.wait_for_timeout(300)
        assert page.locator("div.plot .main-svg").count() >= expected
        assert page.locator("text=WebGL is not supported").count() == 0  # parallel coordinates drew
        if what == "study":
            assert expected >= 6  # history x2, curves, parallel, importance, Pareto
            assert page.locator("#trial-table tbody tr").count() == 12
            assert page.locator("h1").first.inner_text() == f"Study {NAME}"  # the name is text, not markup
        if what == "trial":
            assert expected >= 1 and "Trial #3" in page.locator("h1").inner_text()
        page.screenshot(path=str(tmp_path / f"{what}.png"), full_page=True)
        assert not errors, (what, errors)
        assert all(r.startswith((base, "data:", "blob:")) for r in requests), requests
        page.close()


def test_a_trial_from_another_process_shows_up_live(served, browser):
    base, url, folder = served
    page, errors, _ = open_page(browser, f"{base}/studies/{quote(NAME, safe='')}")
    page.select_option("#table-controls select[name=sort]", "number")
    page.select_option("#table-controls select[name=order]", "desc")
    page.wait_for_timeout(300)
    before = len(itero.load_study(NAME, storage=url).trials)
    work(folder, url, 1)
    started = time.perf_counter()
    page.wait_for_selector(f"#trial-table a[href$='/trials/{before}']", timeout=10_000)
    assert time.perf_counter() - started < 3.0  # polled once a second
    assert not errors, errors
    page.close()


def test_an_enqueue_from_the_page_is_run_by_a_worker(served, browser):
    base, url, folder = served
    page, errors, _ = open_page(browser, f"{base}/studies/{quote(NAME, safe='')}")
    page.on("dialog", lambda d: d.accept(TOKEN))  # the page asks for the token once per tab
    page.fill("#enqueue-form textarea", '{"lr": 0.0123, "kind": "b"}')
    page.click("#enqueue-form button")
    page.wait_for_selector("#toast.show", timeout=5_000)
    toast = page.locator("#toast").inner_text()
    match = re.search(r"trial #(\d+) \(as tester\)", toast)
    assert match, toast
    number = int(match.group(1))
    work(folder, url, 1)
    study = itero.load_study(NAME, storage=url)
    ran = study.trials[number]
    assert ran.params == {"lr": 0.0123, "kind": "b"} and ran.state.value == "COMPLETE"
    assert [(a.who, a.kind) for a in study.actions()] == [("tester", "enqueue")]
    page.wait_for_selector("#actions td:has-text('tester')", timeout=5_000)
    assert not errors, errors
    page.close()


def test_a_narrow_from_the_page_holds_for_the_next_trials(served, browser):
    base, url, folder = served
    page, errors, _ = open_page(browser, f"{base}/studies/{quote(NAME, safe='')}")
    page.on("dialog", lambda d: d.accept(TOKEN))
    page.select_option("#narrow-form select[name=name]", "lr")
    page.fill("#narrow-form input[name=low]", "0.01")
    page.fill("#narrow-form input[name=high]", "0.02")
    page.click("#narrow-form button[type=submit]")
    page.wait_for_selector("#toast.show", timeout=5_000)
    assert "narrow lr" in page.locator("#toast").inner_text() and "(as tester)" in page.locator("#toast").inner_text()
    before = len(itero.load_study(NAME, storage=url).trials)
    work(folder, url, 3)
    after = itero.load_study(NAME, storage=url).trials[before:]
    assert len(after) == 3 and all(0.01 <= t.params["lr"] <= 0.02 for t in after)
    assert not errors, errors
    page.close()
