"""What the CLI prints: Rich tables of tasks, studies and trials, and the JSON of ``itero best --json``.

from rich.console import Console
Console().print(trials_table(study.trials, study.directions))
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from itero.study import StudyTotals
    from itero.trial import FrozenTrial

_ARROW = {"maximize": "↑", "minimize": "↓"}
_STATE_STYLE = {
    "COMPLETE": "green",
    "PRUNED": "yellow",
    "FAILED": "red",
    "RUNNING": "cyan",
    "PAUSED": "blue",
    "WAITING": "magenta",
}


# ---------------------------------------------------------------------------------------------- values
def fmt(value: Any) -> str:
    """A short text for a parameter or metric value (floats with 6 significant digits)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def fmt_params(params: Mapping[str, Any]) -> str:
    """``lr=0.01 width=64``."""
    return " ".join(f"{k}={fmt(v)}" for k, v in params.items()) or "-"


def fmt_spec(spec: Any) -> str:
    """``tpe(seed=0)`` for a stored ``{"name": "tpe", "seed": 0}``; options left at None are left out."""
    if not isinstance(spec, Mapping):
        return str(spec)
    options = ", ".join(f"{k}={v!r}" for k, v in spec.items() if k != "name" and v is not None)
    return f"{spec.get('name', '?')}({options})"


def fmt_objectives(directions: Mapping[str, str]) -> str:
    """``val_acc ↑, latency ↓``."""
    return ", ".join(f"{m} {_ARROW.get(d, d)}" for m, d in directions.items())


def fmt_time(ts: float | dt.datetime | None) -> str:
    if ts is None:
        return "-"
    when = ts if isinstance(ts, dt.datetime) else dt.datetime.fromtimestamp(ts)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def fmt_seconds(seconds: float) -> str:
    """``0.42 s``, ``3 min 12 s``, ``1 h 05 min``."""
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def shorten(text: str | None, width: int = 60) -> str:
    """The first line of ``text``, cut to ``width`` characters."""
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def state_text(state: Any) -> Text:
    name = str(state)
    return Text(name, style=_STATE_STYLE.get(name, ""))


def trial_state_text(t: FrozenTrial) -> Text:
    """The trial's state, with what people asked of it: ``WAITING (enqueued)``, ``RUNNING (stop asked)``."""
    text = state_text(t.state)
    if t.requested is not None:
        text.append(f" ({t.requested} asked)")
    elif t.enqueued is not None and t.datetime_start is None and str(t.state) == "WAITING":
        text.append(" (enqueued)")
    return text


def marks(t: FrozenTrial) -> str:
    """``[baseline, lr-sweep] diverged after…``: a trial's tags and the start of its note."""
    tags = f"[{', '.join(t.tags)}]" if t.tags else ""
    return " ".join(x for x in (tags, shorten(t.note, 40)) if x)


def state_counts_text(counts: Mapping[str, int]) -> str:
    """``COMPLETE 5 · FAILED 1`` in the order of a trial's life."""
    order = [s for s in _STATE_STYLE if counts.get(s)]
    return " · ".join(f"{s} {counts[s]}" for s in order) or "no trials"


# ---------------------------------------------------------------------------------------------- tables
def _cells(*values: Any) -> list[Any]:
    """Table cells; plain strings become Text so that names like ``[lr]`` are never read as Rich markup."""
    return [Text(v) if isinstance(v, str) else v for v in values]


def _table(title: str | None, **options: Any) -> Table:
    return Table(title=Text(title, style="bold") if title else None, title_justify="left", **options)


def tasks_table(tasks: Iterable[Any]) -> Table:
    """The built-in tasks: name, paradigm, objectives, max steps, description."""
    table = _table("built-in tasks (use the name as `task:` in a study YAML)")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("paradigm")
    table.add_column("objectives")
    table.add_column("max steps", justify="right")
    table.add_column("description", ratio=1)
    for t in tasks:
        objectives = fmt_objectives(t.objectives)
        table.add_row(*_cells(t.name, t.paradigm, objectives, str(t.max_steps), t.description))
    return table


def studies_table(rows: Sequence[Mapping[str, Any]], url: str) -> Table:
    """``itero ls``: one row per study (name, objectives, trials per state, best, created)."""
    table = _table(f"studies in {url}")
    table.add_column("study", style="bold")
    table.add_column("objectives")
    table.add_column("trials", justify="right")
    table.add_column("states")
    table.add_column("best", overflow="fold")
    table.add_column("created", no_wrap=True)
    for row in rows:
        counts = row["counts"]
        table.add_row(
            *_cells(
                row["name"],
                fmt_objectives(row["directions"]),
                str(sum(counts.values())),
                state_counts_text(counts),
                row["best"],
                fmt_time(row["created_at"]),
            )
        )
    return table


