"""``itero report``: write a study as one self-contained HTML file (opens offline).

    itero report STUDY -o report.html [--storage URL] [--top 50]

Registered on the ``itero`` app by ``itero/cli/__init__.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from itero._defaults import DEFAULT_STORAGE
from itero.cli._common import StorageOption, StudyArgument, load, out, user_errors


def report(
    study_name: StudyArgument,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The HTML file to write (folders are created).")
    ] = Path("report.html"),
    storage: StorageOption = DEFAULT_STORAGE,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows of the trials table (best first).")] = 50,
) -> None:
    """Write an HTML report of a study: summary, cost (energy, CO₂), history, learning curves, parameters,
    Pareto front, lineage, data and environment, and the best trials. The file opens offline."""
    from itero.report import write_report
    from itero.report._format import size

    study = load(study_name, storage)
    with user_errors():
        path = write_report(study, output, top=top)
    out().print(Text(f"wrote {path.resolve()} ({size(path.stat().st_size)}); it opens offline in any browser"))


__all__ = ["report"]
