"""The sections of a report, each a function of the study's :class:`Context` returning HTML.

Every value that comes from the user (names, params, metrics, datasets, errors, environment) goes through
``esc``; figures go through ``Figures.add`` (JSON with ``<``, ``>`` and ``&`` escaped).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from itero.plot._curves import curves_figure
from itero.plot._data import Snapshot
from itero.plot._history import history_figure
from itero.plot._lineage import lineage_figure, lineage_rows
from itero.plot._params import importance_figure, parallel_figure
from itero.plot._pareto import pareto_figure
from itero.plot._slices import contour_figure, edf_figure, slice_figure
from itero.report import _format as f
from itero.report._format import esc
from itero.report._html import Figures, badge, card, section, table
from itero.trial import FrozenTrial

if TYPE_CHECKING:
    from itero.study import Study, StudyTotals

STATES = ("COMPLETE", "PRUNED", "FAILED", "PAUSED", "RUNNING", "WAITING")
LINEAGE_ROWS = 200


@dataclass
class Context:
    """What the sections share: the study, one read of its trials and runs, its totals and settings."""

    study: Study
    snap: Snapshot
    totals: StudyTotals
    config: dict[str, Any]
    figures: Figures
    top: int = 50
    made_by: str = "report"  # the header says "<made_by> by itero <version>"


# ---------------------------------------------------------------------------------------------- helpers
def params_text(params: Mapping[str, Any], width: int = 160) -> str:
    return esc(f.shorten(", ".join(f"{k}={f.number(v)}" for k, v in params.items()), width))


def best_of(snap: Snapshot) -> FrozenTrial | None:
    """The best completed trial on the first objective (the earliest on ties)."""
    if not snap.completed:
        return None
    m = snap.objectives[0]
    sign = snap.sign(m)
    return min(snap.completed, key=lambda t: (sign * t.metrics[m], t.number))


# ---------------------------------------------------------------------------------------------- sections
def header(ctx: Context) -> str:
    """Title, summary cards, and the warnings a reader must not miss (data versions, nothing completed)."""
    snap, config, totals = ctx.snap, ctx.config, ctx.totals
    counts = Counter(str(t.state) for t in snap.trials)
    states = " ".join(badge(s, f"{s.lower()} {counts[s]:,}") for s in STATES if counts[s]) or "none yet"
    objectives = "<br>".join(f"{esc(m)} <span class='d'>({esc(d)})</span>" for m, d in snap.directions.items())
    cards = [
        card("Objectives", objectives),
        card("Trials", f"{len(snap.trials):,}", states),
        _best_card(snap),
        _spec_card("Sampler", config.get("sampler", "-")),
        _spec_card("Scheduler", config.get("scheduler", "-")),
        card(
            "Compute", esc(f"{totals.steps:,} steps"), esc(f"{f.energy(totals.energy_j)} · {f.co2(totals.co2_g)} CO₂e")
        ),
    ]
    if config.get("params"):
        cards.append(card("Fixed parameters", params_text(config["params"]), wide=True))
    if config.get("space"):
        cards.append(card("Space overrides", esc(f.shorten(space_text(config["space"]), 200)), wide=True))
    narrowed = ctx.study.narrowed
    if narrowed:
        text = "; ".join(f"{name} {n.describe()}" for name, n in narrowed.items())
        cards.append(card("Narrowed mid-study", esc(f.shorten(text, 240)), wide=True))
    if config.get("prior"):
        cards.append(card("Prior", esc(f.shorten(space_text(config["prior"]), 200)), wide=True))
    if config.get("share_weights"):
        cards.append(card("Shared weights across", esc(", ".join(map(str, config["share_weights"])))))
    warnings = _warnings(ctx, counts)
    storage = ctx.study.storage_url
    created = esc(f.when(ctx.study.created_at))
    from itero import __version__

    return (
        f"<header><h1>Study {esc(snap.name)}</h1>"
        f'<div class="sub">storage <code>{esc(storage)}</code> · created {created} · '
        f"{esc(ctx.made_by)} by itero {esc(__version__)}</div></header>\n"
        f'<section id="summary"><h2>Summary</h2>{warnings}<div class="cards">{"".join(cards)}</div></section>'
    )


def space_text(space: Mapping[str, Any]) -> str:
    """``{"lr": {"low": 1e-4, "high": 0.1, "log": True}}`` as ``lr in [0.0001, 0.1] (log)``; other entries as
    ``key: value``."""

    def one(name: str, v: Any) -> str:
        if isinstance(v, Mapping) and "choices" in v:
            return f"{name} in {{{', '.join(map(str, v['choices']))}}}"
        if isinstance(v, Mapping) and "low" in v and "high" in v:
            log = " (log)" if v.get("log") else ""
            return f"{name} in [{f.number(v['low'])}, {f.number(v['high'])}]{log}"
        if isinstance(v, Mapping):
            return f"{name}: " + ", ".join(f"{k}={f.number(x)}" for k, x in v.items())
        return f"{name}: {f.number(v)}"

    return "; ".join(one(k, v) for k, v in space.items())


def _spec_card(key: str, value: Any) -> str:
    """The name large, the options small (a TPE spec has eight of them)."""
    if isinstance(value, Mapping):
        options = ", ".join(f"{k}={v}" for k, v in value.items() if k != "name" and v is not None)
        return card(key, esc(value.get("name", "?")), esc(f.shorten(options, 160)))
    return card(key, esc(value))


def _best_card(snap: Snapshot) -> str:
    if len(snap.directions) > 1:
        if not snap.front:
            return card("Pareto front", "none yet", "no trial has completed")
        return card("Pareto front", f"{len(snap.front):,} trials", f"of {len(snap.completed):,} completed", wide=True)
    best = best_of(snap)
    if best is None:
        return card("Best trial", "none yet", "no trial has completed")
    m = snap.objectives[0]
    value = f"#{best.number} · {esc(m)} = {esc(f.number(best.metrics[m]))}"
    return card("Best trial", value, params_text(best.params), wide=True)


def _warnings(ctx: Context, counts: Counter[str]) -> str:
    out = []
    lines = ctx.study.data_warnings()
    if lines:
        items = "".join(f"<li>{esc(line)}</li>" for line in lines)
        out.append(
            '<div class="warning bad" id="data-warnings"><strong>Trials saw different data — their values may not '
            f"be comparable</strong><ul>{items}</ul></div>"
        )
    snap = ctx.snap
    if not snap.completed:
        parts = ", ".join(f"{counts[s]:,} {s.lower()}" for s in STATES if counts[s]) or "no trials at all"
        out.append(
            '<div class="warning bad" id="no-complete"><strong>No trial has completed yet</strong>'
            f"This study has {parts}. Results (history, parameters, Pareto front) appear once a trial completes; "
            "cost, learning curves and environments are shown below.</div>"
        )
    failed = [t for t in snap.trials if t.error and str(t.state) == "FAILED"]
    if failed:
        last = failed[-1]
        out.append(
            f'<div class="warning" id="failures"><strong>{len(failed):,} trial(s) failed</strong>'
            f"Last error (trial #{last.number}): <code>{esc(f.shorten(last.error or '', 400))}</code></div>"
        )
    return "".join(out)


def cost(ctx: Context) -> str:
    """Steps, hours, energy and CO₂, checkpoint disk use, and how energy was measured."""
    t = ctx.totals
    done = len(ctx.snap.completed)
    per_trial = f"{t.steps / done:,.1f} per completed trial" if done else "no trial has completed yet"
    intensity = f"≈ {t.co2_g / t.energy_kwh:.0f} g/kWh" if t.energy_j > 0 else ""
    cards = [
        card("Training steps", f"{t.steps:,}", esc(per_trial)),
        card(
            "Trial wall time",
            esc(f.duration(t.wall_seconds)),
            esc(f"{t.wall_seconds / 3600:.3g} h, summed over trials"),
        ),
        card("Trial CPU time", esc(f.duration(t.cpu_seconds)), esc(f"{t.cpu_hours:.3g} CPU hours")),
        card("Optimize runs wall time", esc(f.duration(t.run_seconds)), "all workers, from start to end"),
        card("Energy", esc(f.energy(t.energy_j)), esc(f.kwh(t.energy_j))),
        card("CO₂-equivalent", esc(f.co2(t.co2_g)), esc(f"{t.co2_kg:.3g} kg · region {t.region} {intensity}")),
        card("Checkpoints on disk", esc(f.size(t.checkpoint_bytes)), "kept for paused or running trials"),
    ]
    methods = Counter(r.energy_method or "not measured" for r in ctx.snap.runs)
    method_rows = [(f"<code>{esc(m)}</code>", f"{n:,}") for m, n in methods.most_common()]
    how = (
        "<h3>How energy was measured</h3>" + table(["method", "runs"], method_rows, [False, True], cls="kv")
        if method_rows
        else '<p class="note">No trial run was recorded, so there is no energy measurement.</p>'
    )
    note = (
        '<p class="note">Trial time sums the runs of every trial (a resumed trial has several runs); energy and '
        "CO₂ are summed over the same runs. CO₂ uses the carbon intensity of the study's region.</p>"
    )
    return section("cost", "Cost", f'<div class="cards">{"".join(cards)}</div>{how}{note}')


def history(ctx: Context) -> str:
    by_steps, by_energy = history_figure(ctx.snap, "steps"), history_figure(ctx.snap, "energy")
    if isinstance(by_steps, str) and by_steps == by_energy:  # one note, not the same one twice
        return section("history", "Optimisation history", ctx.figures.add("fig-history-steps", by_steps))
    steps = ctx.figures.add("fig-history-steps", by_steps)
    energy = ctx.figures.add("fig-history-energy", by_energy)
    note = ""
    if len(ctx.snap.directions) > 1:
        note = f'<p class="note">The study has several objectives; this shows the first, {esc(ctx.snap.objectives[0])}.</p>'
    return section(
        "history",
        "Optimisation history",
        '<p class="note">Each dot is a completed trial, placed at the compute the whole study had spent when it '
        f'completed; the line is the best value so far.</p>{note}<div class="grid2">{steps}{energy}</div>',
    )


def curves(ctx: Context) -> str:
    fig = ctx.figures.add("fig-curves", curves_figure(ctx.snap))
    note = (
        '<p class="note">One line per trial, coloured by its final state. Triangles: a paused trial that was later '
        "promoted (resumed); open circles: paused and not resumed; dotted links with a star: a trial that started "
        "from another trial's checkpoint (PBT clone or shared start); grey diamonds at the last step: where a trial "
        "stopped or paused early would have ended, with an 80% interval, predicted from the completed trials' "
        "curves (hidden in big studies until you click the legend). Click legend entries to hide them.</p>"
    )
    return section("curves", "Learning curves", note + fig)


def params(ctx: Context) -> str:
    parallel = ctx.figures.add("fig-parallel", parallel_figure(ctx.snap))
    importance = ctx.figures.add("fig-importance", importance_figure(ctx.snap))
    note = (
        '<p class="note">Drag along an axis to select a range; the lines of the other trials fade. Importance is the '
        "share of a random forest's impurity decrease due to each parameter (fixed seed): a guide to which "
        "parameters matter, not a proof.</p>"
    )
    return section("params", "Parameters", f"{note}{parallel}<h3>Parameter importance</h3>{importance}")


def explore(ctx: Context) -> str:
    """Slices of the objective along each parameter, a contour over two, and the objective's distribution."""
    slices = ctx.figures.add("fig-slices", slice_figure(ctx.snap))
    contour = ctx.figures.add("fig-contour", contour_figure(ctx.snap))
    edf = ctx.figures.add("fig-edf", edf_figure(ctx.snap))
    note = (
        '<p class="note">Each dot is a completed trial (darker: later). The contour interpolates linearly between '
        "trials (on a log scale for log parameters) and is blank outside them; the distribution shows what share "
        "of the trials reached each value.</p>"
    )
    return section("explore", "Slices and distribution", f'{note}{slices}<div class="grid2">{contour}{edf}</div>')


