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

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from worldclass.data.patch_files import band_file_names, read_patch
from worldclass.data.transforms import PatchTransform
from worldclass.retrieval.embeddings import l2_normalize
from worldclass.retrieval.encoders import Encoder

__all__ = ["embed_patches", "query_sensor", "read_patch"]


def query_sensor(enc: Encoder, paths: Sequence[str | Path], sensor: str | None = None) -> str:
    """The row sensor a query patch can be embedded as: ``sensor`` if given, else the first of the
    encoder's sensors whose bands the files provide (by file-name suffix or band description), else the
    one they cover best (reading then names the missing bands)."""
    if sensor:
        return sensor
    names = band_file_names(paths)
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
