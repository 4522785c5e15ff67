"""Benchmark submission files from class maps written by ``worldclass map``.

Formats (declared by each dataset, :attr:`SceneCollection.submission`):

- ``inria``: uint8 0/255 tiles with the official names, zipped (:mod:`worldclass.mapping.inria_submission`).
- ``isprs``: RGB label images in the benchmark's colour code, one per tile, named ``<tile>_class.tif``
  (``top_mosaic_09cm_area2_class.tif``, ``top_potsdam_2_13_class.tif``), zipped. Classes are matched to
  colours **by name** (the map's ``classes`` tag), never by index, so a model trained with another class
  order still submits the right colours.
- ``coco``: one COCO results JSON (``[{image_id, category_id, segmentation, bbox, score}]``) from maps named
  ``<image id>.tif`` (CrowdAI: ``000000001234.tif``); one polygon per 4-connected building region, its
  outer ring closed as in the annotations (holes dropped: pycocotools unites the rings of a polygon
  annotation, so a hole could not be expressed), score = the region's mean building probability from
  ``<map>.probs.tif`` when present, else 1.

Every map is checked before anything is written; outputs appear under their final names only when complete.
"""

from __future__ import annotations

import contextlib
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.features import shapes
from scipy.ndimage import label as connected

from worldclass.data.colour_labels import ColourTable
from worldclass.data.rasters import blocks, open_raster, tiled_profile
from worldclass.errors import ConfigError
from worldclass.io import atomic_path, write_json_atomic
from worldclass.io.gdal import gdal_writes
from worldclass.mapping.whole_scene import class_map_paths
from worldclass.mapping.writer import NODATA, probs_path, read_class_names

FORMATS = ("inria", "isprs", "coco")
_TILE = re.compile(r"(top_mosaic_09cm_area\d+|top_potsdam_\d+_\d+)")


def _classes(path: Path) -> list[str]:
    names = read_class_names(path)
    if not names:
        raise ConfigError(
            f"{path}: carries no class names (a class map written by `worldclass map` is expected)"
        )
    return names


def write_isprs_submission(
    maps: Sequence[str | Path],
    out: str | Path,
    classes: Sequence[str],
    colours: Sequence[tuple[int, int, int]],
) -> list[Path]:
    """Colour-coded label images for ISPRS (``classes``/``colours``: the benchmark's table)."""
    paths = class_map_paths(maps)
    wanted: dict[Path, np.ndarray] = {}
    by_name = {c.lower(): i for i, c in enumerate(classes)}
    for p in paths:
        if not _TILE.search(p.stem):
            raise ConfigError(
                f"{p}: not named like an ISPRS tile (top_mosaic_09cm_area<N> or top_potsdam_<r>_<c>)"
            )
        names = _classes(p)
        unknown = [n for n in names if n.lower() not in by_name]
        if unknown:
            raise ConfigError(
                f"{p}: classes {unknown} are not ISPRS classes {list(classes)}; map with an ISPRS model"
            )
        lut = np.zeros(256, np.uint8)  # map index -> benchmark index; nodata -> clutter
        lut[:] = by_name.get("clutter", 0)
        for i, n in enumerate(names):
            lut[i] = by_name[n.lower()]
        wanted[p] = lut
    table = ColourTable.of(colours)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"{_TILE.search(p.stem).group(1)}_class.tif" for p in paths]  # type: ignore[union-attr]
    with (
        gdal_writes(out, "submission", "an existing submission there is unchanged"),
        contextlib.ExitStack() as stack,
    ):
        tmps = [stack.enter_context(atomic_path(dst)) for dst in written]
        for p, tmp in zip(paths, tmps, strict=True):
            with open_raster(p) as src:
                prof = tiled_profile(src, 3, photometric="RGB")
                with rasterio.open(tmp, "w", **prof) as dst:
                    for win in blocks(src.height, src.width):
                        dst.write(table.encode(wanted[p][src.read(1, window=win)]), window=win)
        tmp_zip = stack.enter_context(atomic_path(out / "submission.zip"))
        with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as z:
            for dst, tmp in zip(written, tmps, strict=True):
                z.write(tmp, dst.name)
    return written