def trials_table(
    trials: Sequence[FrozenTrial],
    directions: Mapping[str, str],
    numbers: Mapping[int, int] | None = None,
    title: str | None = None,
) -> Table:
    """One row per trial: number, state, params, objective metrics, steps, wall and CPU seconds, and the
    parent and error columns when some trial has one. ``numbers`` maps trial ids to numbers (for parents).
    """
    numbers = numbers if numbers is not None else {t.id: t.number for t in trials}
    with_parent = any(t.parent_id is not None for t in trials)
    with_error = any(t.error for t in trials)
    with_marks = any(t.tags or t.note for t in trials)
    table = _table(title)
    table.add_column("#", justify="right", style="bold")
    table.add_column("state")
    table.add_column("params", ratio=1, overflow="fold")
    for metric, direction in directions.items():
        table.add_column(Text(f"{metric} {_ARROW.get(direction, '')}"), justify="right")
    table.add_column("steps", justify="right")
    table.add_column("wall s", justify="right")
    table.add_column("CPU s", justify="right")
    table.add_column("energy", justify="right")
    if with_parent:
        table.add_column("cloned from", justify="right")
    if with_error:
        table.add_column("error", style="red", ratio=1, overflow="fold")
    if with_marks:
        table.add_column("tags / note", overflow="fold")
    for t in trials:
        row = [
            str(t.number),
            trial_state_text(t),
            fmt_params(t.params or t.enqueued or {}),
            *(fmt(t.metrics[m]) if m in t.metrics else "-" for m in directions),
            str(t.cost.steps),
            f"{t.cost.wall_seconds:.2f}",
            f"{t.cost.cpu_seconds:.2f}",
            fmt_energy(t.cost.energy_j),
        ]
        if with_parent:
            row.append(_lineage(t, numbers))
        if with_error:
            row.append(shorten(t.error))
        if with_marks:
            row.append(marks(t))
        table.add_row(*_cells(*row))
    return table


