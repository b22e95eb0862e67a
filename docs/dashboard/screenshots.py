"""The screenshots of the dashboard in this folder: a study of the built-in ``digits-mlp`` task (real training,
Hyperband, 40 trials, one trial enqueued and one noted by hand) served by ``itero dashboard``, shot by headless
Chromium (Debian's, through Playwright).

    PYTHONPATH=. .venv/bin/python docs/dashboard/screenshots.py      # about two minutes on two cores
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import itero
from itero.tasks import load_objective

HERE = Path(__file__).parent
NAME = "digits-mlp-hyperband"
TOKEN = "screenshot-token"


def build(url: str) -> None:
    study = itero.create_study(
        NAME,
        storage=url,
        objectives={"val_acc": "maximize"},
        sampler={"name": "tpe", "seed": 0},
        scheduler={"name": "hyperband", "max_steps": 20, "eta": 3},
    )
    objective = load_objective("digits-mlp")
    study.enqueue({"lr": 0.01, "optimizer": "adam"}, who="ana")
    study.optimize(objective, n_trials=40, show_progress=True)
    best = study.best_trial.number
    study.set_trial_note(best, "best so far: try a wider net around this lr", who="ana")
    study.add_trial_tag(best, "candidate", who="ana")


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'itero.db'}"
    build(url)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ITERO_DASHBOARD_TOKEN": f"ana={TOKEN}"}
    cmd = [sys.executable, "-m", "itero.cli", "dashboard", "--storage", url, "--port", str(port), "--allow-write"]
    server = subprocess.Popen(cmd, env=env)
    try:
        time.sleep(3)
        from playwright.sync_api import sync_playwright

        base = f"http://127.0.0.1:{port}"
        study = itero.load_study(NAME, storage=url)
        pages = {
            "studies": base + "/",
            "study": f"{base}/studies/{quote(NAME)}",
            "trial": f"{base}/studies/{quote(NAME)}/trials/{study.best_trial.number}",
        }
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--enable-unsafe-swiftshader"]
            )
            for what, address in pages.items():
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(address)
                page.wait_for_selector("[data-src]:not([data-loaded])", state="detached", timeout=30_000)
                plots = page.locator("div.plot")  # figures are drawn when scrolled into view
                for i in range(plots.count()):
                    plots.nth(i).scroll_into_view_if_needed()
                page.wait_for_selector("div.plot:not(.js-plotly-plot)", state="detached", timeout=30_000)
                page.evaluate("window.scrollTo(0, 0)")
                page.wait_for_timeout(800)
                page.screenshot(path=str(HERE / f"{what}.png"), full_page=what != "study")
                if what == "study":
                    page.screenshot(path=str(HERE / "study-full.png"), full_page=True)
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    print(f"wrote {', '.join(sorted(p.name for p in HERE.glob('*.png')))} in {HERE}")


if __name__ == "__main__":
    main()
