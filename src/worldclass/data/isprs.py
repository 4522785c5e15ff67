"""ISPRS 2-D semantic labelling benchmarks (Vaihingen, Potsdam), read from the archives as distributed.

Files are found by name anywhere under the root (archives unpack flat or into doubled folders), so the
official zips can be unpacked side by side untouched. Labels are RGB colour codes (:data:`ISPRS_COLOURS`);
black is the eroded-boundary band of the ``*_noBoundary`` references and is ignored; any other colour is
refused (a blended or anti-aliased label is an archive defect, never a class).

Class order (mmseg / GeoSeg / DeepNetsForEO, clutter last): 0 impervious surfaces (255, 255, 255),
1 building (0, 0, 255), 2 low vegetation (0, 255, 255), 3 tree (0, 255, 0), 4 car (255, 255, 0),
5 clutter (255, 0, 0).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window
from scipy.ndimage import grey_dilation, grey_erosion

from worldclass.data.colour_labels import ColourTable
from worldclass.data.nomenclature import IGNORE_INDEX
from worldclass.data.scenes import Scene, read_labels
from worldclass.errors import ConfigError, DataError, MissingFileError, OutputError
from worldclass.io.vrt import write_stack_vrt

ISPRS_CLASSES = ["impervious surfaces", "building", "low vegetation", "tree", "car", "clutter"]
ISPRS_COLOURS: list[tuple[int, int, int]] = [
    (255, 255, 255),
    (0, 0, 255),
    (0, 255, 255),
    (0, 255, 0),
    (255, 255, 0),
    (255, 0, 0),
]
BOUNDARY_COLOUR = (0, 0, 0)
ISPRS_TABLE = ColourTable.of(
    ISPRS_COLOURS,
    ignore=[BOUNDARY_COLOUR],
    fix="the label is not a clean ISPRS colour code (Potsdam 4_12 in 5_Labels_all.zip is blended with the "
    "photo: take it from 5_Labels_for_participants.zip)",
)
#: Classes left out of the benchmark's mean F1 / mIoU (UNetFormer/GeoSeg convention); OA counts all six.
MEAN_EXCLUDES = ("clutter",)

VAIHINGEN_TRAIN = (1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34, 37)
VAIHINGEN_TEST = (2, 4, 6, 8, 10, 12, 14, 16, 20, 22, 24, 27, 29, 31, 33, 35, 38)
VAIHINGEN_VAL = (30,)
VAIHINGEN_BANDS = ["nir", "red", "green"]

POTSDAM_TRAIN = [
    "2_10",
    "2_11",
    "2_12",
    "3_10",
    "3_11",
    "3_12",
    "4_10",
    "4_11",
    "4_12",
    "5_10",
    "5_11",
    "5_12",
    "6_7",
    "6_8",
    "6_9",
    "6_10",
    "6_11",
    "6_12",
    "7_7",
    "7_8",
    "7_9",
    "7_10",
    "7_11",
    "7_12",
]
POTSDAM_TEST = [
    "2_13",
    "2_14",
    "3_13",
    "3_14",
    "4_13",
    "4_14",
    "4_15",
    "5_13",
    "5_14",
    "5_15",
    "6_13",
    "6_14",
    "6_15",
    "7_13",
]
POTSDAM_VAL = ("2_10",)
#: Left out of training by the UNetFormer/GeoSeg protocol for erroneous annotations.
POTSDAM_EXCLUDED = ("7_10",)
POTSDAM_PRODUCTS = {
    "RGB": ["red", "green", "blue"],
    "IRRG": ["nir", "red", "green"],
    "RGBIR": ["red", "green", "blue", "nir"],
}
SPLITS = ("train", "val", "test")
#: Height band appended to the image: none, the archive's DSM, or the normalised DSM (nDSM).
HEIGHTS = ("none", "dsm", "ndsm")

_SUFFIXES = (".tif", ".tiff", ".jpg")
_VAI_DSM = re.compile(r"^dsm_09cm_matching_area(\d+)\.tif$")
_VAI_NDSM = re.compile(r"area(\d+)(?!\d)")
_POT_DSM = re.compile(r"^dsm_potsdam_0?(\d+)_0?(\d+)\.tif$")
_POT_NDSM = re.compile(r"^dsm_potsdam_0?(\d+)_0?(\d+)_normalized_(lastools|ownapproach)\.jpg$")
_VAI = re.compile(r"^top_mosaic_09cm_area(\d+)(_noBoundary)?\.tif$")
_POT = re.compile(r"^top_potsdam_0?(\d+)_0?(\d+)_(RGB|IRRG|RGBIR|label|label_noBoundary)\.tif$")


def _files(root: Path) -> Iterable[Path]:
    if not root.is_dir():
        raise MissingFileError(
            f"{root}: folder not found (data.root should hold the unpacked ISPRS archives)"
        )
    return (p for p in root.rglob("*") if p.suffix.lower() in _SUFFIXES and not p.name.startswith("."))


def _split_ids(
    split: str, train: Iterable[object], test: Iterable[object], val: Iterable[object]
) -> list[Any]:
    if split not in SPLITS:
        raise ConfigError(f"split {split!r}: the ISPRS benchmarks have {list(SPLITS)}")
    if split == "test":
        return list(test)
    if split == "val":
        return list(val)
    return [t for t in train if t not in val]


def vaihingen_scenes(root: str | Path, split: str, heights: str = "none") -> list[Scene]:
    """Scenes of ``split``: train = the 16 originally labelled areas minus area 30, val = area 30, test =
    the 17 others. Image ``top/top_mosaic_09cm_area{N}.tif`` (IRRG), full label = a file of the same name
    outside ``top/`` (``gts_for_participants/`` or the flat ``..._ground_truth_COMPLETE`` files), eroded
    label ``top_mosaic_09cm_area{N}_noBoundary.tif``; ``group`` = ``area{N}``. ``heights``: ``dsm``
    (``dsm/dsm_09cm_matching_area{N}.tif``) or ``ndsm`` (a third-party normalised DSM: a file naming
    ``area{N}`` under a folder named like ``*ndsm*``) appended as a 4th band through a VRT stack."""
    root = Path(root)
    images: dict[int, Path] = {}
    labels: dict[int, Path] = {}
    eroded: dict[int, Path] = {}
    dsm: dict[str, Path] = {}
    ndsm: dict[str, Path] = {}
    for p in _files(root):
        d = _VAI_DSM.match(p.name)
        if d and "ndsm" not in str(p.parent).lower():
            dsm[f"area{int(d.group(1))}"] = p
            continue
        nd = _VAI_NDSM.search(p.name)
        if nd and "ndsm" in str(p.relative_to(root)).lower():
            ndsm[f"area{int(nd.group(1))}"] = p
            continue
        m = _VAI.match(p.name)
        if not m:
            continue
        n = int(m.group(1))
        if m.group(2):
            eroded[n] = p
        elif p.parent.name == "top":
            images[n] = p
        else:
            labels.setdefault(n, p)
    if not images:
        raise MissingFileError(
            f"{root}: no top/top_mosaic_09cm_area<N>.tif (unpack ISPRS_semantic_labeling_Vaihingen.zip here)"
        )
    out = []
    for n in _split_ids(split, VAIHINGEN_TRAIN, VAIHINGEN_TEST, VAIHINGEN_VAL):
        if n not in images:
            continue  # an incomplete archive is allowed; an empty split is not (below)
        lab = labels.get(n)
        if lab is None and split != "test":
            raise MissingFileError(
                f"{images[n]}: no label top_mosaic_09cm_area{n}.tif outside top/ (unpack "
                "gts_for_participants or the ground_truth_COMPLETE zip under the root)"
            )
        out.append(
            Scene(
                images[n],
                labels=lab,
                group=f"area{n}",
                label_colours=ISPRS_TABLE,
                eroded_labels=eroded.get(n),
            )
        )
    if not out:
        raise MissingFileError(f"{root}: no Vaihingen tile of split {split!r} found")
    return _with_heights(out, {"dsm": dsm, "ndsm": ndsm}, heights, VAIHINGEN_BANDS, root, "vaihingen")


def potsdam_scenes(root: str | Path, split: str, product: str = "RGB", heights: str = "none") -> list[Scene]:
    """Scenes of ``split``: train = the 24 labelled tiles minus 2_10 (val) and 7_10 (erroneous labels),
    val = 2_10, test = the 14 others. Image ``top_potsdam_{r}_{c}_{product}.tif``; full label
    ``..._label.tif`` (the copy under a ``*participants*`` folder first: the 4_12 of ``5_Labels_all`` is
    defective); eroded ``..._label_noBoundary.tif``; ``group`` = ``{r}_{c}``. ``heights``: ``dsm``
    (``1_DSM/dsm_potsdam_{rr}_{cc}.tif``) or ``ndsm`` (``1_DSM_normalisation/..._normalized_lastools.jpg``,
    else ``_ownapproach.jpg``) appended as the last band through a VRT stack."""
    if product not in POTSDAM_PRODUCTS:
        raise ConfigError(f"config key 'data.product': {product!r}; Potsdam has {list(POTSDAM_PRODUCTS)}")
    root = Path(root)
    images: dict[str, Path] = {}
    labels: dict[str, Path] = {}
    eroded: dict[str, Path] = {}
    dsm: dict[str, Path] = {}
    ndsm: dict[str, Path] = {}
    for p in sorted(_files(root)):
        d = _POT_DSM.match(p.name) or _POT_NDSM.match(p.name)
        if d:
            tile = f"{int(d.group(1))}_{int(d.group(2))}"
            if d.re is _POT_DSM:
                dsm[tile] = p
            elif tile not in ndsm or d.group(3) == "lastools":
                ndsm[tile] = p
            continue
        m = _POT.match(p.name)
        if not m:
            continue
        tile, kind = f"{int(m.group(1))}_{int(m.group(2))}", m.group(3)
        if kind == product:
            images[tile] = p
        elif kind == "label_noBoundary":
            eroded[tile] = p
        elif kind == "label" and (tile not in labels or "participants" in str(p.parent).lower()):
            labels[tile] = p
    if not images:
        raise MissingFileError(
            f"{root}: no top_potsdam_<r>_<c>_{product}.tif (unpack the Potsdam image zip of that product here, "
            "or set data.product)"
        )
    train = [t for t in POTSDAM_TRAIN if t not in POTSDAM_EXCLUDED]
    out = []
    for tile in _split_ids(split, train, POTSDAM_TEST, POTSDAM_VAL):
        if tile not in images:
            continue
        lab = labels.get(tile)
        if lab is None and split != "test":
            raise MissingFileError(
                f"{images[tile]}: no top_potsdam_{tile}_label.tif under the root (unpack "
                "5_Labels_for_participants.zip or 5_Labels_all.zip)"
            )
        out.append(
            Scene(
                images[tile],
                labels=lab,
                group=tile,
                label_colours=ISPRS_TABLE,
                eroded_labels=eroded.get(tile),
            )
        )
    if not out:
        raise MissingFileError(f"{root}: no Potsdam tile of split {split!r} found")
    bands = POTSDAM_PRODUCTS[product]
    return _with_heights(out, {"dsm": dsm, "ndsm": ndsm}, heights, bands, root, f"potsdam-{product}")


def cache_dir() -> Path:
    """Folder for derived files (``$WORLDCLASS_CACHE``, default ``~/.cache/worldclass``)."""
    return Path(os.environ.get("WORLDCLASS_CACHE") or Path.home() / ".cache" / "worldclass")


def cache_folder(folder: Path) -> Path:
    """Create a folder for derived files under the cache (one line naming it when that is impossible)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{folder}: cannot write the band stacks ({exc.strerror}); set WORLDCLASS_CACHE"
        ) from None
    return folder


