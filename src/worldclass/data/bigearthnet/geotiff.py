"""Reading single-band BigEarthNet GeoTIFFs with validation (size, dtype) and one-line errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.errors import RasterioIOError

from worldclass.errors import CorruptFileError, MissingFileError

# GDAL would otherwise list the sibling files of every TIFF it opens (slow on 590k folders).
os.environ.setdefault("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")


def read_band(
    path: Path, size: int, dtype: str, *, what: str = "band", georef: bool = False
) -> tuple[npt.NDArray[Any], dict[str, Any] | None]:
    """Read band 1 of ``path`` and check it is ``size`` x ``size`` of ``dtype``.

    Returns (array, geo) where geo = {x, y (centre, m), crs (WKT/EPSG string)} when ``georef``.
    """
    if not path.is_file():
        raise MissingFileError(
            f"{path}: {what} file is missing; restore it from the official archive "
            "(or pass --allow-missing to skip this patch)"
        )
    try:
        with rasterio.open(path) as ds:
            arr = ds.read(1)
            geo = None
            if georef:
                b = ds.bounds
                crs = ds.crs
                epsg = crs.to_epsg() if crs is not None else None
                geo = {
                    "x": (b.left + b.right) / 2,
                    "y": (b.bottom + b.top) / 2,
                    "crs": f"EPSG:{epsg}" if epsg else (crs.to_wkt() if crs else None),
                }
    except RasterioIOError as exc:
        raise CorruptFileError(
            f"{path}: not a readable GeoTIFF ({exc}); re-extract it from the archive"
        ) from None
    if arr.shape != (size, size):
        raise CorruptFileError(
            f"{path}: {what} is {arr.shape[1]}x{arr.shape[0]} px, expected {size}x{size}; "
            "the file does not belong to this band/patch, re-extract it"
        )
    if arr.dtype != np.dtype(dtype):
        raise CorruptFileError(f"{path}: {what} has dtype {arr.dtype}, expected {dtype}; re-extract it")
    return arr, geo
