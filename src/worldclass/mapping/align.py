"""Align a vector map layer to an image with a trained alignment model, window by window.

The scene is cut into ``tile`` px core windows; each is read with ``margin`` px of context, the layer's
polygons there are rasterised (one channel per map class of the model), the model predicts the
displacement field, and every polygon vertex inside the core window moves to the image point p with
p + field(p) = vertex (:func:`worldclass.data.misalign.invert_points`). Windows without a vertex are
skipped; memory is bounded by one window. Polygons keep their attributes, order and CRS (a layer in
another CRS is aligned in the scene's CRS and written back in its own); invalid results are repaired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import torch
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.windows import Window

from worldclass.data.misalign import invert_points
from worldclass.errors import ConfigError, LabelError
from worldclass.models.checkpoint import ModelMeta

Progress = Callable[[int, int], None]


@dataclass
class FieldModel:
    """A loaded alignment model with its input recipe: ``bands`` image bands (C), ``classes`` map classes
    (K), ``scale``/``mean``/``std``: ``x = (raw * scale - mean) / std`` per image band."""

    model: torch.nn.Module
    meta: ModelMeta
    device: torch.device

    @property
    def classes(self) -> list[str]:
        return list(self.meta.classes)

    @property
    def image_bands(self) -> int:
        return len(self.meta.bands) - len(self.meta.classes)

    @torch.inference_mode()
    def field(self, raw: np.ndarray, maps: np.ndarray) -> np.ndarray:
        """Raw image (C, h, w) and map rasters (K, h, w) -> displacement (2, h, w) float32 px."""
        pre = self.meta.preprocessing
        x = torch.from_numpy(np.ascontiguousarray(raw)).float()
        mean = torch.as_tensor(pre["mean"], dtype=torch.float32).view(-1, 1, 1)
        std = torch.as_tensor(pre["std"], dtype=torch.float32).view(-1, 1, 1)
        x = (x * float(pre["scale"]) - mean) / std
        inp = torch.cat([x, torch.from_numpy(maps.astype(np.float32))])[None].to(self.device)
        out: torch.Tensor = self.model(inp)
        return out[0].float().cpu().numpy()


def load_field_model(checkpoint: str | Path, device: str = "auto") -> FieldModel:
    """An alignment checkpoint as a :class:`FieldModel` (refuses other tasks' checkpoints)."""
    from worldclass.models import load_model
    from worldclass.models.device import pick_device

    dev = pick_device(device)
    model, meta = load_model(checkpoint, device=dev)
    if meta.task != "alignment":
        raise ConfigError(f"{checkpoint}: a {meta.task} model, not an alignment model (task: alignment)")
    return FieldModel(model, meta, dev)


def align_pixels(
    fm: FieldModel,
    image: Any,
    geoms: np.ndarray,
    channel: np.ndarray,
    *,
    tile: int = 512,
    margin: int = 128,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Polygons ``geoms`` in pixel coordinates of the open raster ``image`` (x = column, y = row),
    ``channel`` (N,) the map channel of each (-1: moved but not drawn) -> (aligned geometries, (V, 2)
    displacement applied to each vertex)."""
    h, w = image.height, image.width
    coords = shapely.get_coordinates(geoms)
    if not len(coords):
        return geoms, np.zeros((0, 2))
    col = np.clip(np.floor(coords[:, 0]), 0, w - 1).astype(np.int64) // tile
    row = np.clip(np.floor(coords[:, 1]), 0, h - 1).astype(np.int64) // tile
    cell = row * (-(-w // tile)) + col
    order = np.argsort(cell, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(cell[order]) != 0])
    tree = shapely.STRtree(geoms)
    new = coords.copy()
    bands = list(range(1, fm.image_bands + 1))
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else len(order)
        idx = order[s:e]
        r0, c0 = int(row[idx[0]]) * tile, int(col[idx[0]]) * tile
        y0, x0 = max(0, r0 - margin), max(0, c0 - margin)
        y1, x1 = min(h, r0 + tile + margin), min(w, c0 + tile + margin)
        win = Window(x0, y0, x1 - x0, y1 - y0)
        raw = image.read(bands, window=win)
        maps = np.zeros((len(fm.classes), y1 - y0, x1 - x0), np.uint8)
        near = tree.query(shapely.box(x0, y0, x1, y1))
        for c in range(len(fm.classes)):
            sel = [geoms[i] for i in near if channel[i] == c]
            if sel:
                rasterize(sel, out=maps[c], transform=Affine.translation(x0, y0), default_value=1)
        fld = fm.field(raw, maps)
        local = coords[idx] - (x0, y0)
        new[idx] = invert_points(fld, local) + np.array([x0, y0])
        if progress:
            progress(k + 1, len(starts))
    moved = shapely.set_coordinates(shapely.from_wkb(shapely.to_wkb(geoms)), new)
    bad = ~shapely.is_valid(moved)
    if bad.any():
        moved[bad] = shapely.make_valid(moved[bad])
    return moved, new - coords


def map_channels(
    classes: list[str], n: int, values: np.ndarray | None, path: Path, column: str | None, default: str | None
) -> np.ndarray:
    """(n,) map channel (index into ``classes``) of each polygon: by its ``column`` ``values`` (class names,
    or indices into ``classes``), else every polygon is ``default`` (default: the first map class)."""
    if values is None:
        name = default or classes[0]
        lookup = {c.lower(): i for i, c in enumerate(classes)}
        if name.lower() not in lookup:
            raise LabelError(f"--class {name!r}: this model aligns {classes}")
        return np.full(n, lookup[name.lower()], np.int64)
    from worldclass.data.scenes import class_values

    return class_values(np.asarray(values), classes, path, column or "")


def align_vectors(
    checkpoint: str | Path,
    scene: str | Path,
    labels: str | Path,
    out: str | Path,
    *,
    class_column: str | None = None,
    map_class: str | None = None,
    tile: int = 512,
    margin: int = 128,
    device: str = "auto",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Align the polygons of ``labels`` to the image ``scene`` and write them to ``out`` (same attributes,
    the layer's CRS); returns a summary (polygons, vertices, displacement statistics in px, Mpx/s)."""
    from worldclass.data.rasters import open_raster
    from worldclass.data.vector import pixel_to_map, read_polygons, reproject, write_polygons

    if tile < 64 or margin < 0:
        raise ConfigError(
            f"--tile {tile} / --margin {margin}: use a tile of at least 64 px and a margin >= 0"
        )
    t0 = time.perf_counter()
    fm = load_field_model(checkpoint, device)
    labels, scene = Path(labels), Path(scene)
    geoms, cols, crs = read_polygons(labels)
    if class_column is not None and class_column not in cols:
        raise LabelError(f"{labels}: no column {class_column!r} (has {sorted(cols)})")
    values = cols[class_column] if class_column else None
    channel = map_channels(fm.classes, len(geoms), values, labels, class_column, map_class)
    with open_raster(scene) as src:
        if len(src.indexes) < fm.image_bands:
            raise ConfigError(f"{scene}: {len(src.indexes)} bands; this model needs {fm.image_bands}")
        if crs is None or src.crs is None:
            raise ConfigError(f"{labels if crs is None else scene}: no CRS; both layers need one to align")
        px = pixel_to_map(reproject(geoms, crs, src.crs), ~src.transform)  # map -> scene pixels
        moved, shift = align_pixels(fm, src, px, channel, tile=tile, margin=margin, progress=progress)
        result = reproject(pixel_to_map(moved, src.transform), src.crs, crs)
        mpx = src.height * src.width / 1e6
    write_polygons(out, result, {k: np.asarray(v) for k, v in cols.items()}, crs=crs)
    norm = np.linalg.norm(shift, axis=1) if len(shift) else np.zeros(1)
    seconds = time.perf_counter() - t0
    return {
        "out": str(out),
        "polygons": len(geoms),
        "vertices": len(shift),
        "shift_px_mean": float(norm.mean()),
        "shift_px_max": float(norm.max()),
        "valid": bool(shapely.is_valid(result).all()),
        "seconds": round(seconds, 3),
        "mpx_per_s": round(mpx / seconds, 3),
    }
