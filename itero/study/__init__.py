"""Studies: the user-facing search object, its creation and loading."""

from itero.study._create import DEFAULT_STORAGE, check_objectives, create_study, load_study
from itero.study._manage import collect_checkpoints, delete_study
from itero.study._pareto import non_dominated
from itero.study._records import DatasetRecord, EnvironmentRecord, StudyTotals
from itero.study._simulate import simulate
from itero.study._study import Study
from itero.study._summaries import StudySummary, best_trials, study_summaries

__all__ = [
    "DEFAULT_STORAGE",
    "DatasetRecord",
    "EnvironmentRecord",
    "Study",
    "StudySummary",
    "StudyTotals",
    "best_trials",
    "check_objectives",
    "collect_checkpoints",
    "create_study",
    "delete_study",
    "load_study",
    "non_dominated",
    "simulate",
    "study_summaries",
]
