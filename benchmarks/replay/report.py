"""The replay report: per task and number of workers, each method's compute to the table's targets, its final
test regret, the anytime curve, and a verdict for itero's default against each peer.

    python benchmarks/replay/report.py            # reads benchmarks/results/replay/runs.jsonl
                                                  # writes replay.md, replay.json and one PNG per task beside it

Medians over seeds with 95% bootstrap intervals. A verdict compares medians: for compute to a target, the ratio
itero/peer (better when the whole interval is below 1); for test regret, the difference (better when below 0).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.replay.simulate import DEFAULT_METHOD  # noqa: E402

RUNS = ROOT / "benchmarks" / "results" / "replay" / "runs.jsonl"
TARGET_NAMES = {"p90": "90th pct", "p99": "99th pct", "best": "best"}


def load(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _boot(values: np.ndarray, n: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.median(rng.choice(values, (n, len(values))), axis=1)


def median_ci(values: list[float]) -> tuple[float, float, float]:
    """The median and its 95% bootstrap interval."""
    a = np.asarray(values, dtype=float)
    lo, hi = np.percentile(_boot(a), [2.5, 97.5])
    return float(np.median(a)), float(lo), float(hi)


def ratio_verdict(mine: list[float], theirs: list[float]) -> tuple[float, float, float, str]:
    """The ratio of medians mine/theirs with its 95% bootstrap interval, and better/worse/tie."""
    a, b = np.asarray(mine, dtype=float), np.asarray(theirs, dtype=float)
    r = _boot(a, seed=1) / np.maximum(_boot(b, seed=2), 1e-12)
    lo, hi = np.percentile(r, [2.5, 97.5])
    ratio = float(np.median(a) / max(float(np.median(b)), 1e-12))
    verdict = "better" if hi < 1 else "worse" if lo > 1 else "tie"
    return ratio, float(lo), float(hi), verdict


def diff_verdict(mine: list[float], theirs: list[float]) -> tuple[float, float, float, str]:
    a, b = np.asarray(mine, dtype=float), np.asarray(theirs, dtype=float)
    d = _boot(a, seed=1) - _boot(b, seed=2)
    lo, hi = np.percentile(d, [2.5, 97.5])
    verdict = "better" if hi < 0 else "worse" if lo > 0 else "tie"
    return float(np.median(a) - np.median(b)), float(lo), float(hi), verdict


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``{task: {workers: {method: {...}}}}`` with medians, intervals and verdicts."""
    groups: dict[tuple[str, int], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        groups[(r["task"], r["workers"])][r["method"]].append(r)
    out: dict[str, Any] = {}
    for (task, workers), methods in sorted(groups.items()):
        block: dict[str, Any] = {}
        for method, rs in sorted(methods.items()):
            row: dict[str, Any] = {"seeds": len(rs)}
            for t in TARGET_NAMES:
                row[t] = {
                    "steps": median_ci([r["to_target"][t]["steps"] for r in rs]),
                    "reached": sum(r["reached"][t] for r in rs),
                }
            row["test_regret"] = median_ci([r["test_regret"] for r in rs])
            block[method] = row
        mine = methods.get(DEFAULT_METHOD, [])
        if mine:
            for method, rs in methods.items():
                if method == DEFAULT_METHOD:
                    continue
                block[method]["verdict"] = {
                    t: ratio_verdict(
                        [r["to_target"][t]["steps"] for r in mine], [r["to_target"][t]["steps"] for r in rs]
                    )
                    for t in TARGET_NAMES
                } | {"test_regret": diff_verdict([r["test_regret"] for r in mine], [r["test_regret"] for r in rs])}
        out.setdefault(task, {})[str(workers)] = block
    return out


OPTUNA = ("optuna-tpe-sh", "optuna-tpe-hb")
OTHERS = ("syne-asha", "syne-bohb", "dehb")


def seconds_ratios(runs: list[dict[str, Any]], workers: int = 4) -> dict[str, Any]:
    """Issue 13's measure for each itero method: per task, the median simulated training seconds to the
    90th-percentile target over the best Optuna method's (best of TPE + SH and TPE + Hyperband) and over the best
    of Syne Tune's and DEHB's (methods with at least 10 seeds); then the median over tasks."""
    med: dict[tuple[str, str], list[float]] = defaultdict(list)
    regret: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in runs:
        if r["workers"] == workers:
            med[(r["task"], r["method"])].append(r["to_target"]["p90"]["seconds"])
            regret[(r["task"], r["method"])].append(r["test_regret"])
    tasks = sorted({t for t, _ in med})
    mine = sorted({m for _, m in med if m.startswith("itero-")})
    out: dict[str, Any] = {}
    for m in mine:
        rows: dict[str, dict[str, Any]] = {}
        for task in tasks:
            if (task, m) not in med:
                continue

            def best(names: tuple[str, ...], task: str = task) -> tuple[str, float] | None:
                got = [(n, float(np.median(med[(task, n)]))) for n in names if len(med.get((task, n), [])) >= 10]
                return min(got, key=lambda x: x[1]) if got else None

            own = float(np.median(med[(task, m)]))
            opt, oth = best(OPTUNA), best(OTHERS)
            rows[task] = {
                "seeds": len(med[(task, m)]),
                "seconds": own,
                "optuna": opt,
                "ratio_optuna": own / opt[1] if opt else None,
                "others": oth,
                "ratio_others": own / oth[1] if oth else None,
                "test_regret": float(np.median(regret[(task, m)])),
            }
        ro = [r["ratio_optuna"] for r in rows.values() if r["ratio_optuna"] is not None]
        rs = [r["ratio_others"] for r in rows.values() if r["ratio_others"] is not None]
        out[m] = {
            "tasks": rows,
            "median_ratio_optuna": float(np.median(ro)) if ro else None,
            "worst_ratio_optuna": max(ro) if ro else None,
            "median_ratio_others": float(np.median(rs)) if rs else None,
        }
    return out


def ratios_markdown(ratios: dict[str, Any]) -> list[str]:
    lines = [
        "## Compute to the 90th percentile, in simulated training seconds (4 workers)",
        "",
        "Per task: the median seconds (checkpoint loads included) until the returned configuration reaches the "
        "table's 90th-percentile validation value, and its ratio to the best Optuna method's median (best of "
        "TPE + successive halving and TPE + Hyperband) and to the best of Syne Tune ASHA/BOHB and DEHB; below 1 = "
        "itero needs less. The last row of each method is the median of the ratios over tasks (single-objective "
        "tables; the peers do not run on the multi-objective one).",
        "",
    ]
    for m, block in ratios.items():
        lines += [f"**{m}**", "", "| task | seeds | seconds | / best Optuna | / best Syne Tune, DEHB | test regret |"]
        lines.append("| --- | ---: | ---: | --- | --- | ---: |")
        for task, r in block["tasks"].items():
            o = f"{r['ratio_optuna']:.2f} ({r['optuna'][0]})" if r["optuna"] else "—"
            t = f"{r['ratio_others']:.2f} ({r['others'][0]})" if r["others"] else "—"
            lines.append(f"| {task} | {r['seeds']} | {r['seconds']:.2f} | {o} | {t} | {r['test_regret']:.3g} |")
        if block["median_ratio_optuna"] is not None:
            lines.append(
                f"| median over tasks | | | {block['median_ratio_optuna']:.2f} (worst "
                f"{block['worst_ratio_optuna']:.2f}) | {block['median_ratio_others']:.2f} | |"
            )
        lines.append("")
    return lines


def _fmt(m: tuple[float, float, float], digits: int = 3) -> str:
    med, lo, hi = m
    return f"{med:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"


def markdown(summary: dict[str, Any], meta: dict[str, Any], ratios: dict[str, Any] | None = None) -> str:
    lines = [
        "# Replay benchmark: compute to target on recorded learning curves",
        "",
        f"Command: `{meta['command']}` — {meta['runs']} runs. Budget: the compute of {meta['budget']:g} full "
        "trainings per run; a run that never reaches a target counts as twice the budget. Steps to each target "
        "(medians over seeds, 95% bootstrap interval); `reached` = seeds that reached it; test regret of the "
        f"configuration returned. Verdicts compare itero's default (`{DEFAULT_METHOD}`) with each method: "
        "the ratio of median steps (itero/other; below 1 = itero needs less) and the difference of test regrets.",
        "",
    ]
    if ratios:
        lines += ratios_markdown(ratios)
    for task, by_workers in summary.items():
        for workers, block in sorted(by_workers.items(), key=lambda kv: int(kv[0])):
            lines += [f"## {task} — {workers} worker{'s' if workers != '1' else ''}", ""]
            lines.append(
                "| method | seeds | " + " | ".join(f"steps to {n}" for n in TARGET_NAMES.values()) + " | test regret |"
            )
            lines.append("| --- | ---: | " + " | ".join("---" for _ in TARGET_NAMES) + " | --- |")
            for method, row in block.items():
                cells = [f"{_fmt(row[t]['steps'])} ({row[t]['reached']}/{row['seeds']})" for t in TARGET_NAMES]
                lines.append(f"| {method} | {row['seeds']} | " + " | ".join(cells) + f" | {_fmt(row['test_regret'])} |")
            verdicts = [(m, r["verdict"]) for m, r in block.items() if "verdict" in r]
            if verdicts:
                lines += [
                    "",
                    f"`{DEFAULT_METHOD}` against each: ratio of steps to target, difference of test regret",
                    "",
                ]
                lines.append("| against | " + " | ".join(TARGET_NAMES.values()) + " | test regret |")
                lines.append("| --- | " + " | ".join("---" for _ in TARGET_NAMES) + " | --- |")
                for m, v in verdicts:
                    cells = [f"{v[t][0]:.2f} [{v[t][1]:.2f}, {v[t][2]:.2f}] {v[t][3]}" for t in TARGET_NAMES]
                    d = v["test_regret"]
                    lines.append(
                        f"| {m} | " + " | ".join(cells) + f" | {d[0]:+.3g} [{d[1]:+.3g}, {d[2]:+.3g}] {d[3]} |"
                    )
            lines.append("")
    return "\n".join(lines)


def figures(runs: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One PNG per task (the most-seeded worker count): the median over seeds of the incumbent's validation
    regret (against the table's best final validation value) as compute is spent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figures (pip install matplotlib)", file=sys.stderr)
        return []
    paths = []
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        by_task[r["task"]].append(r)
    for task, rs in sorted(by_task.items()):
        workers = max({r["workers"] for r in rs}, key=lambda w: sum(r["workers"] == w for r in rs))
        rs = [r for r in rs if r["workers"] == workers]
        grid = np.linspace(1, max(r["steps"] for r in rs), 300)
        best = rs[0]["targets"]["best"]  # the best final validation value in the table
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for method in sorted({r["method"] for r in rs}):
            curves = []
            for r in (r for r in rs if r["method"] == method):
                imp = r["improvements"]
                steps = np.array([i[0] for i in imp] or [np.inf])
                vals = np.array([i[3] for i in imp] or [np.inf])
                idx = np.searchsorted(steps, grid, side="right") - 1
                curves.append(np.where(idx >= 0, vals[np.clip(idx, 0, None)], np.inf))  # nothing yet: inf
            med = np.median(np.array(curves), axis=0) - best  # each curve only falls, so the median does too
            ax.plot(grid, np.where(np.isfinite(med), np.maximum(med, 1e-6), np.nan), label=method,
                    lw=2.2 if method == DEFAULT_METHOD else 1.2)  # fmt: skip
        ax.set_yscale("log")
        ax.set_xlabel("steps (all workers)")
        ax.set_ylabel("median incumbent validation regret")
        ax.set_title(f"{task}: {workers} workers")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"replay-{task}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=RUNS)
    a = parser.parse_args()
    runs = load(a.runs)
    if not runs:
        parser.error(f"no runs in {a.runs}: run benchmarks/replay/run.py first")
    summary = summarize(runs)
    ratios = seconds_ratios(runs)
    meta = {
        "command": "python benchmarks/replay/run.py && python benchmarks/replay/report.py",
        "runs": len(runs),
        "budget": max(r["budget"] for r in runs),
    }
    out_dir = a.runs.parent
    (out_dir / "replay.json").write_text(
        json.dumps({"meta": meta, "ratios": ratios, "summary": summary}, indent=1, default=_json)
    )
    (out_dir / "replay.md").write_text(markdown(summary, meta, ratios))
    for p in figures(runs, out_dir):
        print(p)
    print(out_dir / "replay.md")


def _json(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    raise TypeError(type(x))


if __name__ == "__main__":
    main()
