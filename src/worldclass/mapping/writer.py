"""Windowed GeoTIFF sink finalised as a Cloud-Optimized GeoTIFF.

Blocks are written into a hidden ``.<name>.partial.tif`` (tiled, uncompressed) beside the output, then
copied by GDAL's COG driver (Deflate, internal overviews) to ``.<name>.cog.tmp`` and renamed onto the
final name. A failure at any point removes the partial files, so a file named like an output is
always complete.

Class map: uint8, one band, class index per pixel, nodata 255 (input nodata). Probabilities (optional,
``<name>.probs.tif``): uint8, one band per class, ``round(p * 254)`` with scale 1/254 in the metadata
(``value * scale = probability``), nodata 255. Frame field (models with a frame-field head,
``<name>.field.tif``): see :mod:`worldclass.mapping.frame_field`.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from worldclass.data.rasters import open_raster
from worldclass.errors import CorruptFileError
from worldclass.io.gdal import gdal_writes, quiet_libtiff
from worldclass.io.qgis import colour, raster_style, write_style
from worldclass.mapping.frame_field import encode_field, field_path_for
from worldclass.models.segmenter import FIELD_CHANNELS

quiet_libtiff()

NODATA = 255
GDAL_CACHE_MB = 48  # GDAL block cache for reads, windowed writes and the COG copy (bounds RSS)


def read_class_names(path: Path) -> list[str]:
    """Class names of a class map written by :class:`MapWriter` (its ``classes`` tag; [] without one);
    refuses anything that is not one integer band."""
    with open_raster(path) as src:
        if src.count != 1 or not np.issubdtype(np.dtype(src.dtypes[0]), np.integer):
            raise CorruptFileError(
                f"{path}: has {src.count} band(s) of {src.dtypes[0]}; a class map from `worldclass map` "
                "(one integer band) is expected, not an image"
            )
        try:
            names = json.loads(src.tags().get("classes", "null")) or []
        except ValueError:
            names = []
    return [str(n) for n in names]


def probs_path(out: Path) -> Path:
    return out.with_name(out.stem + ".probs.tif")


def _partial(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}{suffix}")


def class_map_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """One-band uint8 GTiff (nodata 255, 512-px tiles, BigTIFF when needed) on the grid of ``profile``."""
    return {
        "driver": "GTiff",
        "height": profile["height"],
        "width": profile["width"],
        "crs": profile.get("crs"),
        "transform": profile["transform"],
        "dtype": "uint8",
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "BIGTIFF": "IF_SAFER",
        "count": 1,
    }


class MapWriter:
    """Context manager and :class:`~worldclass.mapping.engine.Sink` writing a class map (+ probabilities)."""

    def __init__(
        self,
        out: str | Path,
        profile: dict[str, Any],
        classes: list[str],
        *,
        probabilities: bool = False,
        frame_field: bool = False,
        tags: dict[str, str] | None = None,
        colours: list[tuple[int, int, int]] | None = None,
    ) -> None:
        self.out = Path(out)
        self.classes = classes
        self.colours = colours
        self.probabilities = probabilities
        self.frame_field = frame_field
        self.field_out = Path(field_path_for(str(self.out)))
        base = class_map_profile(profile)
        self._profiles = {self.out: base}
        if probabilities:
            self._profiles[probs_path(self.out)] = {**base, "count": len(classes)}
        if frame_field:
            self._profiles[self.field_out] = {**base, "count": 3}
        self._tags = {"classes": json.dumps(classes), **(tags or {})}
        if colours:
            self._tags["class_colours"] = json.dumps([list(c) for c in colours])
        self._dst: dict[Path, Any] = {}

    def __enter__(self) -> MapWriter:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        with self._writing():
            for path, prof in self._profiles.items():
                self._dst[path] = rasterio.open(_partial(path, ".partial.tif"), "w", **prof)
        return self

    def _writing(self) -> contextlib.AbstractContextManager[None]:
        """GDAL write failures (full disk, permissions) as one :class:`OutputError` naming the output."""
        return gdal_writes(self.out, "map", "an existing map there is unchanged")

    def write(self, window: Window, probs: np.ndarray, valid: np.ndarray) -> None:
        """``probs``: (K, h, w) float32 blended probabilities (K + 5 with the frame field's channels);
        ``valid``: (h, w) bool."""
        k = len(self.classes)
        if self.frame_field:
            field = encode_field(probs[k], probs[k + 1 : k + FIELD_CHANNELS])
            field[:, ~valid] = NODATA
            with self._writing():
                self._dst[self.field_out].write(field, window=window)
        probs = probs[:k]
        classes = probs.argmax(0).astype(np.uint8)
        classes[~valid] = NODATA
        with self._writing():
            self._dst[self.out].write(classes, 1, window=window)
            if self.probabilities:
                p = np.rint(probs * 254).astype(np.uint8)
                p[:, ~valid] = NODATA
                self._dst[probs_path(self.out)].write(p, window=window)

    def write_classes(self, window: Window, classes: np.ndarray) -> None:
        """Class indices (h, w) uint8 (nodata 255) already decided, e.g. the strips of a split scene."""
        with self._writing():
            self._dst[self.out].write(classes, 1, window=window)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            with self._writing():
                for dst in self._dst.values():
                    dst.close()
                if exc_type is None:
                    for path in self._profiles:
                        self._finalise(path)
                    if not self.frame_field:  # a field left by an earlier map would not match this one
                        self.field_out.unlink(missing_ok=True)
        finally:
            for path in self._profiles:
                for suffix in (".partial.tif", ".cog.tmp"):
                    _partial(path, suffix).unlink(missing_ok=True)

    def _finalise(self, path: Path) -> None:
        partial = _partial(path, ".partial.tif")
        with rasterio.open(partial, "r+") as ds:
            ds.update_tags(**self._tags)
            if path == self.out:
                ds.set_band_description(1, "class")
                ds.write_colormap(1, {i: (*colour(i, self.colours), 255) for i in range(len(self.classes))})
            elif path == self.field_out:
                for i, name in enumerate(("edge", "direction u", "direction v"), 1):
                    ds.set_band_description(i, name)
            else:
                for i, name in enumerate(self.classes, 1):
                    ds.set_band_description(i, f"p({name})")
                ds.scales = [1 / 254] * len(self.classes)
        cog = _partial(path, ".cog.tmp")
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            rasterio.shutil.copy(
                partial,
                cog,
                driver="COG",
                COMPRESS="DEFLATE",
                BLOCKSIZE=512,
                BIGTIFF="IF_SAFER",
                OVERVIEW_RESAMPLING="AVERAGE" if path == probs_path(self.out) else "NEAREST",
                NUM_THREADS="ALL_CPUS",
            )
        os.replace(cog, path)
        if path == self.out:
            write_style(path, raster_style(self.classes, self.colours))
