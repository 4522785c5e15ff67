"""Evaluation of an alignment model on simulated misalignments of a split's scenes.

For every scene of the split, the map-class objects of its reference labels are vectorised (pixel
coordinates), misaligned with :func:`worldclass.data.misalign.misalign` (smooth field of RMS
``misalign.amplitude``, a constant offset drawn up to ``misalign.max_shift`` per axis, per-object shifts
``misalign.object_shift``; seeded by ``trainer.seed`` and the scene's position), then aligned by the model
window by window (:func:`worldclass.mapping.align.align_pixels`). Scored: each vertex's distance from its
true position before and after (share within tau px for :data:`~worldclass.metrics.alignment.TAUS`, mean),
and the IoU of the footprints with the true ones before and after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import shapely
import shapely.affinity
import shapely.geometry
from rasterio.features import shapes
from rasterio.windows import Window

from worldclass.data.misalign import misalign
from worldclass.data.rasters import open_raster
from worldclass.data.scenes import read_labels
from worldclass.datasets import data_section, get_dataset
from worldclass.errors import DataError
from worldclass.io import write_json_atomic
from worldclass.mapping.align import align_pixels, load_field_model
from worldclass.metrics.alignment import TAUS, vertex_accuracy, vertex_errors
from worldclass.tasks.base import Progress


def footprint_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of the union of polygons ``a`` with the union of ``b``."""
    ua, ub = shapely.union_all(a), shapely.union_all(b)
    union = shapely.union(ua, ub).area
    return float(shapely.intersection(ua, ub).area / union) if union else float("nan")


def _objects(scene: Any, classes: list[str], map_classes: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """(polygons in scene pixel coordinates, map channel of each, first row) of the labelled rows."""
    w = scene.shape()[1]
    r0, r1 = scene.row_range()
    mask = read_labels(scene, Window(0, r0, w, r1 - r0), classes)
    if mask is None:
        raise DataError(f"{scene.image}: no reference labels to simulate a misaligned map from")
    geoms, channel = [], []
    for k, name in enumerate(map_classes):
        sel = (mask == classes.index(name)).astype(np.uint8)
        for geom, value in shapes(sel, mask=sel.astype(bool)):
            if value:
                geoms.append(shapely.affinity.translate(shapely.geometry.shape(geom), 0, r0))
                channel.append(k)
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    return arr, np.asarray(channel, np.int64), r0


def evaluate_alignment(
    checkpoint: Path,
    *,
    data: str | Path | None = None,
    split: str = "val",
    out: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Alignment metrics of ``checkpoint`` on ``split`` of ``data`` (default: its training data)."""
    fm = load_field_model(checkpoint)
    meta = fm.meta
    dcfg = data_section(meta.config, data)
    dataset: Any = get_dataset(meta.dataset or dcfg.dataset)
    classes = list(dataset.classes(dcfg))
    ms = meta.config["misalign"]
    seed = int(meta.config["trainer"]["seed"])
    before_e, after_e, rows = [], [], []
    scenes = dataset.scenes(dcfg, split)
    for i, scene in enumerate(scenes):
        geoms, channel, _ = _objects(scene, classes, fm.classes)
        if not len(geoms):
            continue
        h, w = scene.shape()
        rng = np.random.default_rng([seed, i, 5])
        offset = tuple(float(v) for v in rng.uniform(-ms["max_shift"], ms["max_shift"], 2))
        sim = misalign(
            geoms,
            (h, w),
            amplitude=ms["amplitude"],
            scale=ms["scale"],
            object_shift=ms["object_shift"],
            p_omit=0.0,
            p_spurious=0.0,
            offset=offset,  # type: ignore[arg-type]
            seed=seed * 1000 + i,
        )
        truth = shapely.get_coordinates(geoms)
        drawn = shapely.get_coordinates(sim.geoms)
        with open_raster(scene.image) as src:
            aligned, shift = align_pixels(fm, src, sim.geoms, channel)
        e0, e1 = vertex_errors(drawn, truth), vertex_errors(drawn + shift, truth)
        before_e.append(e0)
        after_e.append(e1)
        rows.append(
            {
                "scene": scene.name,
                "objects": len(geoms),
                "vertices": len(truth),
                "offset_px": [round(v, 2) for v in offset],
                "error_before": float(e0.mean()),
                "error_after": float(e1.mean()),
                "iou_before": footprint_iou(geoms, sim.geoms),
                "iou_after": footprint_iou(geoms, aligned),
            }
        )
        if progress:
            progress(i + 1, len(scenes))
    if not rows:
        raise DataError(f"split {split!r}: no scene with objects of {fm.classes} to align")
    e0, e1 = np.concatenate(before_e), np.concatenate(after_e)
    acc0, acc1 = vertex_accuracy(e0), vertex_accuracy(e1)
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "split": split,
        "misalign": ms,
        "taus_px": list(TAUS),
        "within_before": acc0,
        "within_after": acc1,
        "within_1px_before": acc0["1"],
        "within_1px_after": acc1["1"],
        "epe_before": float(e0.mean()),
        "epe_after": float(e1.mean()),
        "iou_before": float(np.mean([r["iou_before"] for r in rows])),
        "iou_after": float(np.mean([r["iou_after"] for r in rows])),
        "scenes": rows,
    }
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(out) / "metrics.json", result)
    return result


def add_alignment_section(report: Any, result: dict[str, Any]) -> None:
    """Vertex-accuracy curve (table) and footprint IoU before / after alignment."""
    report.heading("Alignment")
    report.table(
        ["tau (px)", "within tau before", "within tau after"],
        [
            [f"{t:g}", result["within_before"][f"{t:g}"], result["within_after"][f"{t:g}"]]
            for t in result["taus_px"]
        ],
    )
    report.table(
        ["", "before", "after"],
        [
            ["mean vertex error (px)", result["epe_before"], result["epe_after"]],
            ["footprint IoU", result["iou_before"], result["iou_after"]],
        ],
    )
