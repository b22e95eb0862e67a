"""Studies: the user-facing search object, its creation and loading."""

from itero.study._pareto import non_dominated
from itero.study._study import DEFAULT_STORAGE, Study, StudyTotals, check_objectives, create_study, load_study

__all__ = [
    "DEFAULT_STORAGE",
    "Study",
    "StudyTotals",
    "check_objectives",
    "create_study",
    "load_study",
    "non_dominated",
]
