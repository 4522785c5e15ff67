"""The config sections every task shares: ``data``, ``optim`` and ``trainer``.

Each task adds its own sections (``model``, ``loss``, ...; see ``worldclass.tasks``). A field that takes
one of a fixed set of values says so with :func:`choice`; the parser refuses other values and lists the
valid ones. Every field carries a one-line help (:func:`setting`, :func:`choice`), which
`worldclass config show` and ``docs/configuration.md`` list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

RESAMPLING = ("bilinear", "nearest")
NORMALIZATION = ("v2", "v1", "none")
PRECISIONS = ("auto", "32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "64-true")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_find_unused_parameters_true", "fsdp")
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")
SWITCH = ("auto", "on", "off")


def choice(default: Any, options: Iterable[Any], help: str = "") -> Any:
    """A dataclass field whose value must be one of ``options``; ``help``: its one-line description."""
    return field(default=default, metadata={"choices": tuple(options), "help": help})


def setting(
    default: Any = None, help: str = "", *, factory: Callable[[], Any] | None = None, path: bool = False
) -> Any:
    """A dataclass field with its one-line ``help`` (listed by `worldclass config show`); ``factory`` for
    mutable defaults; ``path``: an input path, resolved relative to the config file it is written in."""
    meta = {"help": help, "path": path}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    """The data of a run. ``dataset``: a registered dataset name (``worldclass datasets``); ``root``: its
    folder (official archive, store, scenes root). BigEarthNet keys: ``sensors``, ``bands`` (named set or
    list), ``num_classes`` (19 | 43), ``attribute_encoding`` (train on the 43 classes as attributes,
    evaluate on the 19 parents), ``resampling``, ``normalize``, ``include_snow_cloud``, ``splits`` (a
    ``patch_id,split`` file), ``labels`` (a label view). Scene keys: ``patch_size`` (px),
    ``samples_per_epoch``, ``classes`` (label-index order), ``vector`` + ``class_column`` (polygon labels),
    ``val_fraction`` (bottom rows of every scene held out). Benchmark keys: ``product`` (Potsdam),
    ``heights`` and ``boundary_radius`` (ISPRS), ``relaxed_radius`` (Massachusetts), ``annotation``
    (CrowdAI)."""

    root: str = setting(
        "", "Folder of the data: official archive, worldclass store or scenes root", path=True
    )
    dataset: str = setting("bigearthnet", "Registered dataset name (`worldclass datasets`)")
    patch_size: int = setting(256, "Scenes: training window side in pixels")
    samples_per_epoch: int = setting(2000, "Scenes: random windows drawn per training epoch")
    classes: list[str] | None = setting(None, "Scenes: class names in label-index order")
    vector: str | None = setting(
        None, "Scenes: polygon label file in root (e.g. labels.gpkg) instead of label rasters"
    )
    class_column: str = setting("class", "Scenes: polygon attribute holding the class name")
    val_fraction: float = setting(0.2, "Scenes: bottom share of every scene held out for validation")
    sensors: list[str] = setting(help="BigEarthNet: sensors to read (s2, s1)", factory=lambda: ["s2", "s1"])
    bands: str | list[str] | None = setting(
        None, "BigEarthNet: named band set (e.g. s2-10+s1) or list of bands; default: all of the sensors"
    )
    num_classes: int = choice(19, (19, 43), "BigEarthNet: 19 (new nomenclature) or 43 (CLC level 3) classes")
    attribute_encoding: bool = setting(
        False, "BigEarthNet: train on the 43 classes as attributes, score the 19 parents"
    )
    resampling: str = choice("bilinear", RESAMPLING, "BigEarthNet: how 20/60 m bands are brought to 10 m")
    normalize: str = choice("v2", NORMALIZATION, "BigEarthNet: band statistics used for normalisation")
    device_preprocessing: str = choice(
        "auto",
        SWITCH,
        "BigEarthNet: native uint16/float32 bands to the device, resampled and normalised there "
        "(the GPU data path; auto: on when training on CUDA)",
    )
    batch_size: int = setting(64, "Samples per batch")
    num_workers: int = setting(2, "DataLoader worker processes (0: in the main process)")
    include_snow_cloud: bool = setting(
        False, "BigEarthNet: keep patches flagged for seasonal snow or cloud/shadow"
    )
    splits: str | None = setting(
        None, "A patch_id,split file (.parquet or .csv) replacing the archive's splits", path=True
    )
    labels: str | None = setting(
        None,
        "BigEarthNet: a label view (parquet) replacing the labels of its patches, e.g. injected noise",
        path=True,
    )
    subset: str | None = setting(
        None,
        "File of training ids, one per line (patch ids / scene names): only these are trained on "
        "(label-budget runs)",
        path=True,
    )
    statistics: str | None = setting(
        None,
        "Scenes: per-band mean/std by band name from `worldclass stats ROOT --json > FILE`, instead of "
        "computing them from the training scenes",
        path=True,
    )
    label_scheme: str = choice(
        "dfc", ("dfc", "dfc-no-savanna"), "SEN12MS/DFC2020: 10 DFC classes, or 9 with Savanna ignored"
    )
    product: str = setting("RGB", "Potsdam: image product RGB, IRRG or RGBIR")
    heights: str = choice("none", ("none", "dsm", "ndsm"), "ISPRS: height band appended to the image")
    boundary_radius: int = setting(
        3, "ISPRS: eroded-reference radius in px (used when no *_noBoundary files are present)"
    )
    relaxed_radius: int = setting(3, "Massachusetts: relaxed precision/recall tolerance rho in px")
    annotation: str | None = setting(
        None, "CrowdAI: COCO annotation file in each split folder (default annotation.json)"
    )


@dataclass
class OptimConfig:
    """AdamW with ``lr`` and ``weight_decay``; the learning rate rises linearly from lr/10 over
    ``warmup_steps`` optimiser steps, then follows a cosine to lr/10 at the last step (every task).
    Early stopping after ``patience`` validations without improvement of the task's monitored metric."""

    lr: float = setting(1e-3, "Peak AdamW learning rate")
    weight_decay: float = setting(0.01, "AdamW weight decay")
    warmup_steps: int = setting(1000, "Optimiser steps of linear warm-up from lr/10")
    max_epochs: int = setting(100, "Most training epochs")
    patience: int = setting(5, "Validations without improvement before early stopping")
    limit_train_batches: int | None = setting(None, "Batches per training epoch (null: all)")
    limit_val_batches: int | None = setting(None, "Batches per validation (null: all)")