def pareto(ctx: Context) -> str:
    fig = ctx.figures.add("fig-pareto", pareto_figure(ctx.snap))
    note = (
        '<p class="note">A trial is on the Pareto front when no other completed trial is at least as good on every '
        "objective and better on one. Pick among them by the trade-off you need; the trials table lists them "
        "first.</p>"
    )
    return section("pareto", "Pareto front", note + fig)


def lineage(ctx: Context) -> str:
    rows = lineage_rows(ctx.snap)
    if not rows:
        body = '<p class="empty" id="fig-lineage-none">No trial started from another trial\'s checkpoint (no PBT clones or shared-weight starts).</p>'
        return section("lineage", "Warm-start lineage", body)
    shown = rows[:LINEAGE_ROWS]
    cells = [
        (
            f"#{r.child}",
            badge(r.child_state, r.child_state.lower()),
            esc(r.kind),
            "-" if r.parent is None else f"#{r.parent}",
            "-" if r.from_step is None else f"{r.from_step:,}",
            "-" if r.replaces is None else f"#{r.replaces}",
        )
        for r in shown
    ]
    more = f'<p class="note">First {LINEAGE_ROWS} of {len(rows):,} rows.</p>' if len(rows) > len(shown) else ""
    tbl = table(
        ["child", "state", "kind", "parent", "from step", "replaces"], cells, [True, False, False, True, True, True]
    )
    fig = ctx.figures.add("fig-lineage", lineage_figure(ctx.snap))
    return section(
        "lineage", "Warm-start lineage", f'{fig}<div class="scroll" style="max-height:360px">{tbl}</div>{more}'
    )


