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

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.ndimage import gaussian_filter, map_coordinates


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
