"""Built-in inner problems (tasks), one per paradigm, used by configs, tests and benchmarks.

Importing this package does not import torch; a task's objective is imported when it is loaded.

>>> from itero.tasks import TASKS, get_task, load_objective
>>> sorted(TASKS)
['char-lm', 'crossing-curves', 'digits-aug-mlp', 'digits-cnn', 'digits-mlp', 'diverge-mlp', 'friedman-mlp', 'schedule-mlp']
>>> objective = load_objective("digits-mlp")      # or "package.module:function" / "path/file.py:function"
"""

from itero.tasks._registry import TASKS, Task, get_task, load_objective

__all__ = ["TASKS", "Task", "get_task", "load_objective"]
