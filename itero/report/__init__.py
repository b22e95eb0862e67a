"""A study as one self-contained HTML file: what the search did, on which data, with what code, at what cost in
energy and CO₂, and which trade-off to pick. It opens offline (plotly.js is inlined, nothing is fetched).

    >>> import itero, itero.report
    >>> study = itero.load_study("digits", storage="sqlite:///itero.db")     # doctest: +SKIP
    >>> itero.report.write_report(study, "report.html")                      # doctest: +SKIP
    PosixPath('report.html')

or from a shell: ``itero report digits -o report.html --storage sqlite:///itero.db``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from itero.plot import snapshot
from itero.report import _sections as s
from itero.report._html import Figures, page
from itero.report._provenance import data_and_environment

if TYPE_CHECKING:
    from itero.study import Study

FIGURE_IDS = (
    "fig-history-steps",
    "fig-history-energy",
    "fig-curves",
    "fig-parallel",
    "fig-importance",
    "fig-pareto",
    "fig-lineage",
)  # the element ids of the report's figures (a figure with nothing to show is a note "<id>-none")


def _plotlyjs() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def build_report(study: Study, top: int = 50) -> str:
    """The report of ``study`` as an HTML document; ``top``: rows of the trials table.

    >>> html = itero.report.build_report(study)             # doctest: +SKIP
    >>> 'id="fig-curves"' in html                            # doctest: +SKIP
    True
    """
    snap = snapshot(study)
    ctx = s.Context(
        study=study,
        snap=snap,
        totals=study.totals(),
        config=study.config,
        figures=Figures(),
        top=top,
    )
    parts = [
        ("summary", "Summary", s.header),
        ("cost", "Cost", s.cost),
        ("history", "History", s.history),
        ("curves", "Learning curves", s.curves),
        ("params", "Parameters", s.params),
    ]
    if len(snap.directions) > 1:
        parts.append(("pareto", "Pareto front", s.pareto))
    parts += [
        ("lineage", "Lineage", s.lineage),
        ("data", "Data & environment", data_and_environment),
        ("trials", "Trials", s.trials),
    ]
    body = "\n".join(build(ctx) for _, _, build in parts)
    nav = [(sid, text) for sid, text, _ in parts]
    return page(f"itero report: {study.name}", nav, body, ctx.figures, _plotlyjs())


def write_report(study: Study, path: str | os.PathLike[str], top: int = 50) -> Path:
    """Write the report of ``study`` to ``path`` (folders are created; the file is replaced atomically).

    >>> itero.report.write_report(study, "reports/digits.html")   # doctest: +SKIP
    PosixPath('reports/digits.html')
    """
    out = Path(path)
    text = build_report(study, top=top)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


__all__ = ["FIGURE_IDS", "build_report", "write_report"]
