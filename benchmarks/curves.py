"""How well ``itero.curves`` predicts final values on the recorded learning curves: coverage of its 50% and 90%
intervals and their width, against the naive interval (the last value plus or minus the spread of the study's
final values, at the same level).

    python benchmarks/curves.py                 # -> benchmarks/results/curves.json and curves.md

For each replay table, step ``s`` and study size ``n``: 200 times, ``n`` rows (one training seed each) play the
study's completed trials; the model is fitted on them and predicts the final value of 50 other rows from their
value at ``s``. Nothing is fitted across tables (the model has no offline training: each study fits its own), so
every prediction is for curves the model never saw. Diverged rows are left out of the targets (``auto`` stops
them before asking the model).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from itero.curves import fit, log_scale  # noqa: E402
from itero.tasks._tables import load_table  # noqa: E402

TABLES = ROOT / "benchmarks" / "replay" / "tables"
OUT = ROOT / "benchmarks" / "results"
LEVELS = (0.5, 0.9)


def evaluate(path: Path, step: int, n: int, repeats: int, rng: np.random.Generator) -> dict[str, float]:
    table = load_table(path)
    metric = next(iter(table.objectives))
    sign = 1.0 if table.objectives[metric] == "minimize" else -1.0
    curves = sign * table.curves[metric].reshape(-1, table.max_steps)  # (rows x seeds, steps)
    curves = curves[np.isfinite(curves).all(axis=1)]
    scale = log_scale(curves.reshape(-1))
    early, final = scale(curves[:, step - 1]), scale(curves[:, -1])
    inside = {lv: [] for lv in LEVELS}
    naive_inside = {lv: [] for lv in LEVELS}
    width = {lv: [] for lv in LEVELS}
    naive_width = {lv: [] for lv in LEVELS}
    t0, decisions = time.perf_counter(), 0
    for _ in range(repeats):
        idx = rng.permutation(len(curves))
        study, judged = idx[:n], idx[n : n + 50]
        model = fit(early[study], final[study])
        if model is None:
            continue
        for lv in LEVELS:
            spread = float(np.quantile(final[study], 0.5 + lv / 2) - np.quantile(final[study], 0.5 - lv / 2))
            for j in judged:
                lo, hi = model.predict(float(early[j])).interval(lv)
                decisions += 1
                inside[lv].append(lo <= final[j] <= hi)
                width[lv].append(hi - lo)
                # naive: the last value plus or minus half the spread of the study's final values
                naive_inside[lv].append(early[j] - spread / 2 <= final[j] <= early[j] + spread / 2)
                naive_width[lv].append(spread)
    per = (time.perf_counter() - t0) / max(decisions, 1)
    out: dict[str, float] = {"predict_ms": round(1e3 * per, 4)}
    for lv in LEVELS:
        key = f"{int(lv * 100)}"
        out[f"cover{key}"] = round(float(np.mean(inside[lv])), 3)
        out[f"naive_cover{key}"] = round(float(np.mean(naive_inside[lv])), 3)
        out[f"width{key}"] = round(statistics.median(width[lv]), 4)
        out[f"naive_width{key}"] = round(statistics.median(naive_width[lv]), 4)
    return out


def decision_ms(n_trials: int = 1000, repeats: int = 50) -> float:
    """Milliseconds per ``auto`` decision in a study of ``n_trials`` trials (30 steps; a quarter completed, the
    rest stopped at steps 1, 3 or 9), each decision after a new report (the caches are stale, as in a study)."""
    from itero.schedulers import Auto
    from itero.trial import FrozenTrial, History, TrialState

    rng = np.random.default_rng(0)
    history = History({"a": "minimize"})
    trials = []
    for i in range(n_trials):
        q, steps = rng.uniform(0.1, 1.0), int(rng.choice([1, 3, 9, 30]))
        reports = {s: {"a": q + 1.0 / s} for s in range(1, steps + 1)}
        state = TrialState.COMPLETE if steps == 30 else TrialState.PRUNED
        trials.append(FrozenTrial(id=i + 1, number=i, state=state, reports=reports, step=steps))
    history.upsert(trials)
    auto = Auto(max_steps=30)
    auto.decide(history, trials[-1], 3)  # imports and the first read of every trial's row
    elapsed = 0.0
    for i in range(repeats):
        t = FrozenTrial(
            id=n_trials + i + 1, number=n_trials + i, state=TrialState.RUNNING, reports={3: {"a": 1.2}}, step=3
        )
        history.upsert([t])
        t0 = time.perf_counter()
        auto.decide(history, t, 3)
        elapsed += time.perf_counter() - t0
    return 1e3 * elapsed / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for path in sorted(TABLES.glob("*.jsonl.gz")):
        for step in (1, 3, 9):
            for n in (10, 30):
                r = evaluate(path, step, n, args.repeats, rng)
                rows.append({"task": path.name.split(".")[0], "step": step, "n": n, **r})
                print(rows[-1], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    ms = decision_ms()
    (OUT / "curves.json").write_text(json.dumps({"settings": rows, "auto_decision_ms": round(ms, 3)}, indent=1) + "\n")
    lines = [
        "# Learning-curve model: interval coverage on recorded curves",
        "",
        f"Command: `python benchmarks/curves.py --repeats {args.repeats} --seed {args.seed}`. For each table, step "
        "`s` and study size `n` (completed curves the model is fitted on), the share of unseen curves whose final "
        "value falls in the 50% and 90% intervals, and the median interval width on the model's scale (log of "
        "positive losses). Naive: the value at `s` plus or minus half the spread (at the same level) of the "
        "study's final values. Nominal coverage is 0.50 and 0.90.",
        "",
        "| task | s | n | cover 50 | naive | cover 90 | naive | width 90 | naive | ms per prediction |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['step']} | {r['n']} | {r['cover50']:.2f} | {r['naive_cover50']:.2f} | "
            f"{r['cover90']:.2f} | {r['naive_cover90']:.2f} | {r['width90']:.3g} | {r['naive_width90']:.3g} | "
            f"{r['predict_ms']:.3f} |"
        )
    print(f"auto: {ms:.2f} ms per decision at 1,000 trials")
    covers = [(r["cover50"], r["cover90"]) for r in rows]
    within = sum(abs(a - 0.5) <= 0.05 and abs(b - 0.9) <= 0.05 for a, b in covers)
    narrower = sum(r["width90"] < r["naive_width90"] for r in rows)
    lines += [
        "",
        f"Both levels within ±5 points of nominal: {within} of {len(rows)} settings; 90% interval narrower than "
        f"the naive one: {narrower} of {len(rows)}.",
        "",
        f"Cost of one `auto` decision at 1,000 trials (30 steps each, a new report before each decision): {ms:.2f} ms.",
    ]
    (OUT / "curves.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-1:]))


if __name__ == "__main__":
    main()
