"""Massachusetts roads and buildings (Mnih 2013), read from the original or the Kaggle-mirror layout.

Original: ``mass_{roads,buildings}/{train,valid,test}/sat/<id>.tiff`` (RGB uint8, 1500 x 1500 px at
1 m) + ``.../map/<id>.tif`` (0 background, non-zero foreground). Kaggle mirror:
``tiff/{train,val,test}/<id>.tiff`` + ``tiff/{train,val,test}_labels/<id>.tif``. Split ``val`` is the
distribution's ``valid`` (``val`` in the mirror). White (255, 255, 255) no-data regions of the images
are unlabelled (ignored in training and scoring).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldclass.data.scenes import Scene
from worldclass.errors import ConfigError, MissingFileError

SPLITS = ("train", "val", "test")
_ORIGINAL = {"train": "train", "val": "valid", "test": "test"}
_MIRROR = {"train": "train", "val": "val", "test": "test"}


def binary_lut() -> np.ndarray:
    """Label value 0 -> 0, anything else -> 1 (maps are 0/255; read 'any value > 0')."""
    lut = np.ones(256, np.uint8)
    lut[0] = 0
    return lut


def _folders(root: Path, split: str, archive: str) -> tuple[Path, Path]:
    """(image folder, label folder) of ``split`` under ``root`` (the dataset folder or its parent)."""
    for base in (root, root / archive):
        if (base / _ORIGINAL[split] / "sat").is_dir():
            return base / _ORIGINAL[split] / "sat", base / _ORIGINAL[split] / "map"
        if (base / "tiff" / _MIRROR[split]).is_dir():
            return base / "tiff" / _MIRROR[split], base / "tiff" / f"{_MIRROR[split]}_labels"
    raise MissingFileError(
        f"{root}: no {archive}/{_ORIGINAL[split]}/sat (original layout) or tiff/{_MIRROR[split]} (Kaggle mirror) "
        f"for split {split!r}; point data.root at the {archive} folder"
    )


def massachusetts_scenes(root: str | Path, split: str, archive: str) -> list[Scene]:
    """Scenes of ``split`` of ``archive`` (``mass_roads`` or ``mass_buildings``); ``group`` = split."""
    if split not in SPLITS:
        raise ConfigError(f"split {split!r}: Massachusetts has {list(SPLITS)}")
    images, maps = _folders(Path(root), split, archive)
    tiles = sorted(
        p for p in images.iterdir() if p.suffix.lower() in (".tif", ".tiff") and not p.name.startswith(".")
    )
    if not tiles:
        raise MissingFileError(f"{images}: no .tiff images")
    out = []
    lut = binary_lut()
    for img in tiles:
        candidates = [maps / f"{img.stem}{ext}" for ext in (".tif", ".tiff")]
        label = next((c for c in candidates if c.is_file()), None)
        if label is None:
            raise MissingFileError(
                f"{candidates[0]}: label map missing for {img.name} (every sat tile needs its map)"
            )
        out.append(Scene(img, labels=label, group=split, label_lut=lut, image_nodata=255))
    return out
