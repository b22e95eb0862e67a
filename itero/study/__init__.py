"""Studies: the user-facing search object, its creation and loading."""

from itero.study._create import DEFAULT_STORAGE, check_objectives, create_study, load_study
from itero.study._pareto import non_dominated
from itero.study._records import DatasetRecord, EnvironmentRecord, StudyTotals
from itero.study._simulate import simulate
from itero.study._study import Study

__all__ = [
    "DEFAULT_STORAGE",
    "DatasetRecord",
    "EnvironmentRecord",
    "Study",
    "StudyTotals",
    "check_objectives",
    "create_study",
    "load_study",
    "non_dominated",
    "simulate",
]
