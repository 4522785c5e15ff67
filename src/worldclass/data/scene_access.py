"""Whole-scene reads: a scene's pixel type, per-band statistics from decimated reads, and a GDAL path
for scenes whose pixels live in a store (the mapping engine reads rasters)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.windows import Window

from worldclass.data.rasters import open_raster
from worldclass.data.scenes import Scene
from worldclass.errors import DataError


def scene_dtype(scene: Scene) -> str:
    """The pixel type of a scene's bands (one type for all; mixed types are refused)."""
    if scene.source is not None:
        return scene.source.dtype
    with open_raster(scene.image) as src:
        if len(set(src.dtypes)) != 1:
            raise DataError(f"{scene.image}: bands of mixed pixel types {src.dtypes}; convert it to one type")
        return str(src.dtypes[0])


@contextmanager
def scene_raster(scene: Scene) -> Iterator[Path]:
    """A raster path of the scene's image for readers that need GDAL (the mapping engine): the file
    itself, or for a ``source`` scene an in-memory GeoTIFF (``/vsimem/``) of its pixels, released after."""
    if scene.source is None:
        yield scene.image
        return
    from rasterio.crs import CRS
    from rasterio.io import MemoryFile

    src = scene.source
    georef: dict[str, Any] = getattr(src, "georef", dict)()
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": src.height,
        "width": src.width,
        "count": src.count,
        "dtype": src.dtype,
    }
    if georef.get("crs"):
        profile.update(crs=CRS.from_wkt(georef["crs"]), transform=Affine(*georef["transform"]))
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(src.read(None, Window(0, 0, src.width, src.height)))
            dst.descriptions = src.descriptions
        yield Path(mem.name)


def band_statistics(
    scenes: Sequence[Scene],
    *,
    scale: float = 1 / 255,
    bands: Sequence[int] | None = None,
    max_side: int = 512,
) -> tuple[list[float], list[float]]:
    """Per-band mean and std of ``raw * scale`` over the scenes, from decimated reads (bounded memory)."""
    sums: np.ndarray | None = None
    sq: np.ndarray | None = None
    count = 0
    for s in scenes:
        if s.source is not None and max(s.source.height, s.source.width) <= max_side:
            a = s.source.read(bands, Window(0, 0, s.source.width, s.source.height)).astype(np.float64)
        else:
            with open_raster(s.image) as src:
                f = max(1, max(src.height, src.width) // max_side)
                idx = list(bands) if bands else list(range(1, src.count + 1))
                shape = (len(idx), max(1, src.height // f), max(1, src.width // f))
                a = src.read(idx, out_shape=shape, resampling=Resampling.nearest).astype(np.float64)
        a = a.reshape(a.shape[0], -1) * scale
        sums = a.sum(1) if sums is None else sums + a.sum(1)
        sq = (a**2).sum(1) if sq is None else sq + (a**2).sum(1)
        count += a.shape[1]
    assert sums is not None and sq is not None
    mean = sums / count
    std = np.sqrt(np.maximum(sq / count - mean**2, 1e-12))
    return [float(v) for v in mean], [float(v) for v in std]