def best_table(trial: FrozenTrial, directions: Mapping[str, str], title: str) -> Table:
    """One trial as key/value rows: objectives first, then other metrics, params and cost."""
    table = _table(title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for metric, direction in directions.items():
        shown = fmt(trial.metrics[metric]) if metric in trial.metrics else "-"
        table.add_row(Text(f"{metric} {_ARROW.get(direction, '')}"), Text(shown, style="bold green"))
    for metric, value in trial.metrics.items():
        if metric not in directions:
            table.add_row(*_cells(metric, fmt(value)))
    for name, value in trial.params.items():
        table.add_row(*_cells(f"param {name}", fmt(value)))
    table.add_row("steps", str(trial.cost.steps))
    table.add_row("wall / CPU s", f"{trial.cost.wall_seconds:.2f} / {trial.cost.cpu_seconds:.2f}")
    table.add_row("energy / CO2", f"{fmt_energy(trial.cost.energy_j)} / {fmt_co2(trial.cost.co2_g)}")
    for name, digest in trial.datasets.items():
        table.add_row(*_cells(f"data {name}", digest[:12]))
    if trial.enqueued is not None:
        table.add_row(*_cells("enqueued", fmt_params(trial.enqueued) if trial.enqueued else "(no parameter given)"))
    if trial.requested is not None:
        table.add_row(*_cells("asked", f"{trial.requested} (not carried out yet)"))
    if trial.tags:
        table.add_row(*_cells("tags", ", ".join(trial.tags)))
    if trial.note:
        table.add_row(*_cells("note", trial.note))
    return table


def actions_lines(records: Sequence[Any]) -> list[str]:
    """``2024-05-01 12:00:03  ana  stop trial 7 (RUNNING): stops at its next report`` per action."""
    return [f"{fmt_time(a.created_at)}  {a.who}  {a.describe()}" for a in records]


def _lineage(t: FrozenTrial, numbers: Mapping[int, int]) -> str:
    """``#3 @6 (replaces #5)``: the donor, the step of its checkpoint, and the member this clone replaced."""
    if t.parent_id is None:
        return "-"
    text = f"#{numbers.get(t.parent_id, t.system_attrs.get('clone_of', '?'))}"
    if "from_step" in t.system_attrs:
        text += f" @{t.system_attrs['from_step']}"
    if "replaces" in t.system_attrs:
        text += f" (replaces #{t.system_attrs['replaces']})"
    return text


def totals_text(totals: StudyTotals) -> str:
    """``trials 6 (6 finished) · steps 18 · CPU 0.12 s · trial wall 0.30 s · run time 1.20 s · checkpoints 2 MB``."""
    text = (
        f"trials {totals.trials} ({totals.finished} finished) · steps {totals.steps} · "
        f"CPU {fmt_seconds(totals.cpu_seconds)} · trial wall {fmt_seconds(totals.wall_seconds)} · "
        f"run time {fmt_seconds(totals.run_seconds)}"
    )
    if totals.energy_j:
        text += f" · energy {fmt_energy(totals.energy_j)} · CO2 {fmt_co2(totals.co2_g)} ({totals.region})"
    if totals.checkpoint_bytes:
        text += f" · checkpoints {fmt_bytes(totals.checkpoint_bytes)}"
    return text


def fmt_energy(joules: float) -> str:
    """``"12 J"``, ``"3.4 Wh"``, ``"1.25 kWh"``: energy in the unit that keeps it readable."""
    if joules < 3600:
        return f"{joules:.3g} J"
    if joules < 3.6e6:
        return f"{joules / 3600:.3g} Wh"
    return f"{joules / 3.6e6:.3g} kWh"


def fmt_co2(grams: float) -> str:
    """``"12 mg"``, ``"3.4 g"``, ``"1.25 kg"`` of CO2eq."""
    if grams < 1:
        return f"{grams * 1e3:.3g} mg"
    if grams < 1e3:
        return f"{grams:.3g} g"
    return f"{grams / 1e3:.3g} kg"


def datasets_lines(records: Sequence[Any], warnings: Sequence[str]) -> list[str]:
    """``train  a1b2c3d4e5f6  array (1797, 64) float64 · trials 0-29`` per dataset version, then warnings."""
    from itero.tracking._datasets import number_ranges

    lines = []
    for r in records:
        shape = r.info.get("shape")
        what = r.kind + (f" {tuple(shape)}" if shape is not None else "")
        if r.info.get("dtype"):
            what += f" {r.info['dtype']}"
        if r.info.get("path"):
            what += f" {r.info['path']}"
        used = f"trials {number_ranges(r.trials)}" if r.trials else "no trial"
        lines.append(f"{r.name}  {r.digest[:12]}  {what} · {used}")
    return lines + [f"warning: {w}" for w in warnings]


def environment_line(env: Any) -> str:
    """``python 3.11.7 · git 3b38a19 (dirty) · host vm · AMD EPYC ×2 · torch 2.13.0 · energy cpu=rapl``."""
    info = env.info
    parts = [f"python {info.get('python', '?')}"]
    git = info.get("git")
    if git:
        parts.append(f"git {str(git.get('commit', ''))[:7]}{' (dirty)' if git.get('dirty') else ''}")
    parts.append(f"host {info.get('host', '?')}")
    parts.append(f"{info.get('cpu', '?')} ×{info.get('cpu_count', '?')}")
    if info.get("gpus"):
        parts.append(", ".join(info["gpus"]))
    packages = info.get("packages", {})
    parts += [f"{p} {packages[p]}" for p in ("torch", "numpy") if p in packages]
    energy = info.get("energy", {}).get("method")
    if energy:
        parts.append(f"energy {energy}")
    parts.append(f"{env.workers} worker(s)")
    return " · ".join(parts)


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


# ---------------------------------------------------------------------------------------------- JSON
def _number(value: Any) -> Any:
    """JSON has no NaN or infinity: those become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def trial_json(trial: FrozenTrial, numbers: Mapping[int, int] | None = None) -> dict[str, Any]:
    """A trial as plain JSON data (``itero best --json``)."""
    parent = None if trial.parent_id is None else (numbers or {}).get(trial.parent_id)
    return {
        "number": trial.number,
        "state": str(trial.state),
        "params": {k: _number(v) for k, v in trial.params.items()},
        "metrics": {k: _number(v) for k, v in trial.metrics.items()},
        "step": trial.step,
        "steps": trial.cost.steps,
        "wall_seconds": trial.cost.wall_seconds,
        "cpu_seconds": trial.cost.cpu_seconds,
        "energy_kwh": trial.cost.energy_kwh,
        "co2_g": trial.cost.co2_g,
        "datasets": dict(trial.datasets),
        "parent": parent,
        "started": trial.datetime_start.isoformat() if trial.datetime_start else None,
        "completed": trial.datetime_complete.isoformat() if trial.datetime_complete else None,
    }
