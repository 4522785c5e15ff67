"""``worldclass polygonize``: class map GeoTIFF -> clean polygons for GIS, chunk by chunk.

Per chunk (``chunk`` x ``chunk`` pixels, read with a halo): sieve components smaller than
``min_area`` (exact: the halo is at least the sieve size, so a component reaching the core is never cut
below it) -> ``rasterio.features.shapes`` in global pixel coordinates (integers, so both sides of a
chunk seam have bit-identical vertices) -> topology-preserving simplification of the whole chunk
coverage (``shapely.coverage_simplify``, all classes together so neighbouring polygons keep their shared
boundaries; the chunk frame is kept fixed) -> optional right-angle regularisation of the selected
classes. Polygons cut by a seam are merged with their other parts when the seam is passed. Geometry is
moved to map coordinates at the end and written with class id, class name, area (map units²) and
perimeter (map units). GeoPackage is written incrementally; FlatGeobuf/GeoJSON once at the end.
Nodata pixels (255) produce no polygons.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from rasterio.features import shapes, sieve
from rasterio.transform import Affine
from rasterio.windows import Window

from worldclass.data.scenes import open_raster
from worldclass.data.vector import driver_for, write_polygons
from worldclass.errors import ConfigError
from worldclass.mapping.regularize import regularize_all
from worldclass.mapping.writer import NODATA

_OUT_DRIVERS = ("GPKG", "FlatGeobuf", "GeoJSON")


@dataclass
class PolygonizeResult:
    out: Path
    polygons: int
    pixels: int
    seconds: float


def _resolve_classes(wanted: Sequence[str | int] | None, names: list[str], path: Path) -> list[int]:
    if not wanted:
        return list(range(1, len(names))) if len(names) > 1 else [0]
    out = []
    lookup = {n.lower(): i for i, n in enumerate(names)}
    for w in wanted:
        s = str(w).strip()
        if s.isdigit() and int(s) < len(names):
            out.append(int(s))
        elif s.lower() in lookup:
            out.append(lookup[s.lower()])
        else:
            raise ConfigError(f"{path}: unknown class {w!r}; the map's classes are {names}")
    return out


def _chunk_polygons(
    data: np.ndarray, col0: int, row0: int, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """(polygons in global pixel coordinates, class values) of one chunk core, simplified as a coverage."""
    t = Affine.translation(col0, row0)
    geoms, values = [], []
    for geom, value in shapes(data, mask=data != NODATA, connectivity=4, transform=t):
        rings = geom["coordinates"]
        geoms.append(shapely.Polygon(rings[0], rings[1:]))
        values.append(int(value))
    arr = np.array(geoms, dtype=object)
    if tolerance > 0 and len(arr):
        arr = shapely.coverage_simplify(arr, tolerance, simplify_boundary=False)
    return arr, np.asarray(values, np.int64)


class _Output:
    """Collect final polygons (pixel coordinates) and write them in map coordinates."""

    def __init__(self, path: Path, transform: Affine, crs: object, names: list[str]) -> None:
        self.path, self.transform, self.crs, self.names = path, transform, crs, names
        self.partial = path.with_name(f".{path.name}.partial{path.suffix}")
        self.incremental = driver_for(path) == "GPKG"
        self.buffer: list[tuple[np.ndarray, np.ndarray]] = []
        self.count = 0
        self.started = False
        self.partial.unlink(missing_ok=True)

    def add(self, geoms: np.ndarray, values: np.ndarray) -> None:
        if len(geoms):
            self.buffer.append((geoms, values))
            self.count += len(geoms)

    def flush(self, final: bool = False) -> None:
        if not self.buffer or (not self.incremental and not final):
            return
        geoms = np.concatenate([g for g, _ in self.buffer])
        values = np.concatenate([v for _, v in self.buffer])
        self.buffer = []
        t = self.transform
        world = shapely.transform(geoms, lambda xy: np.column_stack((t.a * xy[:, 0] + t.b * xy[:, 1] + t.c,
                                                                      t.d * xy[:, 0] + t.e * xy[:, 1] + t.f)))  # fmt: skip
        fields = {
            "class_id": values.astype(np.int32),
            "class_name": np.array([self.names[v] for v in values], dtype=object),
            "area": shapely.area(world),
            "perimeter": shapely.length(world),
        }
        write_polygons(self.partial, world, fields, crs=self.crs, append=self.started, layer="polygons")
        self.started = True

    def finish(self) -> None:
        self.flush(final=True)
        if not self.started:  # nothing found: still write a valid, empty layer
            write_polygons(self.partial, np.array([], dtype=object), {"class_id": np.array([], np.int32),
                           "class_name": np.array([], dtype=object), "area": np.array([]),
                           "perimeter": np.array([])}, crs=self.crs, layer="polygons")  # fmt: skip
        os.replace(self.partial, self.path)


def polygonize(
    map_path: str | Path, out: str | Path, *, classes: Sequence[str | int] | None = None, min_area: float = 0.0,
    simplify: float = 0.0, regularize: bool = False, chunk: int = 4096,
    progress: Callable[[int, int], None] | None = None,
) -> PolygonizeResult:  # fmt: skip
    """Polygons of the selected classes (default: every class but 0) of a class map.

    ``min_area`` and ``simplify`` are in map units (m² and m for projected CRSs); ``simplify`` is the
    coverage simplification tolerance; ``regularize`` squares building-like polygons.
    """
    t0 = time.perf_counter()
    path, out = Path(map_path), Path(out)
    if driver_for(out) not in _OUT_DRIVERS:
        raise ConfigError(f"--out {out}: polygons are written as .gpkg (default), .fgb or .geojson")
    with open_raster(path) as src:
        if src.count != 1 or src.dtypes[0] != "uint8":
            raise ConfigError(f"{path}: expected a one-band uint8 class map (as written by `worldclass map`)")
        if src.crs is None:
            raise ConfigError(f"{path}: the class map has no CRS")
        names = json.loads(src.tags().get("classes", "null")) or [str(i) for i in range(255)]
        keep = set(_resolve_classes(classes, names, path))
        px_area = abs(src.transform.a * src.transform.e - src.transform.b * src.transform.d)
        px_size = float(np.sqrt(px_area))
        sieve_px = int(np.ceil(min_area / px_area)) if min_area > 0 else 0
        halo = max(sieve_px, 1) if sieve_px else 0
        tol = simplify / px_size
        h, w = src.height, src.width
        output = _Output(out, src.transform, src.crs, names)
        pending: dict[int, list[shapely.Geometry]] = {c: [] for c in keep}
        n_rows = (h + chunk - 1) // chunk
        n_cols = (w + chunk - 1) // chunk
        done = 0
        try:
            for r in range(n_rows):
                for c in range(n_cols):
                    y0, x0 = r * chunk, c * chunk
                    ch, cw = min(chunk, h - y0), min(chunk, w - x0)
                    hy0, hx0 = max(0, y0 - halo), max(0, x0 - halo)
                    hy1, hx1 = min(h, y0 + ch + halo), min(w, x0 + cw + halo)
                    data = src.read(1, window=Window(hx0, hy0, hx1 - hx0, hy1 - hy0))
                    if sieve_px > 1:
                        valid = data != NODATA
                        data = np.where(
                            valid, sieve(data, sieve_px, mask=valid, connectivity=4), NODATA
                        ).astype(np.uint8)
                    core = np.ascontiguousarray(data[y0 - hy0 : y0 - hy0 + ch, x0 - hx0 : x0 - hx0 + cw])
                    geoms, values = _chunk_polygons(core, x0, y0, tol)
                    sel = np.isin(values, list(keep))
                    geoms, values = geoms[sel], values[sel]
                    # touching an inner seam -> wait for the other side
                    b = shapely.bounds(geoms) if len(geoms) else np.zeros((0, 4))
                    seam = ((b[:, 0] <= x0) & (x0 > 0)) | ((b[:, 2] >= x0 + cw) & (x0 + cw < w)) | \
                           ((b[:, 1] <= y0) & (y0 > 0)) | ((b[:, 3] >= y0 + ch) & (y0 + ch < h))  # fmt: skip
                    for g, v in zip(geoms[seam], values[seam], strict=True):
                        pending[int(v)].append(g)
                    output.add(*_finish(geoms[~seam], values[~seam], regularize, sieve_px))
                    done += 1
                    if progress is not None:
                        progress(done, n_rows * n_cols)
                _merge_pending(pending, output, next_seam=(r + 1) * chunk if (r + 1) * chunk < h else None,
                               regularize=regularize, min_px=sieve_px)  # fmt: skip
                output.flush()
            output.finish()
        finally:
            output.partial.unlink(missing_ok=True)
    return PolygonizeResult(out, output.count, h * w, time.perf_counter() - t0)


def _finish(
    geoms: np.ndarray, values: np.ndarray, regularize: bool, min_px: int
) -> tuple[np.ndarray, np.ndarray]:
    """Final polygons: area filter (pixels), optional regularisation."""
    if min_px > 0 and len(geoms):
        big = shapely.area(geoms) >= min_px
        geoms, values = geoms[big], values[big]
    if regularize and len(geoms):
        geoms = regularize_all(geoms)
    return geoms, values


def _merge_pending(
    pending: dict[int, list[shapely.Geometry]], output: _Output, *, next_seam: int | None, regularize: bool,
    min_px: int,
) -> None:  # fmt: skip
    """Union seam-cut parts per class; parts not reaching the next horizontal seam are final."""
    for cls, parts in pending.items():
        if not parts:
            continue
        merged = shapely.get_parts(shapely.union_all(np.array(parts, dtype=object), grid_size=None))
        merged = np.array([shapely.simplify(g, 0) for g in merged], dtype=object)  # drop seam-only vertices
        done = np.ones(len(merged), bool) if next_seam is None else shapely.bounds(merged)[:, 3] < next_seam
        output.add(*_finish(merged[done], np.full(int(done.sum()), cls, np.int64), regularize, min_px))
        pending[cls] = list(merged[~done])
