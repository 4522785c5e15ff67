"""Segmentation data of a run: a registered scene dataset -> train (random windows) / val (grid windows)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from worldclass.config import ExperimentConfig
from worldclass.datasets import get_dataset
from worldclass.datasets.scene_base import SceneCollection


class SegmentationDataModule(L.LightningDataModule):
    """Train: random windows; val: grid windows. ``preprocessing`` (scale, mean, std, dtype) is computed
    from the training scenes once and goes into the checkpoint."""

    def __init__(self, cfg: ExperimentConfig, preprocessing: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        dataset = get_dataset(cfg.data.dataset)
        assert isinstance(dataset, SceneCollection)
        self.classes = dataset.classes(cfg.data)
        self.bands = dataset.bands(cfg.data)
        self.class_colours = dataset.class_colours(cfg.data)
        self.preprocessing = preprocessing or dataset.preprocessing(cfg.data)
        train, val = dataset.splits[:2]
        self.datasets = {
            "train": dataset.open(cfg.data, train, preprocessing=self.preprocessing),
            "val": dataset.open(cfg.data, val, preprocessing=self.preprocessing),
        }

    def train_dataloader(self) -> DataLoader[Any]:
        d = self.cfg.data
        return DataLoader(
            self.datasets["train"],
            batch_size=d.batch_size,
            shuffle=False,
            num_workers=d.num_workers,
            persistent_workers=False,  # fresh workers each epoch, seeded from the checkpointed RNG: exact resume
            pin_memory=torch.cuda.is_available(),
            drop_last=True,
        )

    def val_dataloader(self) -> DataLoader[Any]:
        d = self.cfg.data
        return DataLoader(
            self.datasets["val"],
            batch_size=d.batch_size,
            num_workers=d.num_workers,
        )
