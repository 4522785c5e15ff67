"""Per-chunk vectorisation for :mod:`worldclass.mapping.polygonize` (light imports: runs in worker processes).

``vectorize_chunk`` reads one chunk with a halo, sieves, polygonizes in global pixel coordinates,
simplifies the chunk's coverage, regularises the building classes on that coverage (neighbours repaired,
so shared boundaries stay shared), keeps the selected classes and flags polygons touching an inner seam.
Geometries travel as WKB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio
import shapely
from rasterio.features import shapes, sieve
from rasterio.transform import Affine
from rasterio.windows import Window

from worldclass.mapping.frame_field import FrameField
from worldclass.mapping.regularize import regularize_coverage

NODATA = 255  # class-map nodata (as written by worldclass.mapping.writer)


@dataclass(frozen=True)
class ChunkJob:
    path: str
    y0: int
    x0: int
    height: int  # chunk core size
    width: int
    scene_h: int
    scene_w: int
    halo: int
    sieve_px: int
    tolerance: float  # pixels
    keep: tuple[int, ...]
    regularize: tuple[int, ...] = ()  # classes squared to right angles (coverage kept)
    field_path: str | None = None  # frame-field raster guiding the squared classes


def chunk_polygons(data: np.ndarray, col0: int, row0: int, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """(polygons in global pixel coordinates, class values) of one chunk core, simplified as a coverage.
    Rings are built in two vectorised calls (all rings, then all polygons with their holes)."""
    t = Affine.translation(col0, row0)
    coords: list[np.ndarray] = []
    lengths: list[int] = []
    owner: list[int] = []  # per ring: its polygon (the first ring of a polygon is its shell)
    values: list[int] = []
    for geom, value in shapes(data, mask=data != NODATA, connectivity=4, transform=t):
        n = len(values)
        for ring in geom["coordinates"]:
            coords.append(np.asarray(ring, dtype=np.float64))
            lengths.append(len(coords[-1]))
            owner.append(n)
        values.append(int(value))
    if not values:
        return np.empty(0, dtype=object), np.zeros(0, np.int64)
    rings = shapely.linearrings(np.concatenate(coords), indices=np.repeat(np.arange(len(lengths)), lengths))
    arr: np.ndarray = shapely.polygons(rings, indices=np.asarray(owner))
    if tolerance > 0:
        arr = shapely.coverage_simplify(arr, tolerance, simplify_boundary=False)
    return arr, np.asarray(values, np.int64)


def vectorize_chunk(job: ChunkJob) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(WKB polygons, class values, touches-inner-seam flags) of the selected classes in one chunk."""
    h, w, halo = job.scene_h, job.scene_w, job.halo
    hy0, hx0 = max(0, job.y0 - halo), max(0, job.x0 - halo)
    hy1, hx1 = min(h, job.y0 + job.height + halo), min(w, job.x0 + job.width + halo)
    with rasterio.open(job.path) as src:
        data = src.read(1, window=Window(hx0, hy0, hx1 - hx0, hy1 - hy0))
    if job.sieve_px > 1:
        valid = data != NODATA
        data = np.where(valid, sieve(data, job.sieve_px, mask=valid, connectivity=4), NODATA).astype(np.uint8)
    core = np.ascontiguousarray(
        data[job.y0 - hy0 : job.y0 - hy0 + job.height, job.x0 - hx0 : job.x0 - hx0 + job.width]
    )
    used = {*job.keep, *job.regularize}
    if job.regularize and len(used) < NODATA:
        # classes neither kept nor squared only matter as "not a kept class" neighbours: one label for
        # all of them (after the sieve, so specks are removed as before) means fewer, simpler polygons
        other = max(v for v in range(NODATA) if v not in used)
        core[(core != NODATA) & ~np.isin(core, list(used))] = other
    geoms, values = chunk_polygons(core, job.x0, job.y0, job.tolerance)
    if job.regularize and len(geoms):
        # on the whole chunk coverage, so neighbours follow; polygons cut by a seam wait for their merge
        square = np.isin(values, list(job.regularize)) & ~_touches_seam(geoms, job)
        field = None
        if job.field_path is not None:
            with rasterio.open(job.field_path) as src:
                bands = src.read(window=Window(hx0, hy0, hx1 - hx0, hy1 - hy0))
            field = FrameField.from_raster(bands, hx0, hy0)
        geoms = regularize_coverage(geoms, square, field, repair=np.isin(values, list(job.keep)))
        full = ~shapely.is_empty(geoms)
        geoms, values = geoms[full], values[full]
    sel = np.isin(values, list(job.keep))
    geoms, values = geoms[sel], values[sel]
    return shapely.to_wkb(geoms), values, _touches_seam(geoms, job)


def _touches_seam(geoms: np.ndarray, job: ChunkJob) -> np.ndarray:
    """Per polygon: does it reach an inner chunk seam (so another chunk holds the rest of it)?"""
    b = shapely.bounds(geoms) if len(geoms) else np.zeros((0, 4))
    x0, y0, x1, y1 = job.x0, job.y0, job.x0 + job.width, job.y0 + job.height
    h, w = job.scene_h, job.scene_w
    touches: np.ndarray = (
        ((b[:, 0] <= x0) & (x0 > 0))
        | ((b[:, 2] >= x1) & (x1 < w))
        | ((b[:, 1] <= y0) & (y0 > 0))
        | ((b[:, 3] >= y1) & (y1 < h))
    )
    return touches
