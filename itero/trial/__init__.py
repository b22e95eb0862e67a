"""Trials: the live object an objective receives, and the stored snapshot of one."""

from itero.trial._frozen import FrozenTrial, TrialCost
from itero.trial._history import History
from itero.trial._state import TrialState

__all__ = ["FrozenTrial", "History", "TrialCost", "TrialState"]
