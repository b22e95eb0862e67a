"""The study page's parts, each rendered from one read of the study per version: the report's sections (summary,
cost, history, curves, parameters, Pareto front, lineage, data and environment) and the paginated trial table.

Every user-named value goes through ``esc`` (in the report's sections and here); figures travel as plotly JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import plotly.graph_objects as go

from itero.dashboard._preview import svg_preview
from itero.plot import snapshot
from itero.plot._data import Snapshot
from itero.report import _sections as s
from itero.report._format import esc
from itero.report._html import Figures, section
from itero.report._provenance import data_and_environment
from itero.study import Study
from itero.trial import FrozenTrial, TrialState

#: The live sections of the study page, in page order: (id, title, builder).
SECTIONS: tuple[tuple[str, str, Callable[[s.Context], str]], ...] = (
    ("summary", "Summary", s.header),
    ("history", "History", s.history),
    ("curves", "Learning curves", s.curves),
    ("params", "Parameters", s.params),
    ("explore", "Slices", s.explore),
    ("pareto", "Pareto front", s.pareto),
    ("lineage", "Lineage", s.lineage),
    ("cost", "Cost", s.cost),
    ("data", "Data & environment", data_and_environment),
)
SECTION_IDS = tuple(sid for sid, _, _ in SECTIONS)

#: Sort keys of the trial table besides the objectives and metrics: key -> (label, value of a trial).
SORTS: dict[str, Callable[[FrozenTrial], Any]] = {
    "number": lambda t: t.number,
    "steps": lambda t: t.step,
    "energy": lambda t: t.cost.energy_j,
    "seconds": lambda t: t.cost.wall_seconds,
}
PER_PAGE = 50
MAX_PER_PAGE = 500


def study_url(name: str) -> str:
    return f"/studies/{quote(name, safe='')}"


def trial_url(name: str, number: int) -> str:
    return f"{study_url(name)}/trials/{number}"


#: Figures drawn by the server as a static SVG too, on screen before plotly.js has been parsed.
PREVIEWED = frozenset({"fig-history-steps", "fig-history-energy"})


class LiveFigures(Figures):
    """The report's figures, with a server-drawn SVG inside the ``PREVIEWED`` ones (replaced by plotly's)."""

    def add(self, fig_id: str, result: go.Figure | str) -> str:
        out = super().add(fig_id, result)
        if fig_id in PREVIEWED and not isinstance(result, str):
            out = out.removesuffix("</div>") + svg_preview(result) + "</div>"
        return out


def context(study: Study) -> s.Context:
    """One read of the study for every part of its page."""
    return s.Context(
        study=study,
        snap=snapshot(study),
        totals=study.totals(),
        config=study.config,
        figures=Figures(),
        made_by="live dashboard",
    )


def render_section(ctx: s.Context, sid: str) -> str:
    """``{"html": ..., "figures": {element id: plotly JSON}}`` of one section, as JSON text."""
    figures = LiveFigures()
    part = s.Context(ctx.study, ctx.snap, ctx.totals, ctx.config, figures, ctx.top, ctx.made_by)
    build = dict((k, b) for k, _, b in SECTIONS)[sid]
    if sid == "pareto" and len(ctx.snap.directions) < 2:
        body = section("pareto", "Pareto front", '<p class="note">The study has one objective: no Pareto front.</p>')
    else:
        body = build(part)
    # The figure JSON is parsed by the page, not embedded in a script tag: no escaping of "<" needed here, but the
    # report's Figures already made it safe, so its text is used as is.
    figs = ",".join(f"{json.dumps(fid)}:{data}" for fid, data in figures.items)
    return f'{{"html":{json.dumps(body)},"figures":{{{figs}}}}}'


@dataclass(frozen=True)
class TableQuery:
    """What the trial table shows: a page of trials in one state (or all), matching a text, in some order."""

    sort: str = "rank"
    descending: bool = False
    state: str = ""
    text: str = ""
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def parse(cls, args: dict[str, str], objectives: list[str]) -> TableQuery:
        """From the query string; raises ``ValueError`` naming the key, the value and what is allowed."""
        sorts = ["rank", *SORTS, *objectives]
        sort = args.get("sort", "rank")
        if sort not in sorts:
            raise ValueError(f"sort={sort!r} is not one of {', '.join(sorts)}")
        state = args.get("state", "").upper()
        states = [st.value for st in TrialState]
        if state and state not in states:
            raise ValueError(f"state={args['state']!r} is not one of {', '.join(states)}")
        ints = {}
        for key, default, top in (("page", 1, 10**9), ("per_page", PER_PAGE, MAX_PER_PAGE)):
            raw = args.get(key, str(default))
            try:
                ints[key] = int(raw)
            except ValueError:
                raise ValueError(f"{key}={raw!r} is not a whole number") from None
            if not 1 <= ints[key] <= top:
                raise ValueError(f"{key}={raw!r} must be between 1 and {top:,}")
        order = args.get("order", "asc")
        if order not in ("asc", "desc"):
            raise ValueError(f"order={order!r} is not one of asc, desc")
        return cls(sort, order == "desc", state, args.get("q", "")[:200], ints["page"], ints["per_page"])


def _matches(t: FrozenTrial, text: str) -> bool:
    haystack = " ".join(
        [
            f"#{t.number}",
            str(t.state),
            *(f"{k}={v}" for k, v in t.params.items()),
            t.error or "",
            t.note,
            " ".join(t.tags),
        ]
    ).lower()
    return all(word in haystack for word in text.lower().split())


def select_trials(snap: Snapshot, q: TableQuery) -> list[FrozenTrial]:
    """The trials matching ``q``, in its order (every page)."""
    if q.sort == "rank":
        rows = s.ranked(snap)
        if q.descending:
            rows.reverse()
    else:
        if q.sort in SORTS:
            key = SORTS[q.sort]
            rows = sorted(snap.trials, key=lambda t: (key(t), t.number), reverse=q.descending)
        else:  # an objective: trials without a value last, whatever the order
            have = [t for t in snap.trials if q.sort in t.metrics]
            rows = sorted(have, key=lambda t: (t.metrics[q.sort], t.number), reverse=q.descending)
            rows += [t for t in snap.trials if q.sort not in t.metrics]
    if q.state:
        rows = [t for t in rows if t.state.value == q.state]
    if q.text.strip():
        rows = [t for t in rows if _matches(t, q.text)]
    return rows


def table_snapshot(study: Study) -> Snapshot:
    """What the trial table needs, read quickly: the trials, the completed ones and (several objectives) the Pareto
    front — no runs, no figures."""
    history = study.history
    completed = list(history.completed())
    front = study.pareto_front() if len(study.directions) > 1 and completed else []
    return Snapshot(study.name, dict(study.directions), list(history.trials), completed, front)


def table_page(snap: Snapshot, q: TableQuery) -> dict[str, Any]:
    """``{"html", "total", "page", "pages"}``: one page of the trial table."""
    rows = select_trials(snap, q)
    pages = max(1, -(-len(rows) // q.per_page))
    page = min(q.page, pages)
    shown = rows[(page - 1) * q.per_page : page * q.per_page]
    if not shown:
        why = "The study has no trials yet." if not snap.trials else "No trial matches the filter."
        return {"html": f'<p class="empty">{esc(why)}</p>', "total": len(rows), "page": page, "pages": pages}
    html = s.trial_table(snap, shown, link=lambda t: trial_url(snap.name, t.number))
    return {"html": f'<div class="scroll">{html}</div>', "total": len(rows), "page": page, "pages": pages}


__all__ = [
    "SECTIONS",
    "SECTION_IDS",
    "SORTS",
    "TableQuery",
    "context",
    "render_section",
    "select_trials",
    "study_url",
    "table_page",
    "table_snapshot",
    "trial_url",
]
