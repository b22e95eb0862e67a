"""Time ``itero report`` end to end on a stored study of 10,000 trials (target: under 10 seconds).

The study is built once with ``study.optimize`` on SQLite (a trivial objective: four parameters, five reports per
trial, one tracked dataset) and cached beside the system's temporary files, not in the repository. Each repeat
runs the ``itero`` command in a fresh process (imports, store read, figures, plotly.js inlined, file written);
the median of the repeats is the figure. A breakdown of one in-process build shows where the time goes.

    python benchmarks/report_time.py                 # writes benchmarks/results/report-time.{json,md}
    python benchmarks/report_time.py --trials 2000 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
CACHE = Path(tempfile.gettempdir()) / "itero-bench-report"
TARGET_SECONDS = 10.0


def build(n: int, db: Path) -> str:
    """The storage URL of a study of ``n`` trials (built once; reused while the file exists)."""
    import numpy as np

    import itero

    url = f"sqlite:///{db}"
    name = f"report-{n}"
    if db.exists():
        try:
            if len(itero.load_study(name, storage=url, sampler="random", scheduler="fifo").trials) == n:
                return url
        except itero.StudyNotFoundError:
            pass
        db.unlink()
    db.parent.mkdir(parents=True, exist_ok=True)

    def objective(trial: itero.Trial) -> None:
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        dropout = trial.suggest_float("dropout", 0.0, 0.5)
        width = trial.suggest_int("width", 16, 512, log=True)
        opt = trial.suggest_categorical("optimizer", ["sgd", "adam", "rmsprop"])
        quality = abs(np.log10(lr) + 2.5) + dropout + 64 / width + (0.3 if opt == "sgd" else 0.0)
        for step in trial.steps(max_steps=5):
            trial.report(step, {"loss": quality + 1.0 / step, "acc": 1.0 / (1.0 + quality + 1.0 / step)})

    itero.track_dataset("train", np.arange(1000))  # recorded on every trial this process runs
    study = itero.create_study(
        name, storage=url, objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 0}
    )
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n, show_progress=False)
    print(f"built {n} trials in {time.perf_counter() - t0:.0f} s: {db}", file=sys.stderr)
    return url


def command(name: str, url: str, out: Path) -> list[str]:
    exe = Path(sys.executable).with_name("itero")
    prefix = [str(exe)] if exe.exists() else [sys.executable, "-c", "from itero.cli import main; main()"]
    return [*prefix, "report", name, "-o", str(out), "--storage", url]


def breakdown(name: str, url: str) -> dict[str, float]:
    """Seconds per phase of one in-process build (imports excluded: they are in the end-to-end figure)."""
    import itero
    from itero.plot import snapshot
    from itero.report import _sections as s
    from itero.report import build_report
    from itero.report._html import Figures
    from itero.report._provenance import data_and_environment

    out: dict[str, float] = {}
    t = time.perf_counter()
    study = itero.load_study(name, storage=url, sampler="random", scheduler="fifo")
    snap = snapshot(study)
    out["read store (trials, runs)"] = time.perf_counter() - t
    ctx = s.Context(study, snap, study.totals(), study.config, Figures())
    for label, section in [
        ("summary", s.header),
        ("cost", s.cost),
        ("history (2 figures)", s.history),
        ("learning curves", s.curves),
        ("parameters (parallel, importance)", s.params),
        ("lineage", s.lineage),
        ("data and environment", data_and_environment),
        ("trials table", s.trials),
    ]:
        t = time.perf_counter()
        section(ctx)
        out[label] = time.perf_counter() - t
    t = time.perf_counter()
    build_report(study)
    out["whole build_report (in process)"] = time.perf_counter() - t
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=CACHE, help="folder of the cached study (not committed)")
    args = parser.parse_args()
    if args.repeats < 1 or args.trials < 1:
        parser.error("--trials and --repeats must be at least 1")
    db = args.cache / f"report-{args.trials}.db"
    url = build(args.trials, db)
    name = f"report-{args.trials}"
    out = args.cache / f"report-{args.trials}.html"
    cmd = command(name, url, out)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "ITERO_STORAGE": url})
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    phases = breakdown(name, url)
    import plotly

    import itero

    result: dict[str, Any] = {
        "command": " ".join(["python benchmarks/report_time.py", *sys.argv[1:]]),
        "report_command": f"itero report {name} -o report.html --storage sqlite:///{db.name}",
        "trials": args.trials,
        "reports_per_trial": 5,
        "repeats": args.repeats,
        "seconds": times,
        "median_seconds": median,
        "target_seconds": TARGET_SECONDS,
        "file_bytes": out.stat().st_size,
        "breakdown_seconds": phases,
        "itero": itero.__version__,
        "plotly": plotly.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "report-time.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "report-time.md").write_text(markdown(result))
    print(markdown(result))


def markdown(r: dict[str, Any]) -> str:
    verdict = "within" if r["median_seconds"] < r["target_seconds"] else "OVER"
    lines = [
        f"# `itero report` on {r['trials']:,} trials",
        "",
        f"Command: `{r['command'].strip()}` — itero {r['itero']}, plotly {r['plotly']}, Python {r['python']}, "
        f"{r['machine']}, {r['date']}.",
        "",
        f"A stored SQLite study of {r['trials']:,} trials with {r['reports_per_trial']} reports each (random sampler, "
        "FIFO, one tracked dataset); each repeat runs "
        f"`{r['report_command']}` in a fresh process.",
        "",
        "| repeats | median s | all runs s | target s | file |",
        "| ---: | ---: | --- | ---: | ---: |",
        f"| {r['repeats']} | {r['median_seconds']:.2f} ({verdict} target) | "
        f"{', '.join(f'{s:.2f}' for s in r['seconds'])} | {r['target_seconds']:.0f} | "
        f"{r['file_bytes'] / 1e6:.1f} MB |",
        "",
        "Where the time goes (one in-process build after the imports):",
        "",
        "| phase | s |",
        "| --- | ---: |",
        *[f"| {k} | {v:.2f} |" for k, v in r["breakdown_seconds"].items()],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
