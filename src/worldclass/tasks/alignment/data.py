"""Alignment training data: windows of a scene dataset whose map (the rasterised map classes) is drawn
misaligned by a random smooth displacement field plus a constant shift; the field is the target.

Each sample: ``image`` (C + K, H, W) float32 = the normalised image bands, then the K misaligned map
rasters (0/1); ``field`` (2, H, W) float32 px (x, y; convention of :mod:`worldclass.data.misalign`);
``maps`` (K, H, W) uint8 the true map rasters; ``mask`` the true class mask. Training windows draw a new field each time (from the torch RNG, so seeded
runs repeat); validation windows always get the same field (seeded by the window index).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from worldclass.config import ExperimentConfig
from worldclass.data.misalign import displacement_field, warp_raster
from worldclass.tasks.segmentation.data import SegmentationDataModule


@dataclass(frozen=True)
class FieldSpec:
    """Random misalignment of the training maps: smooth part of RMS uniform in [0, ``amplitude``] px with
    correlation length ``scale`` px, plus a constant shift uniform in [-``max_shift``, ``max_shift``] px
    per axis."""

    amplitude: float = 4.0
    scale: float = 64.0
    max_shift: float = 6.0

    def draw(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        fld = displacement_field(
            shape,
            amplitude=float(rng.uniform(0, self.amplitude)),
            scale=self.scale,
            seed=int(rng.integers(2**31)),
        )
        return fld + rng.uniform(-self.max_shift, self.max_shift, (2, 1, 1)).astype(np.float32)


class MisalignedWindows(Dataset[dict[str, Any]]):
    """``base`` scene windows with misaligned map channels of ``map_classes`` (class indices)."""

    def __init__(
        self, base: Any, map_classes: list[int], spec: FieldSpec, *, fixed: bool, seed: int = 0
    ) -> None:
        self.base, self.map_classes, self.spec, self.fixed, self.seed = base, map_classes, spec, fixed, seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = self.base[index]
        mask = s["mask"].numpy()
        seed = [self.seed, index] if self.fixed else int(torch.randint(0, 2**31, ()).item())
        rng = np.random.default_rng(seed)
        fld = self.spec.draw(mask.shape, rng)
        truth = np.stack([(mask == c).astype(np.uint8) for c in self.map_classes])
        maps = np.stack([warp_raster(t, fld) for t in truth])
        image = torch.cat([s["image"], torch.from_numpy(maps.astype(np.float32))])
        return {
            "image": image,
            "field": torch.from_numpy(fld),
            "maps": torch.from_numpy(truth),
            "mask": s["mask"],
            "group": s["group"],
            "scene": s["scene"],
            "index": index,
        }


class AlignmentDataModule(L.LightningDataModule):
    """The segmentation DataModule's windows (same scenes, splits, statistics) as misaligned samples."""

    def __init__(self, cfg: ExperimentConfig, map_classes: list[int], spec: FieldSpec) -> None:
        super().__init__()
        self.cfg = cfg
        self.seg = SegmentationDataModule(cfg)
        self.classes, self.bands, self.preprocessing = (
            self.seg.classes,
            self.seg.bands,
            self.seg.preprocessing,
        )
        self.datasets = {
            "train": MisalignedWindows(self.seg.datasets["train"], map_classes, spec, fixed=False),
            "val": MisalignedWindows(
                self.seg.datasets["val"], map_classes, spec, fixed=True, seed=cfg.trainer.seed
            ),
        }

    def train_dataloader(self) -> DataLoader[Any]:
        d = self.cfg.data
        return DataLoader(
            self.datasets["train"],
            batch_size=d.batch_size,
            num_workers=d.num_workers,
            pin_memory=torch.cuda.is_available(),
            drop_last=True,
        )

    def val_dataloader(self) -> DataLoader[Any]:
        d = self.cfg.data
        return DataLoader(self.datasets["val"], batch_size=d.batch_size, num_workers=d.num_workers)
