"""Small raster helpers without heavy imports (no torch): opening with clear errors, windows, blocks."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from worldclass.errors import CorruptFileError, MissingFileError

__all__ = ["blocks", "open_raster", "tiled_profile", "window_starts"]

# Benchmark tiles without georeferencing (ISPRS Vaihingen, CrowdAI JPEGs) are read in pixel coordinates;
# the CRS is checked where it matters (mapping refuses to mix), so rasterio's warning is noise.
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)


def window_starts(n: int, size: int, overlap: int) -> list[int]:
    """Window offsets covering an axis of ``n`` pixels with stride ``size - overlap``; the last window
    is shifted back to end on the edge; one window at 0 if ``n <= size``."""
    if n <= size:
        return [0]
    out = list(range(0, n - size, size - overlap))
    out.append(n - size)
    return out


def blocks(height: int, width: int, size: int = 1024) -> Iterator[Window]:
    """Row-major windows of at most ``size`` x ``size`` covering a raster (for block-wise processing)."""
    for r in range(0, height, size):
        for c in range(0, width, size):
            yield Window(c, r, min(size, width - c), min(size, height - r))


def open_raster(path: Path) -> Any:
    if not Path(path).is_file():
        raise MissingFileError(f"{path}: raster not found")
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise CorruptFileError(f"{path}: not a readable raster ({str(exc).splitlines()[0]})") from None


def tiled_profile(src: Any, count: int, **extra: Any) -> dict[str, Any]:
    """GTiff profile (tiled, Deflate, uint8 unless ``extra`` says otherwise) on the grid of the open raster
    ``src`` (its CRS and transform when it has them), with ``count`` bands."""
    prof: dict[str, Any] = {
        "driver": "GTiff",
        "height": src.height,
        "width": src.width,
        "count": count,
        "dtype": "uint8",
        "compress": "deflate",
        "tiled": True,
    }
    if src.crs is not None:
        prof.update(crs=src.crs, transform=src.transform)
    prof.update(extra)
    return prof
