"""Misaligned and incomplete vector labels, simulated like OpenStreetMap against imagery.

A map layer drifts from the image by a smooth displacement field (regional distortion) plus a small shift
per object (digitising offsets), misses some objects and has some that are not in the image. Everything is
seeded and the truth is returned, so an alignment method can be scored: the field, the per-object shifts
and which objects were dropped or invented.

Displacements are in pixels of the scene grid, ``field[0]`` along x (columns, right), ``field[1]`` along y
(rows, down): the label of the image point p is drawn at p + field(p). Fields are Gaussian-smoothed noise
scaled to an RMS of ``amplitude`` px with a correlation length of ``scale`` px; with ``amplitude`` well
below ``scale`` the map x -> x + field(x) is invertible (its Jacobian stays near the identity), which
:func:`invert_points` uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from scipy.ndimage import gaussian_filter, map_coordinates

from worldclass.errors import LabelError


def displacement_field(
    shape: tuple[int, int], *, amplitude: float = 4.0, scale: float = 64.0, seed: int = 0
) -> np.ndarray:
    """(2, h, w) float32 smooth displacement (x, y) in px: RMS ``amplitude`` per component, correlation
    length ~``scale`` px (computed on a coarse grid and upsampled, so any scene size is cheap)."""
    h, w = shape
    step = max(1, int(scale // 4))
    gh, gw = h // step + 3, w // step + 3
    rng = np.random.default_rng(seed)
    coarse = np.stack(
        [gaussian_filter(rng.standard_normal((gh, gw)), scale / step, mode="wrap") for _ in range(2)]
    )
    coarse -= coarse.mean(axis=(1, 2), keepdims=True)
    coarse *= amplitude / np.maximum(coarse.std(axis=(1, 2), keepdims=True), 1e-9)
    rows = (np.arange(h) + 0.5) / step
    cols = (np.arange(w) + 0.5) / step
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    out = np.stack([map_coordinates(c, [rr, cc], order=3, mode="nearest") for c in coarse])
    return out.astype(np.float32)


def sample_field(fld: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(N, 2) displacement at points ``xy`` (N, 2) in pixel coordinates (x, y), bilinear."""
    coords = [xy[:, 1] - 0.5, xy[:, 0] - 0.5]  # pixel centres at +0.5
    return np.stack([map_coordinates(f, coords, order=1, mode="nearest") for f in fld], 1)


