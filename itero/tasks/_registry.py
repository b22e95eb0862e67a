"""The built-in tasks and how an objective is found from the string a config names.

This module never imports torch: a task's objective is imported only when :meth:`Task.objective` is called.

>>> from itero.tasks import get_task, load_objective
>>> get_task("digits-mlp").max_steps
20
>>> objective = load_objective("digits-mlp")              # a built-in task  (imports torch here)

The other forms (not run here)::

    load_objective("mypkg.train:objective")   # a function in an importable module
    load_objective("train.py:objective")      # a function in a file, by path
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from itero.exceptions import ConfigError

_DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class Task:
    """A built-in inner problem: an objective ``f(trial)`` plus what a study needs to know about it.

    ``loader`` is ``"module:function"``; the module is imported only when :meth:`objective` is called, so
    listing tasks needs neither torch nor the task's data.
    """

    name: str
    description: str
    paradigm: str
    objectives: dict[str, str] = field(hash=False)
    max_steps: int
    loader: str
    space: str = ""
    """``"module:function"`` of the task's ``suggest_*`` function (an itero or Optuna trial -> params)."""
    run: str = ""
    """``"module:function"`` making the task's framework-agnostic run from ``(params, number)``."""
    diverges: bool = False
    """True when some configurations of the space diverge (their metrics turn NaN and the trial fails)."""

    def __post_init__(self) -> None:
        if not self.objectives:
            raise ConfigError(f"task {self.name!r}: objectives must name at least one metric")
        for metric, direction in self.objectives.items():
            if direction not in _DIRECTIONS:
                where = f"task {self.name!r}: objectives[{metric!r}]"
                raise ConfigError(f"{where} is {direction!r}; expected one of {_DIRECTIONS}")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps < 1:
            got = self.max_steps
            raise ConfigError(f"task {self.name!r}: max_steps must be an integer >= 1, got {got!r}")
        module, sep, func = self.loader.partition(":")
        if not (module and sep and func):
            raise ConfigError(f"task {self.name!r}: loader must be 'module:function', got {self.loader!r}")

    def objective(self) -> Callable[..., Any]:
        """Import and return the task's objective function."""
        module_name, _, func_name = self.loader.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"task {self.name!r} cannot be loaded ({type(exc).__name__}: {exc}); "
                "the built-in tasks need torch and scikit-learn: pip install 'itero[torch]'"
            ) from exc
        return _callable_attr(module, func_name, where=f"task {self.name!r} ({self.loader})")

    def suggest(self) -> Callable[..., dict[str, Any]]:
        """Import and return the task's space function: ``suggest(trial) -> params`` (an itero or Optuna trial)."""
        return self._load(self.space, "space")

    def param_names(self, draws: int = 32) -> set[str]:
        """The names of the parameters the task's space function suggests: the union over ``draws`` random
        walks through it (so conditional parameters count)."""
        names: set[str] = set()
        suggest = self.suggest()
        for seed in range(draws):
            probe = _Probe(seed)
            suggest(probe)
            names |= probe.names
        return names

    def make_run(self) -> Callable[..., Any]:
        """Import and return ``make_run(params, number)``: a run with ``train_step(step)``, ``evaluate()``,
        ``state_dict()`` and ``load_state_dict(state)``, independent of any tuning framework."""
        return self._load(self.run, "run")

    def _load(self, ref: str, what: str) -> Callable[..., Any]:
        if not ref:
            raise ConfigError(f"task {self.name!r} has no {what} function")
        module_name, _, func_name = ref.partition(":")
        module = importlib.import_module(module_name)
        return _callable_attr(module, func_name, where=f"task {self.name!r} ({ref})")


