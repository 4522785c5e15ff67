"""Inria Aerial Image Labeling dataset (Maggiori et al., IGARSS 2017), read from the official layout.

Layout (``NEW2-AerialImageDataset.zip`` unpacked)::

    AerialImageDataset/
      train/images/{austin,chicago,kitsap,tyrol-w,vienna}{1..36}.tif   RGB uint8, 5000x5000, 0.3 m
      train/gt/<same names>.tif                                       1 band uint8, 255 building, 0 not
      test/images/{bellingham,bloomington,innsbruck,sfo,tyrol-e}{1..36}.tif   no public ground truth

Splits: ``val`` = the first five tiles of every training city (the organisers' suggestion, as in
torchgeo), ``train`` = the rest, ``test`` = the test cities (images only). Classes: 0 ``not building``,
1 ``building`` (gt 255). City names may contain a hyphen (``tyrol-w12``). Metrics are accumulated over
all pixels of a city, and overall (not averaged per tile). Citation: E. Maggiori, Y. Tarabalka,
G. Charpiat, P. Alliez, "Can semantic labeling methods generalize to any city? The Inria aerial image
labeling benchmark", IGARSS 2017.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from worldclass.data.nomenclature import IGNORE_INDEX
from worldclass.data.scenes import Scene, SceneDataset
from worldclass.errors import ConfigError, MissingFileError

INRIA_CLASSES = ["not building", "building"]
VAL_TILES = 5
_NAME = re.compile(r"^([a-z-]+?)(\d+)\.tif$")


def parse_name(name: str) -> tuple[str, int]:
    """``'tyrol-w12.tif'`` -> ``('tyrol-w', 12)``."""
    m = _NAME.match(name)
    if not m:
        raise MissingFileError(f"{name}: not an Inria tile name (<city><number>.tif)")
    return m.group(1), int(m.group(2))


def inria_root(root: str | Path) -> Path:
    """The ``AerialImageDataset`` folder, given it or its parent."""
    p = Path(root)
    for cand in (p, p / "AerialImageDataset"):
        if (cand / "train" / "images").is_dir() or (cand / "test" / "images").is_dir():
            return cand
    raise MissingFileError(f"{p}: no AerialImageDataset/train/images here (Inria layout expected)")


def _lut() -> np.ndarray:
    lut = np.full(256, IGNORE_INDEX, np.uint8)
    lut[0], lut[255] = 0, 1
    return lut


def inria_scenes(root: str | Path, split: str = "train") -> list[Scene]:
    """Scenes of a split, ordered by city then tile number; ``group`` = city."""
    if split not in ("train", "val", "test"):
        raise ConfigError(f"split {split!r}: Inria has train, val and test")
    base = inria_root(root) / ("test" if split == "test" else "train")
    images = base / "images"
    if not images.is_dir():
        raise MissingFileError(f"{images}: folder missing")
    tiles = sorted((parse_name(p.name), p) for p in images.glob("*.tif"))
    out = []
    for (city, n), path in tiles:
        if split != "test" and (n <= VAL_TILES) != (split == "val"):
            continue
        gt = base / "gt" / path.name
        if split != "test" and not gt.is_file():
            raise MissingFileError(f"{gt}: ground truth missing for {path.name}")
        out.append(Scene(path, labels=gt if split != "test" else None, group=city, label_lut=_lut()))
    if not out:
        raise MissingFileError(f"{images}: no tiles for split {split!r}")
    return out


class InriaAerial(SceneDataset):
    """Inria tiles as a :class:`SceneDataset` (random crops for ``train``, grid windows otherwise).

    Samples: ``image`` float32 (3, size, size) RGB normalised, ``mask`` int64 (size, size) in
    {0 not building, 1 building}, ``group`` = city, ``scene`` = tile name.
    """

    def __init__(self, root: str | Path, split: str = "train", *, size: int = 512, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "random" if split == "train" else "grid")
        super().__init__(inria_scenes(root, split), INRIA_CLASSES, size=size, **kwargs)
        self.split = split
