"""Tasks: one learning objective per package (``classification``, ``segmentation``, ``csmae``), found by
name through :func:`get_task` / :func:`list_tasks`. A task declares its config sections, builds model,
loss and data, names the metric it monitors, evaluates checkpoints and adds its report section; the
loops in :mod:`worldclass.training` run any of them.

Imports: models, losses, metrics, data, datasets, mapping, config, report (never training, cli, demo).
"""

from worldclass.tasks.base import EvalOptions, Setup, Task, get_task, list_tasks, register_task
from worldclass.tasks.config import config_from_dict, load_config

__all__ = [
    "EvalOptions",
    "Setup",
    "Task",
    "config_from_dict",
    "get_task",
    "list_tasks",
    "load_config",
    "register_task",
]