class _Probe:
    """A trial that answers each ``suggest_*`` with a random value and records the names it was asked."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.names: set[str] = set()

    def suggest_float(
        self, name: str, low: float, high: float, *, log: bool = False, step: float | None = None
    ) -> float:
        self.names.add(name)
        if log:
            return math.exp(self.rng.uniform(math.log(low), math.log(high)))
        return self.rng.uniform(low, high)

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1) -> int:
        self.names.add(name)
        return self.rng.randrange(low, high + 1, step)

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        self.names.add(name)
        return self.rng.choice(list(choices))


TASKS: dict[str, Task] = {}
"""The built-in tasks by name (``itero tasks`` lists them)."""

TASKS["digits-mlp"] = Task(
    name="digits-mlp",
    description=(
        "An MLP on scikit-learn's 8x8 handwritten digits (1797 images, 10 classes; fixed stratified "
        "60/20/20 split). Searches lr, weight_decay, width, depth, dropout, batch_size and optimizer; "
        "one step is one epoch. Reports val_acc (the objective), val_loss and test_acc."
    ),
    paradigm="supervised classification",
    objectives={"val_acc": "maximize"},
    max_steps=20,
    loader="itero.tasks._digits:digits_mlp",
    space="itero.tasks._mlp:suggest_mlp",
    run="itero.tasks._digits:digits_run",
)

TASKS["friedman-mlp"] = Task(
    name="friedman-mlp",
    description=(
        "MLP regression on Friedman's #1 function (3000 generated samples, 10 features, noise 1.0; fixed "
        "60/20/20 split). Same search space as digits-mlp; one step is one epoch. Reports val_rmse (the "
        "objective; the noise floor is 1.0) and test_rmse: a fine-grained metric the hyper-parameters move a lot."
    ),
    paradigm="supervised regression",
    objectives={"val_rmse": "minimize"},
    max_steps=27,
    loader="itero.tasks._friedman:friedman_mlp",
    space="itero.tasks._mlp:suggest_mlp",
    run="itero.tasks._friedman:friedman_run",
)

TASKS["digits-aug-mlp"] = Task(
    name="digits-aug-mlp",
    description=(
        "Multi-objective: the MLP of digits-mlp and friedman-mlp (the same search space: tables of the two "
        "measure transfer between studies) on the augmented digits (8x8 digits expanded by random affine "
        "transforms and noise; 4,000 train / 2,500 validation / 2,500 test images). One step is one epoch. "
        "Objectives: val_acc (maximize) against flops of one forward pass (minimize); also reports val_loss, "
        "test_acc, params and peak_mem_mb. A few SGD runs at the top of the lr range overflow: their trial fails."
    ),
    paradigm="multi-objective classification",
    objectives={"val_acc": "maximize", "flops": "minimize"},
    max_steps=20,
    loader="itero.tasks._augdigits:digits_aug_mlp",
    space="itero.tasks._mlp:suggest_mlp",
    run="itero.tasks._augdigits:aug_mlp_run",
    diverges=True,
)

TASKS["digits-cnn"] = Task(
    name="digits-cnn",
    description=(
        "A small CNN on the augmented digits (10,000 train / 2,500 validation / 2,500 test 8x8 images, a "
        "validation set large enough to rank configurations). Searches lr, weight_decay, channels, kernel_size, "
        "batch_size and optimizer; one step is 2,000 training images (25 steps = 5 epochs). Reports val_acc "
        "(the objective), val_loss and test_acc."
    ),
    paradigm="supervised classification",
    objectives={"val_acc": "maximize"},
    max_steps=25,
    loader="itero.tasks._cnn:digits_cnn",
    space="itero.tasks._cnn:suggest_cnn",
    run="itero.tasks._cnn:CNNRun",
)

TASKS["char-lm"] = Task(
    name="char-lm",
    description=(
        "A character-level language model (an n-gram MLP over the last 4-12 characters) on the text of "
        "Python's pydoc_data.topics (~465,000 characters; 80/10/10 split). Searches lr, context, embedding, "
        "width, dropout and batch_size; one step is 4,096 training positions. Reports val_ppl (the objective, "
        "minimized) and test_ppl on 8,192 fixed positions each."
    ),
    paradigm="language modelling",
    objectives={"val_ppl": "minimize"},
    max_steps=30,
    loader="itero.tasks._charlm:char_lm",
    space="itero.tasks._charlm:suggest_charlm",
    run="itero.tasks._charlm:CharLMRun",
)

TASKS["schedule-mlp"] = Task(
    name="schedule-mlp",
    description=(
        "Learning curves that cross, from real training: an MLP classifier (SGD) on generated 5-class data with "
        "10% flipped labels, where the learning-rate schedule is searched (peak lr, warmup steps, constant / "
        "cosine / linear decay to step 30, width, batch_size, weight_decay). The best configurations are noisy "
        "or slow at the early rungs. One step is one epoch. Reports val_acc (the objective), val_loss, test_acc."
    ),
    paradigm="supervised classification (learning-rate schedules)",
    objectives={"val_acc": "maximize"},
    max_steps=30,
    loader="itero.tasks._sched:schedule_mlp",
    space="itero.tasks._sched:suggest_schedule",
    run="itero.tasks._sched:schedule_run",
)

TASKS["diverge-mlp"] = Task(
    name="diverge-mlp",
    description=(
        "High learning rates diverge part-way: an MLP regressor on Friedman's #2 function trained by plain SGD "
        "(lr up to 3, momentum up to 0.99, no clipping) with a fixed 5-step warm-up, so a too-high rate blows up "
        "when the warm-up reaches it. A diverged run reports val_rmse = NaN at that step and its trial FAILS; "
        "the others report val_rmse (the objective) and test_rmse. One step is one epoch."
    ),
    paradigm="supervised regression (divergence)",
    objectives={"val_rmse": "minimize"},
    max_steps=24,
    loader="itero.tasks._sched:diverge_mlp",
    space="itero.tasks._sched:suggest_diverge",
    run="itero.tasks._sched:diverge_run",
    diverges=True,
)

TASKS["crossing-curves"] = Task(
    name="crossing-curves",
    description=(
        "A synthetic learning-curve task whose curves cross: the configurations that end best start slowest, "
        "so early stopping is fooled. 4 float parameters; the final value (at 27 steps) has a known minimum "
        "of 0 at x = (0.2, 0.4, 0.6, 0.8). No training: for testing schedulers quickly."
    ),
    paradigm="synthetic multi-fidelity",
    objectives={"loss": "minimize"},
    max_steps=27,
    loader="itero.tasks._synthetic:crossing_curves",
)


def get_task(name: str) -> Task:
    """The built-in task called ``name``; a :class:`~itero.exceptions.ConfigError` lists the known ones."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"task: unknown task {name!r}; known tasks are {sorted(TASKS)}") from None


