"""itero: the outer loop of deep learning — hyper-parameter search that spends a fraction of the training compute.

import itero

study = itero.create_study("digits", objectives={"val_acc": "maximize"}, sampler=itero.samplers.TPE(seed=0))
study.optimize(objective, n_trials=50, n_jobs=2)
study.best_trial.params

The public names other than the exceptions are imported on first use (module ``__getattr__``): ``import itero``
does not load the engine (numpy, scipy, SQLAlchemy), so that the ``itero`` command starts fast.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from itero.exceptions import ConfigError, DataVersionWarning, IteroError, SpaceError, StudyNotFoundError, TrialPruned

if TYPE_CHECKING:
    from itero import samplers, schedulers, tracking
    from itero.executors import Trial
    from itero.study import Study, create_study, delete_study, load_study
    from itero.tracking import track_dataset
    from itero.trial import FrozenTrial, TrialState

__version__ = "0.1.0"

logging.getLogger("itero").addHandler(logging.NullHandler())

__all__ = [
    "ConfigError",
    "DataVersionWarning",
    "FrozenTrial",
    "IteroError",
    "SpaceError",
    "Study",
    "StudyNotFoundError",
    "Trial",
    "TrialPruned",
    "TrialState",
    "__version__",
    "create_study",
    "delete_study",
    "load_study",
    "samplers",
    "schedulers",
    "track_dataset",
    "tracking",
]


def _import_lazily(name: str) -> Any:
    """Import a public name on first use; it then stays a module attribute, so later lookups skip this."""
    if name in ("Study", "create_study", "delete_study", "load_study"):
        from itero.study import Study, create_study, delete_study, load_study

        globals().update(Study=Study, create_study=create_study, delete_study=delete_study, load_study=load_study)
    elif name == "Trial":
        from itero.executors import Trial

        globals()["Trial"] = Trial
    elif name in ("FrozenTrial", "TrialState"):
        from itero.trial import FrozenTrial, TrialState

        globals().update(FrozenTrial=FrozenTrial, TrialState=TrialState)
    elif name == "track_dataset":
        from itero.tracking import track_dataset

        globals()["track_dataset"] = track_dataset
    # Subpackages: importing one makes it an attribute of this package. `from itero import x` here would call
    # this function again. study, store, executors, space and trial were attributes after `import itero` before
    # its names became lazy, and stay available the same way.
    elif name == "samplers":
        import itero.samplers as samplers

        return samplers
    elif name == "schedulers":
        import itero.schedulers as schedulers

        return schedulers
    elif name == "tracking":
        import itero.tracking as tracking

        return tracking
    elif name == "study":
        import itero.study as study

        return study
    elif name == "store":
        import itero.store as store

        return store
    elif name == "executors":
        import itero.executors as executors

        return executors
    elif name == "space":
        import itero.space as space

        return space
    elif name == "trial":
        import itero.trial as trial

        return trial
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if not TYPE_CHECKING:  # hidden from type checkers, which then still report unknown names such as itero.Stduy
    __getattr__ = _import_lazily