def coco_instances(classes: np.ndarray, prob: np.ndarray | None, target: int) -> list[dict[str, Any]]:
    """Instances of class ``target`` in one class map: ``segmentation`` (closed outer ring, pixel
    coordinates), ``bbox`` [x, y, w, h], ``area`` (px), ``score``."""
    mask = classes == target
    ids, n = connected(mask)
    out: list[dict[str, Any]] = []
    if not n:
        return out
    counts = np.bincount(ids.ravel(), minlength=n + 1)
    sums = (
        np.bincount(ids.ravel(), weights=prob.ravel(), minlength=n + 1)
        if prob is not None
        else counts.astype(np.float64)
    )
    for geom, value in shapes(ids.astype(np.int32), mask=mask, connectivity=4):
        k = int(value)
        ring = np.asarray(geom["coordinates"][0], np.float64)
        x0, y0 = ring.min(0)
        x1, y1 = ring.max(0)
        out.append(
            {
                "segmentation": [[round(float(v), 2) for v in ring.ravel()]],
                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                "area": float(counts[k]),
                "score": round(float(sums[k] / counts[k]), 5),
            }
        )
    return out


def write_coco_submission(maps: Sequence[str | Path], out: str | Path, category_id: int) -> Path:
    """COCO results JSON ``out/submission.json`` from per-image class maps named by image id."""
    paths = class_map_paths(maps)
    checked: list[tuple[Path, int, int]] = []
    for p in paths:
        if not p.stem.isdigit():
            raise ConfigError(
                f"{p}: name it by its image id (000000001234.tif, as the mapped JPEG) for a COCO submission"
            )
        names = [n.lower() for n in _classes(p)]
        if "building" not in names:
            raise ConfigError(f"{p}: has no 'building' class (classes {names})")
        checked.append((p, int(p.stem), names.index("building")))
    results: list[dict[str, Any]] = []
    for p, image_id, target in checked:
        with open_raster(p) as src:
            cls = src.read(1)
        prob = None
        pp = probs_path(p)
        if pp.is_file():
            with open_raster(pp) as src:
                raw = src.read(target + 1).astype(np.float32)
            prob = np.where(raw == NODATA, 0, raw / 254)
        for inst in coco_instances(cls, prob, target):
            results.append({"image_id": image_id, "category_id": category_id, **inst})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dst = out / "submission.json"
    write_json_atomic(dst, results)
    return dst


def write_submission(
    fmt: str,
    maps: Sequence[str | Path],
    out: str | Path,
    *,
    classes: Sequence[str] = (),
    colours: Sequence[tuple[int, int, int]] = (),
    category_id: int = 100,
) -> list[Path]:
    """The submission of format ``fmt`` (see the module docstring); returns the files written."""
    if fmt == "inria":
        from worldclass.mapping.inria_submission import write_inria_submission

        return [*write_inria_submission(maps, out), Path(out) / "submission.zip"]
    if fmt == "isprs":
        return [*write_isprs_submission(maps, out, classes, colours), Path(out) / "submission.zip"]
    if fmt == "coco":
        return [write_coco_submission(maps, out, category_id)]
    raise ConfigError(f"unknown submission format {fmt!r}; known: {list(FORMATS)}")


def benchmark_submission(dataset: str, maps: Sequence[str | Path], out: str | Path) -> list[Path]:
    """The official submission of the registered ``dataset`` from its class maps."""
    from worldclass.datasets import data_section, get_dataset
    from worldclass.datasets.scene_base import SceneCollection

    ds = get_dataset(dataset)
    fmt = ds.submission if isinstance(ds, SceneCollection) else None
    if fmt is None:
        raise ConfigError(
            f"dataset {dataset!r} has no official submission format (score it with `worldclass evaluate`); "
            f"datasets with one: {_datasets_with_submission()}"
        )
    assert isinstance(ds, SceneCollection)
    data = data_section({"data": {"dataset": dataset}})
    rule = ds.evaluation_rule(data) or {}
    return write_submission(
        fmt,
        maps,
        out,
        classes=ds.classes(data) if fmt == "isprs" else (),
        colours=ds.class_colours(data) or () if fmt == "isprs" else (),
        category_id=int(rule.get("category_id", 100)),
    )


def _datasets_with_submission() -> list[str]:
    from worldclass.datasets import get_dataset, list_datasets

    return [n for n in list_datasets() if getattr(get_dataset(n), "submission", None)]
