"""Built-in inner problems (tasks), one per paradigm, used by configs, tests and benchmarks.

Importing this package does not import torch; a task's objective is imported when it is loaded. Each task
also names its search space (``get_task(name).suggest()``) and a framework-agnostic run
(``get_task(name).make_run()(params, number)``), which the learning-curve tables of ``benchmarks/replay`` are
recorded from; :func:`load_table` reads and validates such a table.

>>> from itero.tasks import TASKS, get_task, load_objective
>>> sorted(TASKS)
['char-lm', 'crossing-curves', 'digits-aug-mlp', 'digits-cnn', 'digits-mlp', 'diverge-mlp', 'friedman-mlp', 'schedule-mlp']
>>> objective = load_objective("digits-mlp")      # or "package.module:function" / "path/file.py:function"
"""

from itero.tasks._registry import TASKS, Task, get_task, load_objective
from itero.tasks._tables import Table, TableError, load_table

__all__ = ["TASKS", "Table", "TableError", "Task", "get_task", "load_objective", "load_table"]
