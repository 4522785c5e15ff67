"""Whole experiment configs: common sections (``worldclass.config``) plus the sections of the chosen
task, validated by the task and the dataset registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worldclass.config import ExperimentConfig, parse_experiment, read_tree
from worldclass.config.parse import apply_overrides
from worldclass.errors import ConfigError
from worldclass.tasks.base import get_task

#: The task of a config without ``task:``.
DEFAULT_TASK = "classification"


def _parse(tree: dict[str, Any], *, need_root: bool) -> ExperimentConfig:
    name = tree.get("task", DEFAULT_TASK)
    if not isinstance(name, str):
        raise ConfigError(f"config key 'task': {name!r} is not a task name")
    task = get_task(name)
    cfg = parse_experiment(tree, task.name, task.sections)
    if need_root and not cfg.data.root:
        raise ConfigError("config key 'data.root' is required: the archive, store or scenes root to train on")
    from worldclass.datasets import get_dataset

    dataset = get_dataset(cfg.data.dataset)
    if dataset.kind not in task.dataset_kinds:
        raise ConfigError(
            f"task {task.name!r} trains on {' or '.join(task.dataset_kinds)} data; data.dataset "
            f"{cfg.data.dataset!r} is {dataset.kind} (see `worldclass datasets`)"
        )
    dataset.validate(cfg.data)
    task.validate(cfg)
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read YAML ``path`` (optional), apply ``key.sub=value`` overrides (values parsed as YAML) and
    validate against the task's and the dataset's rules."""
    return _parse(read_tree(path, overrides), need_root=True)


def config_from_dict(tree: dict[str, Any], overrides: list[str] | None = None) -> ExperimentConfig:
    """Validated config from a plain dict (e.g. the one stored in a checkpoint) plus overrides."""
    import copy

    tree = copy.deepcopy(tree)
    apply_overrides(tree, overrides)
    return _parse(tree, need_root=False)
