"""The HTML of the dashboard's pages. Pages are shells: their parts are fetched as JSON (``data-src``) by
``static/dashboard.js`` and redrawn when the study's version changes. No inline script (the Content-Security-Policy
forbids it); every user-named value goes through ``esc``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import quote

from itero.dashboard._views import SECTIONS, study_url, trial_url
from itero.plot._curves import curves_figure
from itero.plot._data import Snapshot
from itero.report import _format as f
from itero.report._format import esc
from itero.report._html import Figures, badge, card, kv, table
from itero.report._provenance import environment_html
from itero.store import ActionRecord, TrialRunRecord
from itero.study import Study, StudySummary, StudyTotals
from itero.trial import FrozenTrial

#: The most metrics a trial page draws a learning curve for.
CURVE_METRICS = 4


def layout(title: str, body: str, *, crumbs: Sequence[tuple[str, str]] = (), attrs: str = "", writable: bool) -> str:
    """The whole document: ``crumbs`` [(url, text)] in the top bar, ``attrs`` on ``<body>`` for the script."""
    links = '<a href="/">Studies</a>' + "".join(f' <span>›</span> <a href="{esc(u)}">{esc(t)}</a>' for u, t in crumbs)
    mode = (
        '<span class="mode write" title="changes need the token">write · <a href="#" id="token-link">token</a></span>'
        if writable
        else '<span class="mode" title="start with --allow-write to change studies">read-only</span>'
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · itero</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/dashboard.css">'
        # plotly.js (4.8 MB) is loaded by dashboard.js once the first parts are drawn: parsing it takes seconds
        # on a slow machine, and tables, cards and the server's previews need none of it.
        '<script src="/static/dashboard.js" defer></script></head>\n'
        f'<body {attrs} data-writable="{int(writable)}"><nav><div class="inner">{links}'
        f'<span class="live" id="live" title="updates as workers write">●&nbsp;live</span>{mode}</div></nav>\n'
        f'<main>\n{body}\n</main><div id="toast" role="status"></div></body></html>\n'
    )


# ---------------------------------------------------------------------------------------------- studies
def studies_page(writable: bool) -> str:
    body = (
        '<header><h1>Studies</h1><div class="sub">every study of this store, updated as workers write</div></header>'
        '<section><div data-src="/api/studies" id="studies"><p class="note">Loading…</p></div></section>'
    )
    return layout("Studies", body, attrs='data-poll="/api/studies/version"', writable=writable)


class StudyRow(NamedTuple):
    """One line of the studies list: the study's summary, when a trial last started or ended, its totals."""

    summary: StudySummary
    last_activity: float | None
    totals: StudyTotals


def studies_table(rows: Sequence[StudyRow]) -> str:
    if not rows:
        return (
            '<p class="empty">This store has no study yet. Start one with <code>itero run study.yaml</code> or '
            "<code>itero.create_study(...)</code>.</p>"
        )
    cells = []
    for s, last, totals in rows:
        states = " ".join(badge(k, f"{k.lower()} {n:,}") for k, n in sorted(s.counts.items()) if n)
        if len(s.directions) > 1:
            best = f"{len(s.best):,} on the Pareto front" if s.best else "-"
        elif s.best:
            m = next(iter(s.directions))
            best = f"{esc(m)} = {esc(f.number(s.best[0].metrics.get(m)))} (#{s.best[0].number})"
        else:
            best = "-"
        cost = f"{totals.steps:,} steps · {f.energy(totals.energy_j)} · {f.co2(totals.co2_g)} CO₂e"
        cells.append(
            [
                f'<a href="{esc(study_url(s.name))}">{esc(s.name)}</a>',
                ", ".join(f"{esc(m)} ({esc(d)})" for m, d in s.directions.items()),
                states or "none yet",
                best,
                esc(cost),
                esc(f.when(last)),
                esc(f.when(s.created_at)),
            ]
        )
    header = ["study", "objectives", "trials", "best", "cost", "last activity", "created"]
    return table(header, cells)


