"""Inria leaderboard submission: one 0/255 uint8 single-band GeoTIFF per test tile, official names.

Class maps written by ``worldclass map`` over ``AerialImageDataset/test/images`` keep the tile names
(``bellingham1.tif`` ...); this converts them block by block (building class -> 255, everything else
and nodata -> 0) and zips them as the contest expects.

Every map is checked before anything is written (one band, integer classes, the building class among
the map's ``classes`` tag); the tiles and the zip are written under temporary names and renamed together
once all are complete, so a failure (a full disk) leaves an earlier submission unchanged.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio

from worldclass.data.inria import parse_name
from worldclass.data.rasters import blocks, open_raster, tiled_profile
from worldclass.errors import ConfigError
from worldclass.io import atomic_path
from worldclass.io.gdal import gdal_writes, quiet_libtiff
from worldclass.mapping.whole_scene import class_map_paths
from worldclass.mapping.writer import read_class_names

quiet_libtiff()


def _building_class(path: Path, requested: int | None) -> int:
    """The class index of "building" in the class map at ``path`` (checked against its ``classes`` tag)."""
    classes = [c.lower() for c in read_class_names(path)]
    if not classes:
        if requested is None:
            raise ConfigError(f"{path}: carries no class names; pass --building-class <index>")
        return requested
    if requested is None:
        if "building" not in classes:
            raise ConfigError(f"{path}: has no 'building' class (classes {classes}); pass --building-class")
        return classes.index("building")
    if not 0 <= requested < len(classes):
        raise ConfigError(
            f"--building-class {requested}: {path} has classes 0..{len(classes) - 1} ({classes})"
        )
    return requested


def _write_tile(src_path: Path, dst: Path, building: int) -> None:
    """One 0/255 uint8 tile from the class map at ``src_path`` (block by block, bounded memory)."""
    with open_raster(src_path) as src:
        prof = tiled_profile(src, 1)
        with rasterio.open(dst, "w", **prof) as out:
            for win in blocks(src.height, src.width):
                cls = src.read(1, window=win)
                out.write(np.where(cls == building, 255, 0).astype(np.uint8), 1, window=win)


def write_inria_submission(
    maps: Sequence[str | Path],
    out: str | Path,
    *,
    building_class: int | None = None,
    zip_name: str | None = "submission.zip",
) -> list[Path]:
    """Convert class maps to submission tiles in ``out`` (and ``out/zip_name``); returns the tile paths.
    ``building_class``: class index of buildings; default: the map's "building" class."""
    paths = class_map_paths(maps)
    for p in paths:
        parse_name(p.name)  # refuse anything that is not <city><n>.tif
    wanted = {p: _building_class(p, building_class) for p in paths}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / p.name for p in paths]
    # every tile and the zip go to temporary names; the renames happen together once all are complete
    kept = "nothing was replaced: an existing submission there is unchanged"
    with gdal_writes(out, "submission", kept), contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(atomic_path(dst)) for dst in written]
        for p, tmp in zip(paths, tmps, strict=True):
            _write_tile(p, tmp, wanted[p])
        if zip_name:
            tmp_zip = stack.enter_context(atomic_path(out / zip_name))
            with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as z:
                for dst, tmp in zip(written, tmps, strict=True):
                    z.write(tmp, dst.name)
    return written
