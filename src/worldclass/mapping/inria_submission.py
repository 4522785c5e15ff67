"""Inria leaderboard submission: one 0/255 uint8 single-band GeoTIFF per test tile, official names.

Class maps written by ``worldclass map`` over ``AerialImageDataset/test/images`` keep the tile names
(``bellingham1.tif`` ...); this converts them block by block (building class -> 255, everything else
and nodata -> 0) and zips them as the contest expects.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio

from worldclass.data.inria import parse_name
from worldclass.data.rasters import blocks, open_raster
from worldclass.mapping.whole_scene import scene_paths


def write_inria_submission(
    maps: Sequence[str | Path],
    out: str | Path,
    *,
    building_class: int = 1,
    zip_name: str | None = "submission.zip",
) -> list[Path]:
    """Convert class maps to submission tiles in ``out`` (and ``out/zip_name``); returns the tile paths."""
    paths = scene_paths(maps)
    for p in paths:
        parse_name(p.name)  # refuse anything that is not <city><n>.tif
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p in paths:
        dst_path = out / p.name
        with open_raster(p) as src:
            prof = {
                "driver": "GTiff",
                "height": src.height,
                "width": src.width,
                "count": 1,
                "dtype": "uint8",
                "crs": src.crs,
                "transform": src.transform,
                "compress": "deflate",
                "tiled": True,
            }
            with rasterio.open(dst_path, "w", **prof) as dst:
                for win in blocks(src.height, src.width):
                    cls = src.read(1, window=win)
                    dst.write(np.where(cls == building_class, 255, 0).astype(np.uint8), 1, window=win)
        written.append(dst_path)
    if zip_name:
        with zipfile.ZipFile(out / zip_name, "w", zipfile.ZIP_DEFLATED) as z:
            for p in written:
                z.write(p, p.name)
    return written
