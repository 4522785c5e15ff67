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
    _check_ranges(cfg)
    dataset.validate(cfg.data)
    task.validate(cfg)
    return cfg


def _check_ranges(cfg: ExperimentConfig) -> None:
    """Numbers every task shares, refused here with the key to fix (they used to surface as Lightning or
    torch tracebacks, or, for ``max_epochs: 0``, as the previous run's checkpoint reported best)."""
    d, o = cfg.data, cfg.optim
    rules: list[tuple[str, Any, bool, str]] = [
        ("data.batch_size", d.batch_size, d.batch_size >= 1, "at least 1"),
        ("data.num_workers", d.num_workers, d.num_workers >= 0, "0 (main process) or more"),
        ("data.samples_per_epoch", d.samples_per_epoch, d.samples_per_epoch >= 1, "at least 1"),
        ("optim.lr", o.lr, o.lr > 0, "a positive learning rate"),
        ("optim.weight_decay", o.weight_decay, o.weight_decay >= 0, "0 or more"),
        ("optim.warmup_steps", o.warmup_steps, o.warmup_steps >= 0, "0 or more"),
        ("optim.max_epochs", o.max_epochs, o.max_epochs >= 1, "at least 1"),
        ("optim.patience", o.patience, o.patience >= 1, "at least 1 epoch"),
    ]
    for key in ("limit_train_batches", "limit_val_batches"):
        value = getattr(o, key)
        rules.append((f"optim.{key}", value, value is None or value >= 1, "at least 1, or null for all"))
    devices = cfg.trainer.devices
    rules.append(
        (
            "trainer.devices",
            devices,
            devices == "auto" or (isinstance(devices, int) and (devices >= 1 or devices == -1)),
            "'auto', -1 (all) or a positive number of devices",
        )
    )
    for key, value, ok, want in rules:
        if not ok:
            raise ConfigError(f"config key {key!r}: {value!r}; use {want}")
    _check_accelerator(cfg.trainer.accelerator)


def _check_accelerator(accelerator: str) -> None:
    """A requested GPU must exist here (Lightning would fail only after the run folder is touched)."""
    import torch

    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"config key 'trainer.accelerator': {accelerator!r} but this machine has no usable CUDA GPU; "
            "use 'auto' or 'cpu'"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "config key 'trainer.accelerator': 'mps' is not available here; use 'auto' or 'cpu'"
        )


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
