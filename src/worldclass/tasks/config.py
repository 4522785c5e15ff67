"""Whole experiment configs: common sections (``worldclass.config``) plus the sections of the chosen
task, validated by the task and the dataset registry."""

from __future__ import annotations

import copy
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
    rules.append(
        ("trainer.num_nodes", cfg.trainer.num_nodes, cfg.trainer.num_nodes >= 1, "1 or more machines")
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
            "use 'auto' or 'cpu', or install the CUDA build of torch (`make cuda`, README: GPU set-up)"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "config key 'trainer.accelerator': 'mps' is not available here; use 'auto' or 'cpu'"
        )


#: What ``--smoke`` does to every recipe (then the task's own :attr:`Task.smoke`, then ``--set``): one
#: short epoch of a few small batches, a short validation, in-process data loading.
SMOKE = (
    "optim.max_epochs=1",
    "optim.limit_train_batches=2",
    "optim.limit_val_batches=2",
    "optim.warmup_steps=1",
    "optim.patience=1",
    "data.batch_size=8",
    "data.num_workers=0",
    "data.samples_per_epoch=16",
)
#: Scene datasets: the largest training window of a smoke run (px).
SMOKE_WINDOW = 128


def smoke_overrides(tree: dict[str, Any]) -> list[str]:
    """The overrides ``--smoke`` applies to config ``tree``: :data:`SMOKE`, the task's small model (its
    ``data.*`` smoke settings only where the recipe leaves that key unset: a recipe's own bands/sensors
    stay), windows of at most :data:`SMOKE_WINDOW` px, and ``trainer.out`` + ``-smoke`` (a real run's folder
    is never touched)."""
    task = get_task(str(tree.get("task", DEFAULT_TASK)))
    data = tree.get("data") if isinstance(tree.get("data"), dict) else {}
    trainer = tree.get("trainer") if isinstance(tree.get("trainer"), dict) else {}
    own = {f"data.{k}" for k in (data or {})}
    out = [*SMOKE, *(o for o in task.smoke if o.split("=", 1)[0] not in own)]
    size = data.get("patch_size", 256) if data else 256
    if isinstance(size, int) and size > SMOKE_WINDOW:
        out.append(f"data.patch_size={SMOKE_WINDOW}")
    base = str((trainer or {}).get("out", "runs/experiment")).rstrip("/")
    return [*out, f"trainer.out={base}-smoke"]


def _path_keys(tree: dict[str, Any]) -> set[str]:
    """Dotted keys of the input paths (``setting(path=True)``) of the config's task."""
    from worldclass.config.schema import settings

    name = tree.get("task", DEFAULT_TASK)
    sections = get_task(name).sections if isinstance(name, str) else {}
    return {s.key for s in settings(sections) if s.path}


def _resolve_paths(tree: dict[str, Any], base: Path) -> None:
    """Relative input paths of a config file -> absolute, against the file's folder (``~`` expanded)."""
    for key in _path_keys(tree):
        section, name = key.split(".", 1)
        node = tree.get(section)
        value = node.get(name) if isinstance(node, dict) else None
        if isinstance(value, str) and value:
            p = Path(value).expanduser()
            node[name] = str(p if p.is_absolute() else (base / p).resolve())  # type: ignore[index]


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    smoke: bool = False,
    need_root: bool = True,
) -> ExperimentConfig:
    """Read YAML ``path`` (optional; its relative input paths resolved against its folder), apply
    :func:`smoke_overrides` when ``smoke``, then the ``key.sub=value`` overrides (values parsed as YAML;
    paths relative to the working folder) and validate against the task's and the dataset's rules
    (``need_root``: a ``data.root`` is required)."""
    tree = read_tree(path, None)
    if path is not None:
        _resolve_paths(tree, Path(path).absolute().parent)  # a linked config folder counts as where it is
    extra = list(overrides or [])
    if smoke:
        probe = copy.deepcopy(tree)
        apply_overrides(probe, extra)  # the task and trainer.out as finally chosen
        extra = [*smoke_overrides(probe), *extra]
    apply_overrides(tree, extra)
    return _parse(tree, need_root=need_root)


def config_from_dict(tree: dict[str, Any], overrides: list[str] | None = None) -> ExperimentConfig:
    """Validated config from a plain dict (e.g. the one stored in a checkpoint) plus overrides."""
    tree = copy.deepcopy(tree)
    apply_overrides(tree, overrides)
    return _parse(tree, need_root=False)
