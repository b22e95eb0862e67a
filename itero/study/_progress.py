"""The progress bar of ``optimize`` and ``itero run``: trials done, best value so far, steps spent."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from itero.store._cache import StudyCache


class StudyProgress:
    """A Rich progress bar; shown by default when standard error is a terminal."""

    def __init__(
        self,
        cache: StudyCache,
        name: str,
        n_trials: int | None,
        max_steps: int | None,
        timeout: float | None,
        enabled: bool | None = None,
    ) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.cache = cache
        self.name = name
        self.n_trials = n_trials
        self.max_steps = max_steps
        self.timeout = timeout
        self._t0 = time.monotonic()
        self._finished0 = 0
        self._steps0 = 0
        self._progress: Progress | None = None
        self._task: Any = None
        self._last = 0.0

    def __enter__(self) -> StudyProgress:
        cache = self.cache
        history = cache.refresh()
        self._finished0 = sum(1 for t in history.trials if t.state.is_finished())
        self._steps0 = cache.steps_spent
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                transient=False,
                console=Console(stderr=True),
            )
            self._progress.start()
            self._task = self._progress.add_task(self.name, total=self._total(), info="starting")
        return self

    def _total(self) -> float | None:
        if self.n_trials is not None:
            return self.n_trials
        if self.max_steps is not None:
            return self.max_steps
        return self.timeout

    def update(self) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        cache = self.cache
        history = cache.refresh()
        done = sum(1 for t in history.trials if t.state.is_finished()) - self._finished0
        steps = cache.steps_spent - self._steps0
        info = f"{done} trials · {steps} steps · best {self._best(history)}"
        if self.n_trials is not None:
            completed: float = done
        elif self.max_steps is not None:
            completed = steps
        else:
            completed = now - self._t0
        self._progress.update(self._task, completed=completed, info=info)

    @staticmethod
    def _best(history: Any) -> str:
        done = history.completed()
        if not done:
            return "-"
        if history.is_multi_objective:
            return f"{len(done)} complete"
        best = min(done, key=history.loss)
        name = history.objective_names[0]
        return f"{name}={best.metrics[name]:.6g} (trial {best.number})"

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._last = 0.0
            self.update()
            self._progress.stop()