# ---------------------------------------------------------------------------------------------- study
def study_page(study: Study, writable: bool) -> str:
    name = study.name
    base = f"/api/studies/{quote(name, safe='')}"
    nav = "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title, _ in SECTIONS if sid != "summary")
    parts = [f'<div class="jump">{nav}<a href="#trials">Trials</a><a href="#actions">Actions</a></div>']
    for sid, _title, _ in SECTIONS:
        if sid == "pareto" and len(study.directions) < 2:
            continue
        parts.append(f'<div id="part-{sid}" data-src="{esc(base)}/sections/{sid}"><p class="note">Loading…</p></div>')
        if sid == "history":  # the summary, the best so far, then the trials: what a reader looks at first
            parts.append(_trials_section(study, base))
    if writable:
        parts.append(_enqueue_section(study))
        parts.append(_narrow_section(study))
    parts.append(
        f'<section id="actions"><h2>Actions</h2><div data-src="{esc(base)}/actions"><p class="note">Loading…</p>'
        "</div></section>"
    )
    attrs = f'data-poll="{esc(base)}/version" data-study="{esc(name)}"'
    return layout(f"Study {name}", "\n".join(parts), crumbs=[(study_url(name), name)], attrs=attrs, writable=writable)


def _trials_section(study: Study, base: str) -> str:
    sorts = ["rank", *study.directions, "number", "steps", "energy", "seconds"]
    sort_options = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in sorts)
    from itero.trial import TrialState

    state_options = '<option value="">every state</option>' + "".join(
        f'<option value="{s.value}">{s.value.lower()}</option>' for s in TrialState
    )
    return (
        '<section id="trials"><h2>Trials</h2>'
        '<form class="controls" id="table-controls" autocomplete="off">'
        f'<label>sort <select name="sort">{sort_options}</select></label>'
        '<label>order <select name="order"><option value="asc">best / lowest first</option>'
        '<option value="desc">reversed</option></select></label>'
        f'<label>state <select name="state">{state_options}</select></label>'
        '<label>filter <input name="q" type="search" placeholder="lr=0.01, failed, #12, a tag…"></label>'
        '<span class="pager"><button type="button" data-page="-1">‹ previous</button>'
        '<span id="page-info"></span><button type="button" data-page="1">next ›</button></span></form>'
        f'<div id="trial-table" data-src="{esc(base)}/trials" data-table="1"><p class="note">Loading…</p></div>'
        "</section>"
    )


def _enqueue_section(study: Study) -> str:
    known = sorted({k for t in study.history.trials[-200:] for k in t.params})
    hint = esc("{" + ", ".join(f'"{k}": …' for k in known[:6]) + "}")  # escaped whole: it sits in an attribute
    return (
        '<section id="enqueue"><h2>Enqueue a configuration</h2>'
        '<p class="note">The next free worker runs it first; parameters left out are proposed by the sampler.</p>'
        '<form id="enqueue-form" class="write-form" data-action="enqueue">'
        f'<textarea name="params" rows="3" placeholder="{hint}" spellcheck="false"></textarea>'
        '<button type="submit">Enqueue</button></form></section>'
    )


def _narrow_section(study: Study) -> str:
    known = sorted({k for t in study.history.trials[-200:] for k in t.params} | set(study.narrowed))
    options = "".join(f'<option value="{esc(k)}">{esc(k)}</option>' for k in known)
    return (
        '<section id="narrow"><h2>Narrow or pin a parameter</h2>'
        '<p class="note">Proposals from now on stay inside; paused and waiting trials outside are retired; finished '
        "trials keep their results. Give low and/or high, or choices (comma-separated), or one value to pin; "
        "<em>reset</em> searches the earlier range again.</p>"
        '<form id="narrow-form" class="write-form" data-action="narrow">'
        f'<select name="name">{options}</select>'
        '<input name="low" placeholder="low" size="8"><input name="high" placeholder="high" size="8">'
        '<input name="choices" placeholder="choices: a,b" size="14"><input name="value" placeholder="pin to" size="8">'
        '<button type="submit">Narrow</button><button type="button" data-reset="1">Reset</button></form></section>'
    )


