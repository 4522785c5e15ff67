"""Patches given as GeoTIFF files: the official single-band files of a patch (``..._B02.tif``,
``..._VV.tif``; given as files or as the patch folder) or one multi-band GeoTIFF whose band descriptions
are band names (``B02``, ``VV``, ...), or, without descriptions, exactly the model's bands in the model's
channel order. Bands are brought to their native BigEarthNet size (120/60/20 px; area average down,
bilinear up), ready for :class:`~worldclass.data.transforms.PatchTransform`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from worldclass.data.sensors import BANDS
from worldclass.errors import ConfigError, CorruptFileError, MissingFileError

BAND_FILE = re.compile(r"_(B0[1-9]|B1[0-2]|B8A|VV|VH)\.tiff?$", re.IGNORECASE)


def _native(arr: npt.NDArray[Any], band: str) -> npt.NDArray[np.float32]:
    size = BANDS[band].size
    a = np.asarray(arr, np.float32)
    if a.shape == (size, size):
        return a
    t = torch.from_numpy(np.ascontiguousarray(a))[None, None]
    mode = "area" if a.shape[0] > size else "bilinear"
    return F.interpolate(t, size=(size, size), mode=mode).numpy()[0, 0]  # type: ignore[no-any-return]


def read_header_or_pixels(
    path: Path, *, pixels: bool = True
) -> tuple[npt.NDArray[Any] | None, tuple[str | None, ...]]:
    """(pixels (C, H, W), band descriptions) of a GeoTIFF; ``pixels=False`` reads only the header."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            return (src.read() if pixels else None), tuple(src.descriptions)
    except RasterioIOError as exc:
        if not path.exists():
            raise MissingFileError(f"{path}: image not found") from None
        raise CorruptFileError(f"{path}: not a readable GeoTIFF ({exc})") from None


def read_patch(
    paths: Sequence[str | Path], bands: Sequence[str], *, native: bool = True
) -> dict[str, npt.NDArray[np.float32]]:
    """Band name -> float32 array for ``bands`` from the files of one patch: at BigEarthNet's native size
    (``native``), or as stored (a multi-band GeoTIFF keeps its one size for every band)."""
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.tif")) if p.is_dir() else [p]
    if not files:
        raise MissingFileError(f"{list(map(str, paths))}: no GeoTIFF files for the patch")
    found: dict[str, npt.NDArray[Any]] = {}
    for f in files:
        m = BAND_FILE.search(f.name)
        data, desc = read_header_or_pixels(f)
        assert data is not None
        if m and data.shape[0] == 1:
            found[m.group(1).upper()] = data[0]
            continue
        names = [d.upper() if d else None for d in desc]
        if all(n in BANDS for n in names):
            found.update({n: data[i] for i, n in enumerate(names) if n})
        elif data.shape[0] == len(bands):
            found.update({b: data[i] for i, b in enumerate(bands)})
        else:
            raise ConfigError(
                f"{f}: {data.shape[0]} bands without band names; give the model's {len(bands)} bands "
                f"{list(bands)} in this order, set band descriptions, or pass single-band files (*_B02.tif)"
            )
    missing = [b for b in bands if b not in found]
    if missing:
        raise MissingFileError(
            f"{files[0]}: the patch lacks bands {missing}; the model needs {list(bands)} "
            "(add the band files or embed with another --sensor)"
        )
    if not native:
        return {b: np.asarray(found[b], np.float32) for b in bands}
    return {b: _native(found[b], b) for b in bands}


def band_file_names(paths: Sequence[str | Path]) -> set[str]:
    """Band names the files (or folders of files) provide, by file-name suffix or band description."""
    names: set[str] = set()
    for p in map(Path, paths):
        for f in sorted(p.glob("*.tif")) if p.is_dir() else [p]:
            m = BAND_FILE.search(f.name)
            if m:
                names.add(m.group(1).upper())
            else:
                names.update(d.upper() for d in read_header_or_pixels(f, pixels=False)[1] if d)
    return names
