"""Duplicate images across splits by perceptual hash (the CrowdAI train/val leakage check).

pHash (64 bits): the image in grey, resized to 32 x 32 (Lanczos), 2-D DCT-II, the 8 x 8 lowest frequencies,
each bit = coefficient > their median (DC term excluded from the median). Identical or re-encoded copies
hash equal (Hamming distance 0, the criterion of Adimoolam et al. 2023, who found ~93 % of CrowdAI's val
tiles in train); near copies stay within a few bits (``max_distance``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy.fft import dctn

from worldclass.errors import CorruptFileError


def phash(path: Path) -> int:
    """64-bit perceptual hash of the image at ``path``."""
    try:
        with Image.open(path) as im:
            grey = np.asarray(im.convert("L").resize((32, 32), Image.Resampling.LANCZOS), np.float64)
    except OSError as exc:
        raise CorruptFileError(f"{path}: not a readable image ({exc})") from None
    low = dctn(grey, norm="ortho")[:8, :8].ravel()
    bits = low > np.median(low[1:])
    return int(np.packbits(bits).view(">u8")[0])


def cross_split_duplicates(
    groups: Mapping[str, Sequence[Path]],
    *,
    max_distance: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """For each ordered pair of groups (e.g. ``val`` in ``train``): how many images of the first have a
    hash within ``max_distance`` bits of one of the second, and which (file names, first 1000)."""
    hashes: dict[str, np.ndarray] = {}
    total, done = sum(len(v) for v in groups.values()), 0
    for name, paths in groups.items():
        values = []
        for p in paths:
            values.append(phash(p))
            done += 1
            if progress is not None and done % 256 == 0:
                progress(done, total)
        hashes[name] = np.asarray(values, np.uint64)
    out: dict[str, Any] = {"max_distance": max_distance, "pairs": {}}
    for a, ha in hashes.items():
        for b, hb in hashes.items():
            if a == b or not len(ha) or not len(hb):
                continue
            if max_distance == 0:
                hit = np.isin(ha, hb)
            else:
                hit = np.zeros(len(ha), bool)
                for k in range(0, len(hb), 4096):  # popcount of XOR in chunks: bounded memory
                    x = ha[:, None] ^ hb[None, k : k + 4096]
                    bits = np.unpackbits(x.view(np.uint8).reshape(len(ha), -1, 8), axis=2).sum(2)
                    hit |= (bits <= max_distance).any(1)
            names = [groups[a][int(i)].name for i in np.flatnonzero(hit)]
            out["pairs"][f"{a} in {b}"] = {
                "count": int(hit.sum()),
                "share": float(hit.mean()),
                "examples": names[:1000],
            }
    return out
