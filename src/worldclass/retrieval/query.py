"""Queries by image: band files of one patch -> the model's preprocessing -> one embedding.

Accepted inputs for one query patch:

* the official single-band files of a patch (``..._B02.tif``, ``..._VV.tif``; any subset that covers
  the model's bands), given as files or as the patch folder;
* one multi-band GeoTIFF whose band descriptions are band names (``B02``, ``VV``, ...), or, without
  descriptions, exactly the model's bands in the model's channel order.

Bands are brought to their native BigEarthNet size (120/60/20 px; area average down, bilinear up) and
then go through the same :class:`~worldclass.data.transforms.PatchTransform` as training data.
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
from worldclass.data.transforms import PatchTransform
from worldclass.errors import ConfigError, CorruptFileError, MissingFileError
from worldclass.retrieval.embeddings import l2_normalize
from worldclass.retrieval.encoders import Encoder

_BAND_RE = re.compile(r"_(B0[1-9]|B1[0-2]|B8A|VV|VH)\.tiff?$", re.IGNORECASE)


def _native(arr: npt.NDArray[Any], band: str) -> npt.NDArray[np.float32]:
    size = BANDS[band].size
    a = np.asarray(arr, np.float32)
    if a.shape == (size, size):
        return a
    t = torch.from_numpy(np.ascontiguousarray(a))[None, None]
    mode = "area" if a.shape[0] > size else "bilinear"
    return F.interpolate(t, size=(size, size), mode=mode).numpy()[0, 0]  # type: ignore[no-any-return]


def _read(path: Path, *, pixels: bool = True) -> tuple[npt.NDArray[Any] | None, tuple[str | None, ...]]:
    """(bands, band descriptions) of a GeoTIFF; ``pixels=False`` reads only the header."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            return (src.read() if pixels else None), tuple(src.descriptions)
    except RasterioIOError as exc:
        if not path.exists():
            raise MissingFileError(f"{path}: query image not found") from None
        raise CorruptFileError(f"{path}: not a readable GeoTIFF ({exc})") from None


def read_patch(paths: Sequence[str | Path], bands: Sequence[str]) -> dict[str, npt.NDArray[np.float32]]:
    """Band name -> native-size float32 array for ``bands`` from the files of one patch."""
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.tif")) if p.is_dir() else [p]
    if not files:
        raise MissingFileError(f"{list(map(str, paths))}: no GeoTIFF files for the query")
    found: dict[str, npt.NDArray[Any]] = {}
    for f in files:
        m = _BAND_RE.search(f.name)
        data, desc = _read(f)
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
            f"{files[0]}: the query lacks bands {missing}; the model needs {list(bands)} "
            "(add the band files or embed with another --sensor)"
        )
    return {b: _native(found[b], b) for b in bands}


def query_sensor(enc: Encoder, paths: Sequence[str | Path], sensor: str | None = None) -> str:
    """The row sensor a query patch can be embedded as: ``sensor`` if given, else the first of the
    encoder's sensors whose bands the files provide (by file-name suffix or band description), else the
    one they cover best (reading then names the missing bands)."""
    if sensor:
        return sensor
    names: set[str] = set()
    for p in map(Path, paths):
        for f in sorted(p.glob("*.tif")) if p.is_dir() else [p]:
            m = _BAND_RE.search(f.name)
            if m:
                names.add(m.group(1).upper())
            else:
                names.update(d.upper() for d in _read(f, pixels=False)[1] if d)
    for s in enc.sensors:
        if set(enc.bands(s)) <= names:
            return s
    return max(enc.sensors, key=lambda s: len(set(enc.bands(s)) & names))  # best partial match: names the gap


def embed_patches(
    enc: Encoder, patches: Sequence[dict[str, npt.NDArray[np.float32]]], sensor: str
) -> npt.NDArray[np.float32]:
    """(N, D) L2-normalised embeddings of native-band patches, with the checkpoint's preprocessing."""
    pre = enc.meta.preprocessing
    transform = PatchTransform(
        enc.bands(sensor), resampling=pre.get("resampling", "bilinear"), normalize=pre.get("normalize", "v2")
    )
    return l2_normalize(enc(transform(patches), sensor).cpu().numpy())