def trials(ctx: Context) -> str:
    """The top trials by objective (Pareto front first), then the others by number."""
    snap = ctx.snap
    shown = ranked(snap)[: ctx.top]
    if not shown:
        return section("trials", "Trials", '<p class="empty">The study has no trials yet.</p>')
    order = "the Pareto front (★) first, then by " if len(snap.objectives) > 1 and snap.front else "by "
    sign_word = "highest" if snap.directions[snap.objectives[0]] == "maximize" else "lowest"
    caption = (
        f'<p class="note">{len(shown):,} of {len(snap.trials):,} trials: completed ones {order}'
        f"{esc(snap.objectives[0])} ({sign_word} first), then the others, newest first.</p>"
    )
    return section("trials", "Trials", caption + f'<div class="scroll">{trial_table(snap, shown)}</div>')


def trial_table(snap: Snapshot, shown: Sequence[FrozenTrial], link: Callable[[FrozenTrial], str] | None = None) -> str:
    """The table of ``shown`` trials: number, state, objectives and other metrics, params, steps, energy, where it
    started from, its error. ``link(t)``: the URL the trial's number links to (none without it)."""
    objectives = snap.objectives
    names = list(dict.fromkeys(n for t in shown for n in t.params))
    extra = list(dict.fromkeys(m for t in shown for m in t.metrics if m not in snap.directions))[:4]
    numbers = snap.number_of
    front = {t.id for t in snap.front} if len(objectives) > 1 else set()

    def metric(m: str) -> Callable[[FrozenTrial], str]:
        return lambda t: esc(f.number(t.metrics[m])) if m in t.metrics else ""

    def param(n: str) -> Callable[[FrozenTrial], str]:
        return lambda t: esc(f.number(t.params[n])) if n in t.params else ""

    def parent(t: FrozenTrial) -> str:
        if t.parent_id is None:
            return ""
        return f"#{numbers.get(t.parent_id, '?')} @{esc(t.system_attrs.get('from_step', '?'))}"

    def error(t: FrozenTrial) -> str:
        return f'<span class="err" title="{esc(t.error)}">{esc(f.shorten(t.error, 80))}</span>' if t.error else ""

    def numeric(n: str) -> bool:
        return all(_is_number(t.params.get(n)) for t in shown)

    def number_cell(t: FrozenTrial) -> str:
        text = f"{t.number}{' ★' if t.id in front else ''}"
        return f'<a href="{esc(link(t))}">{text}</a>' if link is not None else text

    # (title, cell, right-aligned)
    columns: list[tuple[str, Callable[[FrozenTrial], str], bool]] = [
        ("#", number_cell, True),
        ("state", lambda t: badge(str(t.state), str(t.state).lower()), False),
        *[(m, metric(m), True) for m in (*objectives, *extra)],
    ]
    if len(names) > 8:
        columns.append(("params", lambda t: params_text(t.params, 200), False))
    else:
        columns += [(n, param(n), numeric(n)) for n in names]
    columns += [
        ("steps", lambda t: f"{t.step:,}", True),
        ("energy", lambda t: esc(f.energy(t.cost.energy_j)), True),
        ("started from", parent, False),
        ("error / reason", error, False),
    ]
    cells = [[cell(t) for t in shown] for _, cell, _ in columns]
    keep = [i for i, col in enumerate(cells) if i < 2 or any(col)]
    header = [columns[i][0] for i in keep]
    aligned = [columns[i][2] for i in keep]
    rows = [[cells[i][r] for i in keep] for r in range(len(shown))]
    return table(header, rows, aligned)


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def ranked(snap: Snapshot) -> list[FrozenTrial]:
    """Completed trials first (the Pareto front first, then by the first objective, best first), then the others,
    newest first."""
    m = snap.objectives[0]
    sign = snap.sign(m)
    front = {t.id for t in snap.front} if len(snap.objectives) > 1 else set()
    done = sorted(snap.completed, key=lambda t: (t.id not in front, sign * t.metrics[m], t.number))
    done_ids = {t.id for t in done}
    rest = sorted((t for t in snap.trials if t.id not in done_ids), key=lambda t: -t.number)
    return done + rest


# ---------------------------------------------------------------------------------------------- small helpers
