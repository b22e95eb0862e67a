"""How fast a 10,000-trial study's dashboard page is usable: Playwright drives Debian's Chromium, loads the study
page five times and times until the trial table and the best-so-far plot are drawn (median of the five loads,
after one warm-up load that fills the server's per-version cache). The best-so-far plot is drawn twice: first as
the server's static SVG, then by plotly.js (interactive) once its 4.8 MB are parsed; both times are reported.

    PYTHONPATH=. .venv/bin/python benchmarks/dashboard.py --trials 10000 --out benchmarks/results/dashboard

The study: ASHA (max 27 steps, eta 3) over a 4-parameter synthetic objective that reports two metrics per step,
run with itero's own workers, so that it holds what a real study holds (reports, runs, pauses, promotions).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import itero

CHROMIUM = "/usr/bin/chromium"
NAME = "dashboard-bench"


def objective(trial: itero.Trial) -> None:
    lr = trial.suggest_float("lr", 1e-5, 1.0, log=True)
    width = trial.suggest_int("width", 8, 1024, log=True)
    dropout = trial.suggest_float("dropout", 0.0, 0.6)
    opt = trial.suggest_categorical("optimizer", ["sgd", "adam", "adamw"])
    state = trial.restore()
    for step in trial.steps(27):
        loss = (math.log10(lr) + 2.5) ** 2 / 4 + 3 / (width**0.5) + dropout / 5 + (0.05 if opt == "sgd" else 0.0)
        loss += 1.5 / step
        trial.report(step, {"val_loss": loss, "val_acc": 1 / (1 + loss)}, state={"step": step, "prev": state})


def build(db: Path, trials: int) -> float:
    if db.exists():
        db.unlink()
    study = itero.create_study(
        NAME,
        storage=f"sqlite:///{db}",
        objectives={"val_loss": "minimize"},
        sampler={"name": "tpe", "seed": 0},
        scheduler={"name": "asha", "max_steps": 27, "eta": 3},
    )
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials, show_progress=False)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(db: Path, loads: int) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "itero.cli", "dashboard", "--storage", f"sqlite:///{db}", "--port", str(port)],
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/studies/{NAME}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        table, history, plotly, everything = [], [], [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for i in range(loads + 1):  # the first load warms the server's cache up
                page = browser.new_page(viewport={"width": 1300, "height": 900})
                t0 = time.perf_counter()
                page.goto(url, wait_until="commit")  # not "load": plotly.js (injected early) delays it
                page.wait_for_selector("#trial-table table tbody tr", timeout=60_000)
                t_table = time.perf_counter() - t0
                page.wait_for_selector("#fig-history-steps svg.preview, #fig-history-steps .main-svg", timeout=60_000)
                t_history = time.perf_counter() - t0
                page.wait_for_selector("#fig-history-steps .main-svg", timeout=60_000)
                t_plotly = time.perf_counter() - t0
                page.wait_for_selector("[data-src]:not([data-loaded])", state="detached", timeout=60_000)
                t_all = time.perf_counter() - t0
                page.close()
                if i:
                    table.append(t_table)
                    history.append(t_history)
                    plotly.append(t_plotly)
                    everything.append(t_all)
            latency = live_latency(browser, url, db, loads)
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    return {
        "table_s": table,
        "history_s": history,
        "history_interactive_s": plotly,
        "all_parts_s": everything,
        "live_latency_s": latency,
    }


def live_latency(browser: Any, url: str, db: Path, repeats: int) -> list[float]:
    """Seconds from a trial told to the store (by this process, as a worker would) until its row is in the open
    page's trial table (sorted newest first)."""
    study = itero.load_study(NAME, storage=f"sqlite:///{db}")
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.goto(url)
    page.wait_for_selector("#trial-table table tbody tr", timeout=60_000)
    page.select_option("#table-controls select[name=sort]", "number")
    page.select_option("#table-controls select[name=order]", "desc")
    out = []
    for _ in range(repeats):
        time.sleep(1.5)
        trial = study.ask()
        trial.suggest_float("lr", 1e-5, 1.0, log=True)
        study.tell(trial, {"val_loss": 0.5})
        told = time.perf_counter()
        page.wait_for_selector(f"#trial-table a[href$='/trials/{trial.number}']", timeout=60_000)
        out.append(time.perf_counter() - told)
    page.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--db", type=Path, default=Path("/tmp/itero-dashboard-bench.db"))
    ap.add_argument("--reuse", action="store_true", help="Measure the study already in --db.")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/dashboard"))
    args = ap.parse_args()
    build_s = None if args.reuse else build(args.db, args.trials)
    study = itero.load_study(NAME, storage=f"sqlite:///{args.db}")
    n_trials = len(study.trials)
    n_reports = sum(len(t.reports) for t in study.trials)
    load_before = os.getloadavg()[0]
    times = measure(args.db, args.loads)
    load_after = os.getloadavg()[0]
    result = {
        "trials": n_trials,
        "reports": n_reports,
        "build_seconds": build_s,
        **times,
        "median_table_s": statistics.median(times["table_s"]),  # type: ignore[arg-type]
        "median_history_s": statistics.median(times["history_s"]),  # type: ignore[arg-type]
        "median_history_interactive_s": statistics.median(times["history_interactive_s"]),  # type: ignore[arg-type]
        "median_live_latency_s": statistics.median(times["live_latency_s"]),  # type: ignore[arg-type]
        "median_all_parts_s": statistics.median(times["all_parts_s"]),  # type: ignore[arg-type]
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": [load_before, load_after],
        "command": " ".join(["python", *sys.argv]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dashboard.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Dashboard page load, 10,000-trial study",
        "",
        f"Study: {n_trials:,} trials, {n_reports:,} reports (ASHA, synthetic objective). Chromium (headless), "
        f"{args.loads} loads after one warm-up; seconds from navigation until each part is drawn. Machine: "
        f"{result['machine']}; load average {load_before:.1f} before, {load_after:.1f} after (above the core count, "
        "other work shared the machine and every time is longer than on an idle one).",
        "",
        "| part drawn | median | min | max |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in (
        ("table_s", "trial table"),
        ("history_s", "best-so-far plot (server's SVG)"),
        ("history_interactive_s", "best-so-far plot (plotly, interactive)"),
        ("all_parts_s", "every part (text and data; figures may still be drawing)"),
        ("live_latency_s", "live update: a trial told by another writer, until its row is shown"),
    ):
        xs = times[key]
        lines.append(f"| {label} | {statistics.median(xs):.2f} | {min(xs):.2f} | {max(xs):.2f} |")  # type: ignore[arg-type]
    lines += ["", f"Command: `{result['command']}`", ""]
    (args.out / "dashboard.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
