"""``worldclass train``: wire config -> DataModule (+ sampler) -> ClassificationModule -> Lightning Trainer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from worldclass.config import ExperimentConfig
from worldclass.data.datamodule import BigEarthNetDataModule
from worldclass.data.nomenclature import CLASSES19, CLASSES43
from worldclass.data.sampling import IndexListSampler, MROSSampler, ml_ros, mros_weights
from worldclass.models.checkpoint import ModelMeta
from worldclass.training.losses import WeightedBCE
from worldclass.training.module import ClassificationModule


def build_datamodule(cfg: ExperimentConfig) -> BigEarthNetDataModule:
    """DataModule of the config; with attribute encoding the datasets carry the 43 classes."""
    d = cfg.data
    sampler = None
    if cfg.sampler.name != "none":
        seed, name, pct = cfg.trainer.seed, cfg.sampler.name, cfg.sampler.mlros_percentage

        def sampler(ds: Any) -> Any:
            labels = ds.labels()
            if name == "mros":
                return MROSSampler(mros_weights(labels), seed=seed)
            return IndexListSampler(ml_ros(labels, pct, seed=seed), seed=seed)

    return BigEarthNetDataModule(
        d.root, batch_size=d.batch_size, num_workers=d.num_workers, train_sampler=sampler,
        sensors=tuple(d.sensors), num_classes=43 if d.attribute_encoding else d.num_classes,
        bands=d.bands, resampling=d.resampling, normalize=d.normalize,
        include_snow_cloud=d.include_snow_cloud, splits=d.splits,
    )  # fmt: skip


class DynamicClassWeights(Callback):
    """DCW: before each epoch, set BCE pos_weight from the label counts of the samples that epoch draws."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loss = getattr(pl_module, "loss", None)
        if not isinstance(loss, WeightedBCE) or not loss.dynamic:
            return
        loader = trainer.train_dataloader
        sampler = getattr(loader, "sampler", None)
        if isinstance(sampler, MROSSampler | IndexListSampler):
            sampler.set_epoch(trainer.current_epoch)
            drawn = sampler.indices().numpy()
        else:
            drawn = np.arange(len(self.labels))
        loss.update(self.labels[drawn].sum(0), len(drawn))


@dataclass
class TrainResult:
    best_checkpoint: Path
    last_checkpoint: Path
    best_score: float
    epochs: int
    out: Path


def _precision(cfg: ExperimentConfig) -> str:
    if cfg.trainer.precision != "auto":
        return cfg.trainer.precision
    return "bf16-mixed" if torch.cuda.is_available() else "32-true"


def _prepare(cfg: ExperimentConfig) -> None:
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    out = Path(cfg.trainer.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))


def train(cfg: ExperimentConfig, *, resume: bool = False) -> TrainResult:
    """Train per ``cfg``; writes ``OUT/checkpoints/{best,last}.ckpt``, CSV (+TensorBoard) logs, config.

    ``resume`` continues exactly from ``last.ckpt`` (optimizer, scheduler, epoch, RNG states) if present.
    """
    if cfg.task == "segmentation":
        return train_segmentation(cfg, resume=resume)
    if cfg.task == "ssl":
        return train_ssl(cfg, resume=resume)
    _prepare(cfg)
    dm = build_datamodule(cfg)
    dm.setup("fit")
    train_ds = dm.datasets["train"]
    labels = train_ds.labels()
    attribute = cfg.data.attribute_encoding
    meta = ModelMeta(
        task="classification", bands=list(train_ds.bands),
        classes=list(CLASSES19 if attribute else train_ds.classes),
        nomenclature="43->19" if attribute else str(cfg.data.num_classes),
        preprocessing=train_ds.transform.describe(), config=cfg.to_dict(),
        output_classes=list(CLASSES43 if attribute else train_ds.classes),
    )  # fmt: skip
    module = ClassificationModule(
        cfg.to_dict(), meta.to_dict(), labels.sum(0).astype(int).tolist(), len(labels)
    )
    return fit(cfg, module, dm, "val/map_macro", [DynamicClassWeights(labels)], resume=resume)


def train_segmentation(cfg: ExperimentConfig, *, resume: bool = False) -> TrainResult:
    """Segmentation run: scenes -> SegmentationModule; checkpoint keeps bands, classes, preprocessing."""
    from worldclass.training.seg_data import SegmentationDataModule
    from worldclass.training.seg_module import SegmentationModule

    _prepare(cfg)
    dm = SegmentationDataModule(cfg)
    meta = ModelMeta(
        task="segmentation", bands=dm.bands, classes=dm.classes, nomenclature=cfg.data.dataset,
        preprocessing=dm.preprocessing, config=cfg.to_dict(), output_classes=dm.classes,
    )  # fmt: skip
    module = SegmentationModule(cfg.to_dict(), meta.to_dict())
    module.initialise()
    return fit(cfg, module, dm, "val/iou", [], resume=resume)


def train_ssl(cfg: ExperimentConfig, *, resume: bool = False) -> TrainResult:
    """Self-supervised cross-sensor run (labels unused); best checkpoint = lowest validation loss."""
    from worldclass.ssl.module import SSLModule

    _prepare(cfg)
    dm = build_datamodule(cfg)
    dm.setup("fit")
    ds = dm.datasets["train"]
    meta = ModelMeta(task="ssl", bands=list(ds.bands), classes=[], nomenclature="none",
                     preprocessing=ds.transform.describe(), config=cfg.to_dict(), output_classes=[])  # fmt: skip
    return fit(cfg, SSLModule(cfg.to_dict(), meta.to_dict()), dm, "val/loss", [], resume=resume, mode="min")


def fit(
    cfg: ExperimentConfig, module: L.LightningModule, dm: L.LightningDataModule, monitor: str,
    extra: list[Callback], *, resume: bool = False, mode: str = "max",
) -> TrainResult:  # fmt: skip
    """Lightning fit with best/last checkpoints on ``monitor`` (``mode`` max/min), early stopping, CSV
    (+TB) logs."""
    out = Path(cfg.trainer.out)
    ckpt_dir = out / "checkpoints"
    callbacks: list[Callback] = [
        ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode=mode, save_last=True),
        EarlyStopping(monitor=monitor, mode=mode, patience=cfg.optim.patience),
        *extra,
    ]
    loggers: list[Any] = [L.pytorch.loggers.CSVLogger(out, name="logs")]
    try:
        import tensorboard  # noqa: F401

        loggers.append(L.pytorch.loggers.TensorBoardLogger(out, name="tb"))
    except ImportError:
        pass
    trainer = L.Trainer(
        default_root_dir=out, max_epochs=cfg.optim.max_epochs, accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices, precision=_precision(cfg), callbacks=callbacks, logger=loggers,  # type: ignore[arg-type]
        deterministic="warn", enable_progress_bar=cfg.trainer.progress, log_every_n_steps=5,
        limit_train_batches=cfg.optim.limit_train_batches, limit_val_batches=cfg.optim.limit_val_batches,
        use_distributed_sampler=cfg.sampler.name == "none", enable_model_summary=False,
    )  # fmt: skip
    last = ckpt_dir / "last.ckpt"
    trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resume and last.is_file() else None)
    ckpt_cb = callbacks[0]
    assert isinstance(ckpt_cb, ModelCheckpoint)
    best = Path(ckpt_cb.best_model_path) if ckpt_cb.best_model_path else last
    score = ckpt_cb.best_model_score
    return TrainResult(
        best, last, float(score) if score is not None else float("nan"), trainer.current_epoch, out
    )
