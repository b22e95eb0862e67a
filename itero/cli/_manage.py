"""``itero rm``, ``itero gc`` and ``itero export-model``: delete a study, free the disk of checkpoints nothing can
resume, write the best trial's kept weights.

.. code-block:: text

    itero rm mnist-old                 # shows what goes, asks first (--yes to skip the question)
    itero gc                           # every study's unusable checkpoints, and files no study names
    itero export-model STUDY -o best.pt  # the best trial's weights, kept at its last step
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from itero._defaults import DEFAULT_STORAGE
from itero.cli import _render as render
from itero.cli._common import FAILED, StorageOption, StudyArgument, fail, load, missing_database, out, user_errors


def remove(
    study_name: StudyArgument,
    storage: StorageOption = DEFAULT_STORAGE,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
) -> None:
    """Delete a study: its trials, reports, runs and the checkpoints no other study shares."""
    from itero.study import delete_study

    study = load(study_name, storage)
    with user_errors():
        trials = study.trials
        size = study.totals().checkpoint_bytes
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.value] = counts.get(t.state.value, 0) + 1
    what = f"study {study.name!r}: {len(trials)} trials ({render.state_counts_text(counts) or 'none'}), "
    what += f"checkpoints {render.fmt_bytes(size)}"
    if counts.get("RUNNING"):
        what += f"; {counts['RUNNING']} trials are RUNNING: their workers will fail"
    if not yes and not typer.confirm(f"Delete {what}?", default=False, err=True):
        fail("nothing deleted", code=FAILED)
    with user_errors():
        freed = delete_study(study.name, storage=storage)
    out().print(Text(f"deleted {what}; freed {render.fmt_bytes(freed)}"))


def collect(storage: StorageOption = DEFAULT_STORAGE) -> None:
    """Free the disk: checkpoints no trial can resume (per study), and files no checkpoint names."""
    from itero.study import collect_checkpoints

    missing = missing_database(storage)
    if missing is not None:
        fail(missing)
    with user_errors():
        freed = collect_checkpoints(storage)
    console = out()
    for name, size in freed.items():
        if size:
            console.print(Text(f"{name or 'files no checkpoint names'}: freed {render.fmt_bytes(size)}"))
    console.print(Text(f"freed {render.fmt_bytes(sum(freed.values()))} in all"))


__all__ = ["collect", "export_model", "remove"]


def export_model(
    study_name: StudyArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (.pt for torch, .json otherwise).")],
    storage: StorageOption = DEFAULT_STORAGE,
    trial: Annotated[int | None, typer.Option("--trial", "-t", min=0, help="Trial number (default: the best).")] = None,
) -> None:
    """Write the state the best trial (or trial N) kept at its last step: its weights, without retraining."""
    study = load(study_name, storage)
    with user_errors():
        if trial is None and len(study.directions) > 1:
            front = ", ".join(str(t.number) for t in study.pareto_front())
            fail(f"study {study.name!r} has several objectives: choose a trial of its front with --trial ({front})")
        try:
            state = study.restore(trial)
        except ValueError as exc:
            fail(str(exc), code=FAILED)
    with user_errors():
        kind = _write_state(state, output)
    out().print(Text(f"wrote {output} ({kind})"))


def _write_state(state: Any, path: Path) -> str:
    """``torch.save`` for states holding tensors (load with ``torch.load(path, weights_only=True)``), JSON for
    plain data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        text = json.dumps(state)
    except (TypeError, ValueError):
        import torch

        torch.save(state, path)
        return "torch.save; torch.load(path, weights_only=True) reads it"
    path.write_text(text)
    return "JSON"
