"""Exports of a study to the tools people already use to look at runs.

    import itero
    from itero.export import to_mlflow, to_tensorboard

    study = itero.load_study("digits", storage="sqlite:///itero.db")
    runs = to_mlflow(study, "sqlite:///mlflow.db")    # {trial number: run id}; `mlflow ui --backend-store-uri ...`
    to_tensorboard(study, "tb/digits")                 # HParams view; `tensorboard --logdir tb/digits`

MLflow and TensorBoard are optional (``pip install 'itero[export]'``) and imported only when an export runs;
a missing one raises an ``ImportError`` that says what to install. The CLI: ``itero export mlflow STUDY
--tracking-uri URI`` and ``itero export tensorboard STUDY --logdir DIR``.
"""

from itero.export._mlflow import to_mlflow
from itero.export._tensorboard import to_tensorboard

__all__ = ["to_mlflow", "to_tensorboard"]
