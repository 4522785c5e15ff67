"""Typed experiment configuration: YAML -> dataclasses, with ``--set key=value`` overrides.

Every unknown key, bad choice or wrong type raises :class:`ConfigError` naming the key and the valid
choices. See ``configs/*.yaml`` for complete examples.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from worldclass.errors import ConfigError


@dataclass
class DataConfig:
    """Dataset. Classification: a BigEarthNet source (store recommended). Segmentation: ``dataset``
    ``inria`` (official Inria root) or ``scenes`` (``root/images/*.tif`` + ``root/labels/*.tif`` with the
    same names, or one ``vector`` file of labelled polygons; the bottom ``val_fraction`` of every scene's
    rows is held out for validation)."""

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
    num_classes: int = 19
    attribute_encoding: bool = False  # train on the 43 classes as attributes, evaluate on the 19 parents
    resampling: str = "bilinear"
    normalize: str = "v2"
    batch_size: int = 64
    num_workers: int = 2
    include_snow_cloud: bool = False
    splits: str | None = None


@dataclass
class ModelConfig:
    """Classification: timm ``backbone`` + ``fusion``. Segmentation: ``arch`` (unet|fcn|mlp) on an smp
    ``encoder``, ``refine_steps`` > 0 adds the iterative refiner; ``init_from`` starts from the weights
    of a segmentation checkpoint (fine-tuning, refinement stage) and ``freeze_base`` trains only the refiner."""

    backbone: str = "resnet50"
    fusion: str = "early"
    pretrained: str | None = None
    drop_rate: float = 0.15
    drop_path_rate: float = 0.15
    arch: str = "unet"
    encoder: str = "resnet34"
    refine_steps: int = 0
    init_from: str | None = None
    freeze_base: bool = False


@dataclass
class LossConfig:
    name: str = "auto"  # classification: bce | cw | dcw | focal; segmentation: ce | iou | ce+iou
    power: float = 0.5
    max_weight: float = 50.0
    alpha: float = 0.25
    gamma: float = 2.0


@dataclass
class SamplerConfig:
    name: str = "none"  # none | mros | mlros
    mlros_percentage: float = 25.0


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 1000
    max_epochs: int = 100
    patience: int = 5
    limit_train_batches: int | None = None
    limit_val_batches: int | None = None


@dataclass
class TrainerConfig:
    out: str = "runs/experiment"
    seed: int = 42
    accelerator: str = "auto"
    devices: str | int = "auto"
    precision: str = "auto"  # auto: bf16-mixed on GPU, 32-true on CPU
    threshold_tuning: bool = False
    progress: bool = True


@dataclass
class SSLConfig:
    """Cross-sensor masked autoencoder (``task: ssl``): ViT encoder shared by S2 and S1 (``patch_size``
    px patches of the 120 px input, ``embed_dim``, ``depth``, ``heads``), one decoder per sensor, loss =
    masked reconstruction + ``cross_weight`` x cross-sensor reconstruction + ``contrastive_weight`` x
    InfoNCE(S2, S1) at ``temperature``; ``mask_ratio`` of the tokens hidden per sensor."""

    patch_size: int = 15
    embed_dim: int = 192
    depth: int = 4
    heads: int = 3
    decoder_dim: int = 128
    decoder_depth: int = 2
    proj_dim: int = 128
    mask_ratio: float = 0.5
    cross_weight: float = 1.0
    contrastive_weight: float = 1.0
    temperature: float = 0.1


@dataclass
class ExperimentConfig:
    """The whole run. ``task``: classification (multi-label scenes), segmentation (maps) or ssl
    (self-supervised cross-sensor pretraining on S1 + S2 pairs, labels unused)."""

    task: str = "classification"
    name: str = "experiment"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    ssl: SSLConfig = field(default_factory=SSLConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CHOICES: dict[str, tuple[Any, ...]] = {
    "task": ("classification", "segmentation", "ssl"),
    "data.dataset": ("bigearthnet", "inria", "scenes"),
    "model.arch": ("unet", "fcn", "mlp"),
    "data.num_classes": (19, 43),
    "data.resampling": ("bilinear", "nearest"),
    "data.normalize": ("v2", "v1", "none"),
    "model.fusion": ("early", "late"),
    "loss.name": ("auto", "bce", "cw", "dcw", "focal", "ce", "iou", "ce+iou"),
    "sampler.name": ("none", "mros", "mlros"),
}


def _check_type(key: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        for a in args:
            try:
                return _check_type(key, value, a)
            except ConfigError:
                continue
        raise ConfigError(f"config key {key!r}: {value!r} is not of type {annotation}")
    if annotation is type(None):
        if value is None:
            return None
        raise ConfigError(f"config key {key!r}: expected null")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"config key {key!r}: expected a list, got {value!r}")
        return [_check_type(key, v, args[0]) for v in value]
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):  # YAML 1.1 reads '3e-4' as a string
        try:
            return float(value)
        except ValueError:
            pass
    if annotation in (int, str, bool) and type(value) is annotation:
        return value
    raise ConfigError(f"config key {key!r}: {value!r} is not a {getattr(annotation, '__name__', annotation)}")


def _build(cls: type, values: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        full = f"{prefix}{key}"
        if key not in names:
            close = difflib.get_close_matches(key, names, n=3)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"unknown config key {full!r}{hint}; valid keys under {prefix or 'top level'}: {names}"
            )
        annotation = hints[key]
        if dataclasses.is_dataclass(annotation):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {full!r} must be a mapping")
            kwargs[key] = _build(annotation, value, f"{full}.")  # type: ignore[arg-type]
        else:
            kwargs[key] = _check_type(full, value, annotation)
            if full in CHOICES and kwargs[key] not in CHOICES[full]:
                raise ConfigError(
                    f"config key {full!r}: {value!r} is not valid; choose one of {list(CHOICES[full])}"
                )
    return cls(**kwargs)


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {p!r} is not a section")
    node[parts[-1]] = value


def _apply_overrides(tree: dict[str, Any], overrides: list[str] | None) -> None:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to ``tree`` in place."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: use key=value, e.g. --set optim.lr=3e-4")
        key, raw = item.split("=", 1)
        _set(tree, key.strip(), yaml.safe_load(raw))


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read YAML ``path`` (optional), apply ``key.sub=value`` overrides (values parsed as YAML), validate."""
    tree: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            tree = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: invalid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"{p}: the config must be a mapping of sections")
    _apply_overrides(tree, overrides)
    cfg: ExperimentConfig = _build(ExperimentConfig, tree, "")
    if not cfg.data.root:
        raise ConfigError("config key 'data.root' is required: the BigEarthNet store or archive to train on")
    _check_task(cfg)
    if cfg.data.attribute_encoding and cfg.data.num_classes != 19:
        raise ConfigError(
            "data.attribute_encoding trains on 43 attributes and evaluates on 19: set data.num_classes=19"
        )
    return cfg


def config_from_dict(tree: dict[str, Any], overrides: list[str] | None = None) -> ExperimentConfig:
    """Validated config from a plain dict (e.g. the one stored in a checkpoint) plus overrides."""
    import copy

    tree = copy.deepcopy(tree)
    _apply_overrides(tree, overrides)
    cfg: ExperimentConfig = _build(ExperimentConfig, tree, "")
    _check_task(cfg)
    return cfg


def _check_task(cfg: ExperimentConfig) -> None:
    """Cross-field checks: loss and dataset must fit the task; ``auto`` loss resolved."""
    if cfg.task == "ssl":
        if sorted(cfg.data.sensors) != ["s1", "s2"] or cfg.data.dataset != "bigearthnet":
            raise ConfigError(
                "task ssl learns from S1 + S2 pairs: set data.dataset bigearthnet, data.sensors [s2, s1]"
            )
        if cfg.loss.name != "auto" or cfg.sampler.name != "none":
            raise ConfigError(
                "task ssl has its own losses (see the ssl section): leave loss.name auto, sampler none"
            )
        if cfg.ssl.embed_dim % 4 or cfg.ssl.embed_dim % cfg.ssl.heads or 120 % cfg.ssl.patch_size:
            raise ConfigError(
                "ssl: embed_dim must be a multiple of 4 and of heads; patch_size must divide 120"
            )
        if not 0 < cfg.ssl.mask_ratio < 1:
            raise ConfigError(f"config key 'ssl.mask_ratio': {cfg.ssl.mask_ratio} must be in (0, 1)")
        return
    seg = cfg.task == "segmentation"
    losses = ("ce", "iou", "ce+iou") if seg else ("bce", "cw", "dcw", "focal")
    if cfg.loss.name == "auto":
        cfg.loss.name = "ce+iou" if seg else "bce"
    if cfg.loss.name not in losses:
        raise ConfigError(
            f"config key 'loss.name': {cfg.loss.name!r} is not a {cfg.task} loss; choose one of {list(losses)}"
        )
    if seg and cfg.data.dataset == "bigearthnet":
        raise ConfigError("task segmentation: set data.dataset to 'inria' or 'scenes'")
    if not seg and cfg.data.dataset != "bigearthnet":
        raise ConfigError(
            f"task classification reads BigEarthNet; data.dataset {cfg.data.dataset!r} needs task: segmentation"
        )
    if seg and (cfg.data.patch_size < 32 or cfg.data.patch_size % 32):
        raise ConfigError(f"config key 'data.patch_size': {cfg.data.patch_size} is not a multiple of 32")
    if seg and cfg.data.dataset == "scenes" and not cfg.data.classes:
        raise ConfigError("data.dataset 'scenes' needs data.classes: the class names in label-index order")
    if not 0 < cfg.data.val_fraction < 1:
        raise ConfigError(f"config key 'data.val_fraction': {cfg.data.val_fraction} must be in (0, 1)")