def actions_table(actions: Sequence[ActionRecord], name: str) -> str:
    """What people did by hand, newest first (``actions`` oldest first, as ``study.actions()`` returns them)."""
    if not actions:
        return '<p class="note">No one has acted on this study by hand yet.</p>'
    rows = []
    for a in reversed(actions):
        trial = (
            "" if a.trial_number is None else f'<a href="{esc(trial_url(name, a.trial_number))}">#{a.trial_number}</a>'
        )
        rows.append([esc(f.when(a.created_at)), esc(a.who), esc(a.kind), trial, esc(f.shorten(a.describe(), 200))])
    return table(["when", "who", "what", "trial", "details"], rows)


# ---------------------------------------------------------------------------------------------- trial
def trial_page(study: Study, number: int, writable: bool) -> str:
    name = study.name
    src = f"/api/studies/{quote(name, safe='')}/trials/{number}"
    buttons = ""
    if writable:
        buttons = (
            '<section id="trial-actions"><h2>Act on this trial</h2><div class="write-form buttons">'
            '<button type="button" data-action="stop">Stop</button>'
            '<button type="button" data-action="pause">Pause</button>'
            '<button type="button" data-action="resume">Resume</button></div>'
            '<form class="write-form" data-action="note"><input name="text" placeholder="a note">'
            '<button type="submit">Save note</button></form>'
            '<form class="write-form" data-action="tag"><input name="tag" placeholder="a tag">'
            '<button type="submit">Add tag</button></form></section>'
        )
    body = f'<div id="trial" data-src="{esc(src)}"><p class="note">Loading…</p></div>{buttons}'
    attrs = (
        f'data-poll="/api/studies/{esc(quote(name, safe=""))}/version" data-study="{esc(name)}" data-trial="{number}"'
    )
    crumbs = [(study_url(name), name), (trial_url(name, number), f"trial #{number}")]
    return layout(f"Trial {number} of {name}", body, crumbs=crumbs, attrs=attrs, writable=writable)


def trial_fragment(study: Study, t: FrozenTrial, figures: Figures) -> str:
    """The trial's details: state and timing, params, metrics, curves, runs, checkpoints, data, environment,
    error with traceback."""
    name = study.name
    numbers = {x.id: x.number for x in study.history.trials}
    parent = ""
    if t.parent_id is not None and t.parent_id in numbers:
        parent = f'<a href="{esc(trial_url(name, numbers[t.parent_id]))}">#{numbers[t.parent_id]}</a>'
    note, tags = t.note, t.tags
    cards = [
        card("State", badge(t.state.value, t.state.value.lower())),
        card("Step", f"{t.step:,}", esc(f"{t.cost.runs:,} run(s), {t.retries:,} retries")),
        card("Wall time", esc(f.duration(t.cost.wall_seconds)), esc(f"CPU {f.duration(t.cost.cpu_seconds)}")),
        card("Energy", esc(f.energy(t.cost.energy_j)), esc(f"{f.co2(t.cost.co2_g)} CO₂e")),
    ]
    timing = kv(
        [
            ("started", esc(_when(t.datetime_start))),
            ("completed", esc(_when(t.datetime_complete))),
            *([("started from", f"{parent} at step {esc(t.system_attrs.get('from_step', '?'))}")] if parent else []),
            *([("note", esc(note))] if note else []),
            *([("tags", " ".join(f'<span class="tag">{esc(x)}</span>' for x in tags))] if tags else []),
        ]
    )
    params = kv([(k, f"<code>{esc(f.number(v))}</code>") for k, v in t.params.items()]) or "<p class='note'>none</p>"
    metrics = kv([(k, esc(f.number(v))) for k, v in t.metrics.items()]) or "<p class='note'>none yet</p>"
    error = ""
    if t.error:
        trace = f"<pre>{esc(t.traceback)}</pre>" if t.traceback else ""
        error = f'<div class="warning bad" id="trial-error"><strong>{esc(t.error)}</strong>{trace}</div>'
    runs = [r for r in study.runs() if r.trial_id == t.id]
    parts = [
        f'<header><h1>Trial #{t.number} <span class="d">of {esc(name)}</span></h1></header>',
        error,
        f'<section><div class="cards">{"".join(cards)}</div>{timing}</section>',
        f'<section><div class="grid2"><div><h2>Parameters</h2>{params}</div><div><h2>Metrics</h2>{metrics}</div></div>'
        "</section>",
        _trial_curves(study, t, runs, figures),
        _trial_runs(runs),
        _trial_checkpoints(study, t),
        _trial_data(study, t),
        _trial_actions(study, t),
    ]
    return "\n".join(p for p in parts if p)


