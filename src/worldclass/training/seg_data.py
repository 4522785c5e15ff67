"""Segmentation data from a config: Inria or generic scenes -> train/val :class:`SceneDataset` s."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from worldclass.config import ExperimentConfig
from worldclass.data.inria import INRIA_CLASSES, inria_scenes
from worldclass.data.rasters import open_raster
from worldclass.data.scenes import Scene, SceneDataset, band_statistics
from worldclass.errors import ConfigError, MissingFileError


def config_scenes(cfg: ExperimentConfig, split: str) -> tuple[list[Scene], list[str]]:
    """Scenes and class names of ``split`` (train | val | test) for the config's dataset."""
    d = cfg.data
    if d.dataset == "inria":
        return inria_scenes(d.root, split), list(INRIA_CLASSES)
    assert d.classes
    root = Path(d.root)
    images = sorted((root / "images").glob("*.tif"))
    if not images:
        raise MissingFileError(f"{root / 'images'}: no scene GeoTIFFs (expected <root>/images/*.tif)")
    vector = Path(d.vector) if d.vector else None
    if vector is not None and not vector.is_absolute() and not vector.exists():
        vector = root / vector
    scenes = []
    for img in images:
        labels = root / "labels" / img.name
        if vector is None and not labels.is_file():
            raise MissingFileError(f"{labels}: label raster missing for {img.name} (or set data.vector)")
        scenes.append(Scene(img, labels=None if vector else labels, vector=vector, class_column=d.class_column,
                            group=img.stem))  # fmt: skip
    cut = 1 - d.val_fraction
    rows = (0.0, cut) if split == "train" else (cut, 1.0)
    return [replace(s, rows=rows) for s in scenes], list(d.classes)


def scene_dtype(scene: Scene) -> str:
    with open_raster(scene.image) as src:
        if len(set(src.dtypes)) != 1:
            raise ConfigError(f"{scene.image}: bands of mixed pixel types {src.dtypes}")
        return str(src.dtypes[0])


def default_scale(dtype: str) -> float:
    """Input scale putting integer imagery in [0, 1] (uint8 /255, uint16 /10000 as for S2 reflectance)."""
    return {"uint8": 1 / 255, "uint16": 1 / 10000}.get(dtype, 1.0)


def band_names(scene: Scene) -> list[str]:
    with open_raster(scene.image) as src:
        return [d or f"band{i}" for i, d in enumerate(src.descriptions, 1)]


class SegmentationDataModule(L.LightningDataModule):
    """Train: random windows; val: grid windows. ``preprocessing`` (scale, mean, std, dtype) is computed
    from the training scenes once and goes into the checkpoint."""

    def __init__(self, cfg: ExperimentConfig, preprocessing: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        train, self.classes = config_scenes(cfg, "train")
        val, _ = config_scenes(cfg, "val")
        self.scenes = {"train": train, "val": val}
        self.bands = band_names(train[0])
        if preprocessing is None:
            dtype = scene_dtype(train[0])
            scale = default_scale(dtype)
            mean, std = band_statistics(train, scale=scale)
            preprocessing = {"scale": scale, "mean": mean, "std": std, "dtype": dtype}
        self.preprocessing = preprocessing
        d, p = cfg.data, preprocessing
        common = dict(classes=self.classes, size=d.patch_size, scale=p["scale"], mean=p["mean"], std=p["std"])
        self.datasets = {
            "train": SceneDataset(train, mode="random", samples_per_epoch=d.samples_per_epoch, **common),
            "val": SceneDataset(val, mode="grid", **common),
        }

    def train_dataloader(self) -> DataLoader[Any]:
        d = self.cfg.data
        return DataLoader(self.datasets["train"], batch_size=d.batch_size, shuffle=False, num_workers=d.num_workers,
                          persistent_workers=d.num_workers > 0, pin_memory=torch.cuda.is_available(), drop_last=True)  # fmt: skip

    def val_dataloader(self) -> DataLoader[Any]:
        d = self.cfg.data
        return DataLoader(self.datasets["val"], batch_size=d.batch_size, num_workers=d.num_workers,
                          persistent_workers=d.num_workers > 0)  # fmt: skip