def invert_points(fld: np.ndarray, xy: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Image points whose displaced position is ``xy`` (fixed point p = y - field(p))."""
    p = xy.copy()
    for _ in range(iterations):
        p = xy - sample_field(fld, p)
    return p


def warp_raster(labels: np.ndarray, fld: np.ndarray, iterations: int = 6) -> np.ndarray:
    """The map of ``labels`` (h, w) as it is drawn under ``fld`` (2, h, w): pixel q shows the label of
    the image point p with p + fld(p) = q (fixed point, nearest label; outside the scene: 0)."""
    h, w = labels.shape
    qy, qx = np.mgrid[0:h, 0:w].astype(np.float32)
    py, px = qy.copy(), qx.copy()
    for _ in range(iterations):
        dx = map_coordinates(fld[0], [py, px], order=1, mode="nearest")
        dy = map_coordinates(fld[1], [py, px], order=1, mode="nearest")
        px, py = qx - dx, qy - dy
    out: np.ndarray = map_coordinates(labels, [py, px], order=0, mode="constant", cval=0)
    return out.astype(labels.dtype)


def _move(g: shapely.Geometry, fld: np.ndarray, shift: np.ndarray) -> shapely.Geometry:
    return shapely.transform(g, lambda xy: xy + sample_field(fld, xy) + shift)


@dataclass
class Misaligned:
    """Simulated labels and the truth: ``geoms`` (kept objects moved, then spurious ones), ``source``
    (index of each output object in the input, -1 = spurious), ``displacement`` (2, h, w) px, ``shifts``
    (N, 2) px per input object, ``omitted`` input indices."""

    geoms: np.ndarray
    source: np.ndarray
    displacement: np.ndarray
    shifts: np.ndarray
    omitted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def misalign(
    geoms: np.ndarray,
    shape: tuple[int, int],
    *,
    amplitude: float = 4.0,
    scale: float = 64.0,
    object_shift: float = 1.0,
    p_omit: float = 0.05,
    p_spurious: float = 0.05,
    offset: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
) -> Misaligned:
    """Misalign polygons in pixel coordinates of a scene of ``shape`` (h, w): smooth field + constant
    ``offset`` (x, y) px + per-object shift (RMS ``object_shift`` px), ``p_omit`` of the objects dropped,
    ``p_spurious`` x N invented rectangles (sized like the inputs) where no object is."""
    geoms = np.asarray(geoms, dtype=object)
    rng = np.random.default_rng([seed, 17])
    fld = displacement_field(shape, amplitude=amplitude, scale=scale, seed=seed)
    fld += np.asarray(offset, np.float32)[:, None, None]
    shifts = rng.normal(0, object_shift, (len(geoms), 2))
    keep = rng.uniform(size=len(geoms)) >= p_omit
    moved = [_move(g, fld, s) for g, s, k in zip(geoms, shifts, keep, strict=True) if k]
    source = [int(i) for i in np.flatnonzero(keep)]
    areas = shapely.area(geoms) if len(geoms) else np.array([100.0])
    taken = shapely.union_all(geoms) if len(geoms) else shapely.Polygon()
    h, w = shape
    for _ in range(int(rng.binomial(max(len(geoms), 1), p_spurious))):
        side = float(np.sqrt(rng.choice(areas)))
        for _try in range(20):
            x, y = rng.uniform(0, w - side), rng.uniform(0, h - side)
            cand = shapely.box(x, y, x + side, y + side * rng.uniform(0.6, 1.0))
            if not cand.intersects(taken):
                moved.append(cand)
                source.append(-1)
                taken = taken.union(cand)
                break
    out = np.empty(len(moved), dtype=object)
    out[:] = moved
    return Misaligned(out, np.asarray(source, np.int64), fld, shifts, np.flatnonzero(~keep))


@dataclass
class LayerSpec:
    """How :func:`misalign_layer` draws a map layer: smooth field (RMS ``amplitude`` px, correlation
    ``scale`` px) + a constant offset per scene uniform in ±``max_offset`` px per axis + ``object_shift``
    px RMS per object; ``p_omit`` / ``p_spurious`` of the objects dropped / invented; only objects whose
    class name is in ``classes`` move, the others stay as they are; ``seed``."""

    amplitude: float = 3.0
    scale: float = 96.0
    max_offset: float = 4.0
    object_shift: float = 1.0
    p_omit: float = 0.1
    p_spurious: float = 0.05
    classes: tuple[str, ...] = ("building",)
    seed: int = 0


def misalign_layer(
    images: list[Path],
    vector: Path,
    out: Path,
    class_names: list[str],
    spec: LayerSpec,
    column: str = "class",
) -> dict[str, Any]:
    """Write ``out``: the polygons of ``vector`` over the scenes ``images`` (GeoTIFFs), the classes of
    ``spec.classes`` misaligned per scene like a crowd-sourced map (kept first, so moved objects lie on
    top); polygons outside every scene are dropped. Returns per-scene statistics (objects moved, omitted,
    spurious, mean displacement in px)."""
    from rasterio.transform import array_bounds

    from worldclass.data.rasters import open_raster
    from worldclass.data.scenes import class_values
    from worldclass.data.vector import pixel_to_map, read_polygons, reproject, write_polygons

    geoms, cols, crs = read_polygons(vector)
    if column not in cols:
        raise LabelError(f"{vector}: no column {column!r} (has {sorted(cols)}); set data.class_column")
    values = class_values(np.asarray(cols[column]), class_names, vector, column)
    lookup = {c.lower(): i for i, c in enumerate(class_names)}
    unknown = [c for c in spec.classes if c.lower() not in lookup]
    if unknown:
        raise LabelError(f"classes {unknown} to misalign are not among {class_names}")
    moving = np.isin(values, [lookup[c.lower()] for c in spec.classes])
    spurious_class = lookup[spec.classes[0].lower()]
    crs_out = crs
    out_geoms: list[Any] = []
    out_values: list[int] = []
    stats = []
    for k, image in enumerate(images):
        with open_raster(image) as src:
            transform, shape, scene_crs = src.transform, (src.height, src.width), src.crs
        g = reproject(geoms, crs, scene_crs) if crs and scene_crs else geoms
        inside = shapely.intersects(g, shapely.box(*array_bounds(*shape, transform)))
        rng = np.random.default_rng([spec.seed, k, 5])
        offset = tuple(rng.uniform(-spec.max_offset, spec.max_offset, 2))
        still, move = inside & ~moving, inside & moving
        if not move.any():
            out_geoms += list(g[still])
            out_values += values[still].tolist()
            continue
        sim = misalign(
            pixel_to_map(g[move], ~transform),
            shape,
            amplitude=spec.amplitude,
            scale=spec.scale,
            object_shift=spec.object_shift,
            p_omit=spec.p_omit,
            p_spurious=spec.p_spurious,
            offset=(float(offset[0]), float(offset[1])),
            seed=spec.seed * 1000 + k,
        )
        out_geoms += [*g[still], *pixel_to_map(sim.geoms, transform)]
        moved_values = np.where(sim.source >= 0, values[move][np.maximum(sim.source, 0)], spurious_class)
        out_values += [*values[still].tolist(), *moved_values.tolist()]
        mag = np.hypot(*sim.displacement.reshape(2, -1))
        stats.append(
            {
                "scene": image.name,
                "moved": int(move.sum()) - len(sim.omitted),
                "omitted": len(sim.omitted),
                "spurious": int((sim.source < 0).sum()),
                "offset_px": [round(float(o), 3) for o in offset],
                "mean_displacement_px": round(float(mag.mean()), 3),
            }
        )
        crs_out = scene_crs.to_wkt() if scene_crs else crs
    arr = np.empty(len(out_geoms), dtype=object)
    arr[:] = out_geoms
    out.parent.mkdir(parents=True, exist_ok=True)
    write_polygons(out, arr, {column: np.asarray(out_values, np.int32)}, crs=crs_out)
    return {"scenes": stats, "spec": asdict(spec)}