@dataclass
class TrainerConfig:
    """Where and how a run trains: ``out`` folder, ``seed``, Lightning ``accelerator``/``devices`` (per
    node)/``num_nodes``/``strategy``,
    ``precision`` (auto: bf16-mixed on GPU, 32-true on CPU), ``compile`` (torch.compile mode),
    ``channels_last``, ``threshold_tuning`` (classification:
    per-class thresholds tuned on validation at evaluation), ``progress`` bars."""

    out: str = setting(
        "runs/experiment", "Run folder (relative to the working folder): checkpoints/, curves.csv, logs/"
    )
    seed: int = setting(42, "Seed of every random generator")
    accelerator: str = choice(
        "auto", ACCELERATORS, "Lightning accelerator (gpu/cuda need a CUDA build of torch)"
    )
    devices: str | int = setting("auto", "Devices per node: auto, a count, or -1 for all")
    num_nodes: int = setting(1, "Machines (torchrun / SLURM launch one process per device on each)")
    strategy: str = choice(
        "auto", STRATEGIES, "Lightning strategy (auto: DDP when more than one device or node, else single)"
    )
    precision: str = choice("auto", PRECISIONS, "Numeric precision (auto: bf16-mixed on GPU, 32-true on CPU)")
    compile: str = choice("off", COMPILE_MODES, "torch.compile the model for training (a mode, or off)")
    channels_last: str = choice(
        "auto", SWITCH, "Classification/segmentation: channels_last memory format (auto: on with CUDA)"
    )
    threshold_tuning: bool = setting(
        False, "Classification: tune per-class thresholds on validation at evaluation"
    )
    progress: bool = setting(True, "Show progress bars")