def load_objective(ref: str) -> Callable[..., Any]:
    """The objective function that ``ref`` names.

    ``ref`` is a built-in task name (``"digits-mlp"``), ``"package.module:function"``, or
    ``"path/to/file.py:function"`` (the file is loaded by path; it need not be importable).
    Every failure is a :class:`~itero.exceptions.ConfigError` that names ``ref`` and what went wrong.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise ConfigError(f"task: expected a task name or 'module:function', got {ref!r}")
    if ref in TASKS:
        return TASKS[ref].objective()
    if ":" not in ref:
        raise ConfigError(
            f"task: unknown task {ref!r}; known tasks are {sorted(TASKS)}, "
            "or name a function as 'package.module:function' or 'path/to/file.py:function'"
        )
    # rpartition: a Windows path ("C:\\x\\train.py:f") keeps its drive letter.
    target, _, func_name = ref.rpartition(":")
    if not target or not func_name:
        raise ConfigError(f"task {ref!r}: expected 'module:function' or 'path/to/file.py:function'")
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _module_from_file(target, ref)
        return _callable_attr(module, func_name, where=f"task {ref!r}", label=repr(module.__file__))
    try:
        module = importlib.import_module(target)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"task {ref!r}: cannot import module {target!r} ({error})") from exc
    return _callable_attr(module, func_name, where=f"task {ref!r}")


def _module_from_file(target: str, ref: str) -> Any:
    path = Path(target).expanduser()
    if not path.is_file():
        raise ConfigError(f"task {ref!r}: file {str(path)!r} not found (resolved to {str(path.resolve())!r})")
    path = path.resolve()
    # A stable, unique module name per file, so that functions and classes defined there pickle by reference
    # within this process and two files called train.py do not collide.
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"itero_user_{path.stem.replace('-', '_').replace('.', '_')}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"task {ref!r}: cannot load {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        error = f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"task {ref!r}: error while loading {str(path)!r} ({error})") from exc
    return module


def _callable_attr(module: Any, func_name: str, where: str, label: str | None = None) -> Callable[..., Any]:
    try:
        obj = getattr(module, func_name)
    except AttributeError:
        functions = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and n[:1] != "_")
        name = label or repr(module.__name__)
        message = f"{where}: {name} has no attribute {func_name!r}; its functions are {functions}"
        raise ConfigError(message) from None
    if not callable(obj):
        raise ConfigError(f"{where}: {func_name!r} is a {type(obj).__name__}, not a callable objective")
    return obj
