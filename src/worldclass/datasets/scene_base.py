"""Shared behaviour of segmentation datasets: scenes of a split -> windows, preprocessing from the
training scenes, embedding plans over grid windows."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from torch.utils.data import Dataset

from worldclass.config import DataConfig
from worldclass.data.splits import keep_subset
from worldclass.datasets.base import EmbeddingPlan, RegisteredDataset
from worldclass.errors import ConfigError


def default_scale(dtype: str) -> float:
    """Input scale putting integer imagery in [0, 1] (uint8 /255, uint16 /10000 as for S2 reflectance)."""
    return {"uint8": 1 / 255, "uint16": 1 / 10000}.get(dtype, 1.0)


class SceneCollection(RegisteredDataset):
    """A segmentation dataset: whole scenes per split; training windows are random, others a grid."""

    kind = "segmentation"
    sample_keys: ClassVar[dict[str, tuple[str, str]]] = {
        "image": ("float32", "(C, patch_size, patch_size)"),
        "mask": ("int64", "(patch_size, patch_size)"),
        "group": ("str", ""),
        "scene": ("str", ""),
        "index": ("int", "window number in the split (distributed validation counts each once)"),
    }
    #: Split names of this dataset; the first is the training split, the second the validation split.
    splits: tuple[str, ...] = ("train", "val")
    #: Official submission format written by `worldclass benchmark-submission` (None: the benchmark has
    #: none): ``inria`` (0/255 tiles), ``isprs`` (colour-coded label images), ``coco`` (COCO results).
    submission: ClassVar[str | None] = None
    #: Training scenes read for the band statistics at most (evenly spaced; CrowdAI has 280k images).
    statistics_scenes: ClassVar[int] = 256
    #: Splits whose grid windows ``worldclass embed`` embeds (default: the training and validation split).
    embedding_splits: ClassVar[tuple[str, ...] | None] = None

    def class_colours(self, data: DataConfig) -> list[tuple[int, int, int]] | None:
        """RGB per class in label-index order, the benchmark's own colour code (None: worldclass palette)."""
        return None

    def evaluation_rule(self, data: DataConfig) -> dict[str, Any] | None:
        """The benchmark's own evaluation rule, scored beside the confusion-matrix metrics by
        ``worldclass evaluate``: ``{"rule": "isprs" | "relaxed" | "coco", ...parameters}`` (None: none)."""
        return None

    @abstractmethod
    def scenes(self, data: DataConfig, split: str) -> list[Any]:
        """:class:`worldclass.data.scenes.Scene` s of ``split``."""

    @abstractmethod
    def classes(self, data: DataConfig) -> list[str]:
        """Class names in label-index order."""

    def validate(self, data: DataConfig) -> None:
        if data.device_preprocessing == "on":
            raise ConfigError(
                "config key 'data.device_preprocessing': on is for BigEarthNet (native Sentinel bands); scene "
                "windows are prepared in the loader: use auto or off"
            )
        if data.patch_size < 32 or data.patch_size % 32:
            raise ConfigError(f"config key 'data.patch_size': {data.patch_size} is not a multiple of 32")
        if not 0 < data.val_fraction < 1:
            raise ConfigError(f"config key 'data.val_fraction': {data.val_fraction} must be in (0, 1)")

    def bands(self, data: DataConfig) -> list[str]:
        """Band names of the scenes (GeoTIFF descriptions, else ``band<i>``)."""
        from worldclass.data.rasters import open_raster

        with open_raster(self.scenes(data, self.splits[0])[0].image) as src:
            return [d or f"band{i}" for i, d in enumerate(src.descriptions, 1)]

    def preprocessing(self, data: DataConfig) -> dict[str, Any]:
        """``{"scale", "mean", "std", "dtype"}`` (``x = (raw*scale-mean)/std``): mean/std from
        ``data.statistics`` (a ``worldclass stats --json`` file, by band name) or else from the training
        scenes (at most :attr:`statistics_scenes`, evenly spaced)."""
        from worldclass.data.scene_access import band_statistics, scene_dtype

        train = self.scenes(data, self.splits[0])
        step = max(1, -(-len(train) // self.statistics_scenes))  # ceil: at most statistics_scenes read
        train = train[::step]
        dtype = scene_dtype(train[0])
        scale = default_scale(dtype)
        if data.statistics:
            from worldclass.data.landcover_stats import statistics_from_file

            mean, std = statistics_from_file(data.statistics, self.bands(data), scale)
        else:
            mean, std = band_statistics(train, scale=scale)
        return {"scale": scale, "mean": mean, "std": std, "dtype": dtype}

    def open(self, data: DataConfig, split: str, **options: Any) -> Dataset[Any]:
        """Windows of ``split``; ``preprocessing`` (default: computed from the training scenes) and
        ``mode`` (default: random for the training split, grid otherwise) may be given."""
        from worldclass.data.scenes import SceneDataset

        pre = options.pop("preprocessing", None) or self.preprocessing(data)
        mode = options.pop("mode", "random" if split == self.splits[0] else "grid")
        scenes = self.scenes(data, split)
        if data.subset and split == self.splits[0]:
            scenes = keep_subset(scenes, data.subset, [s.name for s in scenes])
        return SceneDataset(
            scenes,
            self.classes(data),
            size=options.pop("size", data.patch_size),
            mode=mode,
            samples_per_epoch=data.samples_per_epoch,
            scale=pre["scale"],
            mean=pre["mean"],
            std=pre["std"],
            **options,
        )

    def embedding_plan(
        self, data: DataConfig, preprocessing: dict[str, Any], bands: Sequence[str], window: int | None
    ) -> EmbeddingPlan:
        parts: list[Any] = []
        ids: list[str] = []
        splits: list[str] = []
        size = window or data.patch_size
        for split in self.embedding_splits or self.splits[:2]:
            ds: Any = self.open(data, split, preprocessing=preprocessing, mode="grid", size=size)
            parts.append(ds)
            for i, win in ds.windows:
                ids.append(f"{ds.scenes[i].name}@{int(win.col_off)},{int(win.row_off)}")
                splits.append(split)
        rows = WindowRows(parts, self.classes(data))
        return EmbeddingPlan(rows, ids, splits, rows.label_names(), self.classes(data))


class WindowRows(Dataset[dict[str, Any]]):
    """Concatenated grid-window datasets yielding ``image`` only; labels = classes covering ≥ 1 % of the
    window (read once for the row table)."""

    def __init__(self, parts: Sequence[Any], classes: Sequence[str]) -> None:
        self.parts, self.classes = list(parts), list(classes)
        self.offsets = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _locate(self, i: int) -> tuple[Any, int]:
        k = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return self.parts[k], i - int(self.offsets[k])

    def __getitem__(self, i: int) -> dict[str, Any]:
        part, j = self._locate(i)
        return {"image": part[j]["image"]}

    def label_names(self) -> list[list[str]]:
        out = []
        for i in range(len(self)):
            part, j = self._locate(i)
            mask = part[j]["mask"].numpy()
            counts = np.bincount(mask[mask < len(self.classes)].ravel(), minlength=len(self.classes))
            out.append([c for c, n in zip(self.classes, counts, strict=True) if n >= 0.01 * mask.size])
        return out
