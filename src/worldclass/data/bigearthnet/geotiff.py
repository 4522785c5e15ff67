"""Reading single-band BigEarthNet GeoTIFFs with validation (size, dtype) and one-line errors.

Pixels are read with tifffile: for these tiny single-band files GDAL's per-open cost (~1 ms through
rasterio) dominates, tifffile reads the identical array in ~0.4 ms (tested bit-identical on the real
patches). The patch location comes from the GeoTIFF keys (EPSG code, tie point, pixel scale); files with
a CRS that is not an EPSG code fall back to rasterio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from worldclass.errors import CorruptFileError, MissingFileError


def _missing(path: Path, what: str) -> MissingFileError:
    return MissingFileError(
        f"{path}: {what} file is missing; restore it from the official archive "
        "(or pass --allow-missing to skip this patch)"
    )


def read_band(
    path: Path,
    size: int,
    dtype: str,
    *,
    what: str = "band",
    georef: bool = False,
    crs: str | None = None,
) -> tuple[npt.NDArray[Any], dict[str, Any] | None]:
    """Read band 1 of ``path`` and check it is ``size`` x ``size`` of ``dtype`` (float bands: not all
    NaN/inf) and, when ``crs`` ('EPSG:n') is given, that its GeoTIFF keys name that CRS.

    Returns (array, geo) where geo = {x, y (patch centre, m), crs ('EPSG:n' or WKT)} when ``georef``.
    """
    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            arr = page.asarray()
            geo = _georef(path, tf, page.shape) if georef else None
            own = _epsg(page) if crs is not None else None
    except FileNotFoundError:
        raise _missing(path, what) from None
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as exc:
        raise CorruptFileError(
            f"{path}: not a readable GeoTIFF ({exc}); re-extract it from the archive"
        ) from None
    if arr.shape != (size, size):
        raise CorruptFileError(
            f"{path}: {what} is {arr.shape[-1]}x{arr.shape[0]} px, expected {size}x{size}; "
            "the file does not belong to this band/patch, re-extract it"
        )
    if arr.dtype != np.dtype(dtype):
        raise CorruptFileError(f"{path}: {what} has dtype {arr.dtype}, expected {dtype}; re-extract it")
    if arr.dtype.kind == "f" and not np.isfinite(arr).any():
        raise CorruptFileError(f"{path}: {what} holds no finite value (all NaN/inf); re-extract it")
    if own is not None and crs is not None and own != crs:
        raise CorruptFileError(
            f"{path}: {what} is in {own}, the patch's other bands in {crs}; the file does not belong to "
            "this patch, re-extract it"
        )
    return arr, geo


def _epsg(page: Any) -> str | None:
    """'EPSG:n' of the projected (else geographic) CRS key of a page's GeoKeyDirectory, read from the
    tag already in memory (no GeoTIFF metadata parse); None when the file names no EPSG code."""
    tag = page.tags.get(34735)  # GeoKeyDirectoryTag: header (4 shorts), then (id, location, count, value)
    if tag is None:
        return None
    keys = tuple(tag.value)
    found = {keys[i]: keys[i + 3] for i in range(4, len(keys) - 3, 4) if keys[i + 1] == 0}
    code = found.get(3072) or found.get(2048)  # ProjectedCSTypeGeoKey, GeographicTypeGeoKey
    return f"EPSG:{code}" if code and code < 32767 else None


def _georef(path: Path, tf: tifffile.TiffFile, shape: tuple[int, ...]) -> dict[str, Any]:
    meta = tf.geotiff_metadata or {}
    epsg = meta.get("ProjectedCSTypeGeoKey")
    tie, scale = meta.get("ModelTiepoint"), meta.get("ModelPixelScale")
    if epsg is not None and int(epsg) < 32767 and tie is not None and scale is not None:
        x0, y0 = float(tie[3]) - float(tie[0]) * scale[0], float(tie[4]) + float(tie[1]) * scale[1]
        return {
            "x": x0 + shape[-1] * float(scale[0]) / 2,
            "y": y0 - shape[0] * float(scale[1]) / 2,
            "crs": f"EPSG:{int(epsg)}",
        }
    import rasterio  # user-defined CRS: let GDAL interpret it

    with rasterio.open(path) as ds:
        b, crs = ds.bounds, ds.crs
        code = crs.to_epsg() if crs is not None else None
        return {
            "x": (b.left + b.right) / 2,
            "y": (b.bottom + b.top) / 2,
            "crs": f"EPSG:{code}" if code else (crs.to_wkt() if crs else None),
        }
