"""The config sections every task shares: ``data``, ``optim`` and ``trainer``.

Each task adds its own sections (``model``, ``loss``, ...; see ``worldclass.tasks``). A field that takes
one of a fixed set of values says so with :func:`choice`; the parser refuses other values and lists the
valid ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

RESAMPLING = ("bilinear", "nearest")
NORMALIZATION = ("v2", "v1", "none")
PRECISIONS = ("auto", "32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "64-true")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


def choice(default: Any, options: Iterable[Any]) -> Any:
    """A dataclass field whose value must be one of ``options``."""
    return field(default=default, metadata={"choices": tuple(options)})


@dataclass
class DataConfig:
    """The data of a run. ``dataset``: a registered dataset name (``worldclass datasets``); ``root``: its
    folder (official archive, store, scenes root). BigEarthNet keys: ``sensors``, ``bands`` (named set or
    list), ``num_classes`` (19 | 43), ``attribute_encoding`` (train on the 43 classes as attributes,
    evaluate on the 19 parents), ``resampling``, ``normalize``, ``include_snow_cloud``, ``splits`` (a
    ``patch_id,split`` file). Scene keys: ``patch_size`` (px), ``samples_per_epoch``, ``classes``
    (label-index order), ``vector`` + ``class_column`` (polygon labels), ``val_fraction`` (bottom rows
    of every scene held out)."""

    root: str = ""
    dataset: str = "bigearthnet"
    patch_size: int = 256
    samples_per_epoch: int = 2000
    classes: list[str] | None = None
    vector: str | None = None
    class_column: str = "class"
    val_fraction: float = 0.2
    sensors: list[str] = field(default_factory=lambda: ["s2", "s1"])
    bands: str | list[str] | None = None
    num_classes: int = choice(19, (19, 43))
    attribute_encoding: bool = False
    resampling: str = choice("bilinear", RESAMPLING)
    normalize: str = choice("v2", NORMALIZATION)
    batch_size: int = 64
    num_workers: int = 2
    include_snow_cloud: bool = False
    splits: str | None = None


@dataclass
class OptimConfig:
    """AdamW with ``lr`` and ``weight_decay``; the learning rate rises linearly from lr/10 over
    ``warmup_steps`` optimiser steps, then follows a cosine to lr/10 at the last step (every task).
    Early stopping after ``patience`` validations without improvement of the task's monitored metric."""

    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 1000
    max_epochs: int = 100
    patience: int = 5
    limit_train_batches: int | None = None
    limit_val_batches: int | None = None


@dataclass
class TrainerConfig:
    """Where and how a run trains: ``out`` folder, ``seed``, Lightning ``accelerator``/``devices``,
    ``precision`` (auto: bf16-mixed on GPU, 32-true on CPU), ``threshold_tuning`` (classification:
    per-class thresholds tuned on validation at evaluation), ``progress`` bars."""

    out: str = "runs/experiment"
    seed: int = 42
    accelerator: str = choice("auto", ACCELERATORS)
    devices: str | int = "auto"
    precision: str = choice("auto", PRECISIONS)
    threshold_tuning: bool = False
    progress: bool = True
