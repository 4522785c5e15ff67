"""Generic GeoTIFF scenes with raster or vector labels (``data.dataset: scenes``).

**Layout.** ``<root>/images/*.tif`` (any band count and dtype; band names from the GeoTIFF descriptions)
and either ``<root>/labels/<same name>.tif`` (class indices on the image grid; values >= the number of
classes are ignored) or one vector file ``data.vector`` (GPKG/GeoJSON/Shapefile/FlatGeobuf, relative to
the root or absolute) whose ``data.class_column`` holds class names or indices; polygons are rasterized
per window on the scene grid, reprojected when their CRS differs.

**Splits.** ``train`` = the top ``1 - data.val_fraction`` of every scene's rows, ``val`` = the bottom rows
(a spatial hold-out inside each scene).

**Classes.** ``data.classes``, in label-index order (required).

**Samples.** ``image`` float32 (C, patch_size, patch_size) normalised as ``(raw * scale - mean) / std``
(scale 1/255 for uint8, 1/10000 for uint16; mean/std from the training scenes), ``mask`` int64
(patch_size, patch_size) with ignore index 255, ``group`` and ``scene`` = the file stem.

**Licence / citation.** Those of the user's imagery and labels.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from worldclass.config import DataConfig
from worldclass.datasets import register_dataset
from worldclass.datasets.scene_base import SceneCollection
from worldclass.errors import ConfigError, MissingFileError


@register_dataset
class GeoTiffScenes(SceneCollection):
    name = "scenes"
    summary = "any GeoTIFF scenes with label rasters or one vector file of labelled polygons"

    def validate(self, data: DataConfig) -> None:
        super().validate(data)
        if not data.classes:
            raise ConfigError(
                "data.dataset 'scenes' needs data.classes: the class names in label-index order"
            )

    def classes(self, data: DataConfig) -> list[str]:
        if not data.classes:
            raise ConfigError(
                "data.dataset 'scenes' needs data.classes: the class names in label-index order"
            )
        return list(data.classes)

    def scenes(self, data: DataConfig, split: str) -> list[Any]:
        from worldclass.data.scenes import Scene

        if split not in self.splits:
            raise ConfigError(f"split {split!r}: scenes have {list(self.splits)} (a row hold-out per scene)")
        root = Path(data.root)
        images = sorted((root / "images").glob("*.tif"))
        if not images:
            raise MissingFileError(f"{root / 'images'}: no scene GeoTIFFs (expected <root>/images/*.tif)")
        vector = Path(data.vector) if data.vector else None
        if vector is not None and not vector.is_absolute() and not vector.exists():
            vector = root / vector
        out = []
        for img in images:
            labels = root / "labels" / img.name
            if vector is None and not labels.is_file():
                raise MissingFileError(f"{labels}: label raster missing for {img.name} (or set data.vector)")
            out.append(
                Scene(
                    img,
                    labels=None if vector else labels,
                    vector=vector,
                    class_column=data.class_column,
                    group=img.stem,
                )
            )
        cut = 1 - data.val_fraction
        rows = (0.0, cut) if split == "train" else (cut, 1.0)
        return [replace(s, rows=rows) for s in out]

    def make_fake(self, root: Path, *, seed: int = 0) -> list[str]:
        from worldclass.data.synth.aerial import AERIAL_CLASSES, synth_scenes

        synth_scenes(root, size=256, scenes=2, seed=seed)
        return [
            f"data.root={root}",
            "data.dataset=scenes",
            f"data.classes={AERIAL_CLASSES}",
            "data.vector=labels.gpkg",
            "data.patch_size=64",
        ]
