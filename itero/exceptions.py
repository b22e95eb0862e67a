"""The errors itero raises. Every message names the key, the value and what was expected."""

from __future__ import annotations


class IteroError(Exception):
    """Base class of itero's errors."""


class SpaceError(IteroError, ValueError):
    """A parameter range or choice list is invalid, or a parameter is suggested twice with different ranges."""


class ConfigError(IteroError, ValueError):
    """A study configuration (YAML file or keyword arguments) is invalid."""


class StudyNotFoundError(IteroError, KeyError):
    """No study of that name is in the store."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class TrialNotFoundError(IteroError, KeyError):
    """The study has no trial of that number."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class TrialActionError(IteroError, ValueError):
    """A hand action (stop, pause, resume a trial; remove a tag) does not apply to the trial as it is; the message
    names the trial, its state and what is allowed."""


class DuplicatedStudyError(IteroError, ValueError):
    """A study of that name already exists and ``load_if_exists`` was false."""


class TrialPruned(IteroError):
    """Raise inside an objective to end its trial as PRUNED."""


class StorageError(IteroError, RuntimeError):
    """The store cannot be opened or is at an unexpected schema version."""


class ArtifactError(IteroError, RuntimeError):
    """A checkpoint is missing or its content does not match its hash."""


class ArtifactUnavailableError(ArtifactError):
    """The artifact store cannot be written or reached (disk full, read-only, a server down past the retries):
    the running trial is given back as WAITING and the run stops, rather than failing trial after trial."""


class BudgetSpentError(IteroError, RuntimeError):
    """The study's budget (``Study.set_budget``) allows no new trial."""


class DataVersionWarning(UserWarning):
    """Trials being compared were trained or evaluated on different versions of a dataset."""