def stack_folder(root: Path, dataset: str, heights: str) -> Path:
    """Where the image + height VRT stacks of an archive live (one folder per archive and height kind)."""
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:10]
    return cache_dir() / "isprs-stacks" / f"{dataset}-{heights}-{key}"


def _with_heights(
    scenes: list[Scene],
    found: dict[str, dict[str, Path]],
    kind: str,
    bands: list[str],
    root: Path,
    dataset: str,
) -> list[Scene]:
    """``scenes`` unchanged for ``kind`` none, else with each image replaced by a VRT stacking the tile's
    ``bands`` and its height raster ``found[kind][scene.group]`` (band ``kind``)."""
    from dataclasses import replace

    if kind not in HEIGHTS:
        raise ConfigError(f"config key 'data.heights': {kind!r}; choose from {list(HEIGHTS)}")
    if kind == "none":
        return scenes
    folder = cache_folder(stack_folder(root, dataset, kind))
    out = []
    for scene in scenes:
        h = found[kind].get(scene.group)
        if h is None:
            raise MissingFileError(
                f"{scene.image}: no {kind.upper()} for this tile under the root (unpack the heights archive, "
                "or set data.heights none)"
            )
        sources = [(scene.image, i + 1, b) for i, b in enumerate(bands)] + [(h, 1, kind)]
        try:
            vrt = write_stack_vrt(folder / f"{scene.image.stem}.vrt", sources)
        except ValueError as exc:
            raise DataError(f"{exc}; the height raster must be on the tile's grid") from None
        out.append(replace(scene, image=vrt))
    return out


