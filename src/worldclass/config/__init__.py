"""Experiment configuration: the parser (YAML + ``--set`` overrides -> typed sections) and the sections
every task shares. Tasks add their own sections; load a whole config with
:func:`worldclass.tasks.load_config`.

Imports: only :mod:`worldclass.errors`.
"""

from worldclass.config.parse import (
    ExperimentConfig,
    apply_overrides,
    build_section,
    parse_experiment,
    read_tree,
)
from worldclass.config.schema import Setting, settings
from worldclass.config.sections import DataConfig, OptimConfig, TrainerConfig, choice, setting

__all__ = [
    "DataConfig",
    "ExperimentConfig",
    "OptimConfig",
    "Setting",
    "TrainerConfig",
    "apply_overrides",
    "build_section",
    "choice",
    "parse_experiment",
    "read_tree",
    "setting",
    "settings",
]