def _trial_actions(study: Study, t: FrozenTrial) -> str:
    done = study.actions(trial=t.number)
    return f"<section><h2>Actions on this trial</h2>{actions_table(done, study.name)}</section>" if done else ""


def _when(value: dt.datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _trial_curves(study: Study, t: FrozenTrial, runs: list[TrialRunRecord], figures: Figures) -> str:
    metrics = list(dict.fromkeys(m for step in sorted(t.reports) for m in t.reports[step]))
    if not metrics:
        return '<section><h2>Learning curves</h2><p class="note">The trial has not reported yet.</p></section>'
    snap = Snapshot(study.name, dict(study.directions), [t], [], [], runs)
    figs = [figures.add(f"fig-trial-{i}", curves_figure(snap, m)) for i, m in enumerate(metrics[:CURVE_METRICS])]
    more = f'<p class="note">{len(metrics) - CURVE_METRICS} more metric(s) not drawn.</p>' if len(metrics) > 4 else ""
    return f'<section><h2>Learning curves</h2><div class="grid2">{"".join(figs)}</div>{more}</section>'


def _trial_runs(runs: list[TrialRunRecord]) -> str:
    if not runs:
        return ""
    rows = [
        [
            esc(f"{r.start_step:,} → {r.end_step:,}"),
            esc(r.outcome.lower()),
            esc(f.when(r.started_at)),
            esc(f.duration(r.wall_seconds)),
            esc(f.duration(r.cpu_seconds)),
            esc(f.energy(r.energy_j)),
            esc(r.energy_method or "-"),
            esc("-" if r.worker_id is None else r.worker_id),
        ]
        for r in runs
    ]
    header = ["steps", "outcome", "started", "wall", "CPU", "energy", "energy method", "worker"]
    return f"<section><h2>Runs</h2>{table(header, rows)}</section>"


def _trial_checkpoints(study: Study, t: FrozenTrial) -> str:
    kept = study.store.trial_checkpoints(t.id)
    if not kept:
        return (
            '<section><h2>Checkpoints</h2><p class="note">None kept (the objective saves no state, or they were '
            "freed once the trial finished).</p></section>"
        )
    rows = [
        [
            esc(f"{c.step:,}"),
            esc(f.size(c.size)),
            f'<code title="{esc(c.digest)}">{esc(c.digest[:12])}</code>',
            esc(f.when(c.created_at)),
        ]
        for c in kept
    ]
    total = f.size(sum(c.size for c in kept))
    return (
        f"<section><h2>Checkpoints</h2>{table(['step', 'size', 'sha-256', 'written'], rows, [True, True])}"
        f'<p class="note">{len(kept)} kept, {esc(total)} in all.</p></section>'
    )


def _trial_data(study: Study, t: FrozenTrial) -> str:
    data = (
        table(["dataset", "digest"], [[esc(k), f"<code>{esc(v[:12])}</code>"] for k, v in t.datasets.items()])
        if t.datasets
        else '<p class="note">No dataset tracked.</p>'
    )
    envs = [e for e in study.environments() if t.number in e.trials]
    env = "".join(environment_html(e, len(envs)) for e in envs) or '<p class="note">No environment recorded.</p>'
    return f"<section><h2>Data and environment</h2>{data}<h3>Environment</h3>{env}</section>"


def error_page(status: int, message: str, writable: bool) -> str:
    body = f'<section><h2>{status}</h2><p class="err">{esc(message)}</p><p><a href="/">All studies</a></p></section>'
    return layout(f"Error {status}", body, writable=writable)