def disc(radius: int) -> np.ndarray:
    """(2r+1, 2r+1) bool footprint of the pixels within Euclidean distance ``radius`` of the centre."""
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (x * x + y * y) <= radius * radius  # type: ignore[no-any-return]


def erode_boundaries(labels: np.ndarray, radius: int) -> np.ndarray:
    """The eroded-boundary reference: every pixel with a different label within Euclidean distance
    ``radius`` px becomes :data:`IGNORE_INDEX` (each region eroded by a disc of that radius, so the band is
    symmetric about every border, ~2r px wide); the image edge is not a border. ``radius`` 0: unchanged."""
    if radius <= 0:
        return labels.copy()
    fp = disc(radius)
    hi = grey_dilation(labels, footprint=fp, mode="nearest")
    lo = grey_erosion(labels, footprint=fp, mode="nearest")
    out = labels.copy()
    out[hi != lo] = IGNORE_INDEX
    return out


def eroded_window(scene: Scene, window: Window, classes: Sequence[str], radius: int) -> np.ndarray | None:
    """Eroded reference of ``window``: the scene's ``eroded_labels`` when it has them, else its full
    labels eroded here (read with a ``radius`` px halo inside the scene, so block seams change nothing)."""
    if scene.eroded_labels is not None:
        return read_labels(scene, window, classes, eroded=True)
    h, w = scene.shape()
    r0, c0 = max(0, int(window.row_off) - radius), max(0, int(window.col_off) - radius)
    r1 = min(h, int(window.row_off + window.height) + radius)
    c1 = min(w, int(window.col_off + window.width) + radius)
    full = read_labels(scene, Window(c0, r0, c1 - c0, r1 - r0), classes)
    if full is None:
        return None
    y, x = int(window.row_off) - r0, int(window.col_off) - c0
    return erode_boundaries(full, radius)[y : y + int(window.height), x : x + int(window.width)]
