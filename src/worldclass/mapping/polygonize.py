"""``worldclass polygonize``: class map GeoTIFF -> clean polygons for GIS, chunk by chunk.

Per chunk (``chunk`` x ``chunk`` pixels, read with a halo): sieve components smaller than
``min_area`` (exact: the halo is at least the sieve size, so a component reaching the core is never cut
below it) -> ``rasterio.features.shapes`` in global pixel coordinates (integers, so both sides of a
chunk seam have bit-identical vertices) -> topology-preserving simplification of the whole chunk
coverage (``shapely.coverage_simplify``, all classes together so neighbouring polygons keep their shared
boundaries; the chunk frame is kept fixed) -> optional right-angle regularisation of the building
classes (the class rule: by default classes named like building/house/roof; land cover is only
simplified), also on the chunk's coverage, so the neighbours of a squared building take over the area
it gave up or took (no gaps, no overlaps, shared walls kept). Buildings cut by a chunk seam are not
squared (their neighbours in the finished chunks are already written, so squaring them would open
gaps): with the default 2048-pixel chunks that is the share of buildings crossing a seam. Polygons cut by a seam are merged with their other parts when the seam is passed. Geometry is
moved to map coordinates at the end and written with class id, class name, area (map units²) and
perimeter (map units). GeoPackage (version 1.2, so older GDAL/QGIS open it without a warning) and
Shapefile are written incrementally, FlatGeobuf/GeoJSON once at the end. A QGIS style (``<out>.qml``,
categorised by ``class_id`` in the class map's colours; inside the GeoPackage too) is written next to
the layer. Nodata pixels (255) produce no polygons.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_all_start_methods
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from rasterio.transform import Affine

from worldclass.data.rasters import open_raster
from worldclass.data.vector import driver_for, pixel_to_map, write_polygons
from worldclass.data.workers import process_pool
from worldclass.errors import ConfigError, DataError, MissingFileError, OutputError
from worldclass.io.qgis import embed_gpkg_style, vector_style, write_style
from worldclass.mapping.regularize import regularize_all
from worldclass.mapping.vectorize import ChunkJob, vectorize_chunk

_OUT_DRIVERS = ("GPKG", "FlatGeobuf", "GeoJSON", "ESRI Shapefile")
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
BUILDING_WORDS = ("building", "house", "roof")


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


class _Output:
    """Collect final polygons (pixel coordinates) and write them in map coordinates."""

    def __init__(
        self,
        path: Path,
        transform: Affine,
        crs: object,
        names: list[str],
        colours: list[list[int]] | None = None,
    ) -> None:
        self.path, self.transform, self.crs, self.names = path, transform, crs, names
        self.colours = colours
        self.partial = path.with_name(f".{path.name}.partial{path.suffix}")
        self.driver = driver_for(path)
        self.incremental = self.driver in ("GPKG", "ESRI Shapefile")
        self.ids: set[int] = set()
        self.buffer: list[tuple[np.ndarray, np.ndarray]] = []
        self.count = 0
        self.started = False
        path.parent.mkdir(parents=True, exist_ok=True)  # an unwritable place fails here, with its OS reason
        self.discard()

    def _write(self, geoms: np.ndarray, fields: dict[str, np.ndarray], append: bool) -> None:
        """Write to the partial layer; GDAL/OGR write failures become one OutputError naming the output."""
        try:
            write_polygons(self.partial, geoms, fields, crs=self.crs, append=append, layer="polygons")
        except Exception as exc:
            if not type(exc).__module__.startswith("pyogrio"):
                raise
            text = " ".join(str(exc).split())[:200]
            raise OutputError(
                f"{self.path}: cannot write the polygons ({text}); check free space and permissions or choose "
                "another --out (an existing layer there is unchanged)"
            ) from None

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
        self.ids.update(int(v) for v in np.unique(values))
        world = pixel_to_map(geoms, self.transform)
        bad = ~shapely.is_valid(world)
        if bad.any():  # float rounding of the affine map can make a nearly touching ring cross itself
            world[bad] = [_valid_polygonal(g) for g in world[bad]]
        fields = {
            "class_id": values.astype(np.int32),
            "class_name": np.array([self.names[v] for v in values], dtype=object),
            "area": shapely.area(world),
            "perimeter": shapely.length(world),
        }
        self._write(world, fields, append=self.started)
        self.started = True

    def finish(self) -> None:
        self.flush(final=True)
        if not self.started:  # nothing found: still write a valid, empty layer
            empty = {
                "class_id": np.array([], np.int32),
                "class_name": np.array([], dtype=object),
                "area": np.array([]),
                "perimeter": np.array([]),
            }
            self._write(np.array([], dtype=object), empty, append=False)
        qml = vector_style(self.names, sorted(self.ids), colours=self.colours)
        if self.driver == "GPKG":
            embed_gpkg_style(self.partial, "polygons", qml)
        for src, dst in self.parts():
            if src.exists():
                os.replace(src, dst)
        write_style(self.path, qml)

    def parts(self) -> list[tuple[Path, Path]]:
        """(partial, final) file pairs: one, or a Shapefile's sidecars too."""
        if self.driver != "ESRI Shapefile":
            return [(self.partial, self.path)]
        return [(self.partial.with_suffix(x), self.path.with_suffix(x)) for x in _SHAPEFILE_PARTS]

    def discard(self) -> None:
        for src, _ in self.parts():
            src.unlink(missing_ok=True)


def polygonize(
    map_path: str | Path,
    out: str | Path,
    *,
    classes: Sequence[str | int] | None = None,
    min_area: float = 0.0,
    simplify: float = 0.0,
    regularize: bool | Sequence[str | int] = False,
    frame_field: str | Path | None = None,
    chunk: int = 2048,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> PolygonizeResult:
    """Polygons of the selected classes (default: every class but 0) of a class map.

    ``min_area`` and ``simplify`` are in map units (m² and m for projected CRSs); ``simplify`` is the
    coverage simplification tolerance; ``regularize`` squares the polygons of building classes (``True``:
    the classes whose names contain building, house or roof; or the classes named); ``frame_field``, the
    ``<map>.field.tif`` a frame-field model wrote beside the map, makes those walls follow the learned
    directions (and implies ``regularize``). ``workers``
    processes vectorise chunks in parallel (0/1: in this process); output order and content do not
    depend on it.
    """
    t0 = time.perf_counter()
    path, out = Path(map_path), Path(out)
    if chunk < 64:
        raise ConfigError(f"--chunk {chunk}: use at least 64 pixels (default 2048)")
    if min_area < 0 or simplify < 0:
        raise ConfigError(f"--min-area {min_area} / --simplify {simplify}: use values >= 0 (map units)")
    if workers < 0:
        raise ConfigError(f"--workers {workers}: use 0 or more")
    if driver_for(out) not in _OUT_DRIVERS:
        raise ConfigError(f"--out {out}: polygons are written as .gpkg (default), .fgb, .geojson or .shp")
    with open_raster(path) as src:
        if src.count != 1 or src.dtypes[0] != "uint8":
            raise ConfigError(f"{path}: expected a one-band uint8 class map (as written by `worldclass map`)")
        if src.crs is None and src.tags().get("pixel_grid") != "1":
            raise ConfigError(
                f"{path}: the class map has no CRS; map a georeferenced scene (or one mapped with --pixel-grid)"
            )
        names = json.loads(src.tags().get("classes", "null")) or [str(i) for i in range(255)]
        colours = json.loads(src.tags().get("class_colours", "null"))
        keep = set(_resolve_classes(classes, names, path))
        square = _regularized_classes(regularize or frame_field is not None, names, path)
        field = _check_field(frame_field, src) if frame_field is not None else None
        px_area = abs(src.transform.a * src.transform.e - src.transform.b * src.transform.d)
        px_size = float(np.sqrt(px_area))
        sieve_px = int(np.ceil(min_area / px_area)) if min_area > 0 else 0
        halo = max(sieve_px, 1) if sieve_px else 0
        tol = simplify / px_size
        h, w = src.height, src.width
        crs, transform = src.crs, src.transform
    output = _Output(out, transform, crs, names, colours)
    pending: dict[int, list[shapely.Geometry]] = {c: [] for c in keep}
    n_rows, n_cols = (h + chunk - 1) // chunk, (w + chunk - 1) // chunk
    jobs = [
        ChunkJob(
            str(path),
            r * chunk,
            c * chunk,
            min(chunk, h - r * chunk),
            min(chunk, w - c * chunk),
            h,
            w,
            halo,
            sieve_px,
            tol,
            tuple(sorted(keep)),
            tuple(sorted(square)),
            field,
        )
        for r in range(n_rows)
        for c in range(n_cols)
    ]
    workers = min(workers, len(jobs)) if len(jobs) > 1 else 0
    # fork where available: chunk workers need only numpy/rasterio/shapely, and spawn would re-import the
    # caller's main module (possibly torch) in every worker, costing more than the chunks themselves
    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    pools: contextlib.AbstractContextManager[ProcessPoolExecutor | None] = (
        process_pool(workers, start_method=method) if workers > 1 else contextlib.nullcontext()
    )
    try:
        with pools as pool:  # on Ctrl-C, SIGTERM or an error the chunk workers are stopped at once
            results = pool.map(vectorize_chunk, jobs) if pool else map(vectorize_chunk, jobs)
            for i, (wkb, values, seam) in enumerate(results):
                geoms = shapely.from_wkb(wkb)
                for g, v in zip(geoms[seam], values[seam], strict=True):
                    pending[int(v)].append(g)
                output.add(*_finish(geoms[~seam], values[~seam], (), sieve_px))  # squared in the chunk
                if progress is not None:
                    progress(i + 1, len(jobs))
                if (i + 1) % n_cols == 0:  # a chunk row is complete: merge what its seams cut
                    nxt = (i + 1) // n_cols * chunk
                    _merge_pending(
                        pending,
                        output,
                        next_seam=nxt if nxt < h else None,
                        regularize=set(),  # see the module docstring: seam buildings stay unsquared
                        min_px=sieve_px,
                    )
                    output.flush()
            output.finish()
    finally:
        output.discard()
    return PolygonizeResult(out, output.count, h * w, time.perf_counter() - t0)


def _check_field(field: str | Path, src: Any) -> str:
    """The frame-field raster's path, checked against the class map it must belong to."""
    p = Path(field)
    if not p.is_file():
        raise MissingFileError(
            f"{p}: frame field not found; `worldclass map` writes MAP.field.tif with a frame-field model"
        )
    with open_raster(p) as f:
        if f.count != 3 or f.dtypes[0] != "uint8":
            raise DataError(f"{p}: not a frame-field raster (3 uint8 bands as written by `worldclass map`)")
        if (f.height, f.width) != (src.height, src.width) or not f.transform.almost_equals(src.transform):
            raise DataError(
                f"{p}: its grid ({f.width} x {f.height}) differs from the class map's ({src.width} x "
                f"{src.height}); use the .field.tif written with this map"
            )
    return str(p)


def _valid_polygonal(g: shapely.Geometry) -> shapely.Geometry:
    """A valid version of polygon ``g`` (GEOS make_valid, structure method; line and point remnants and
    parts below a millionth of its area dropped): vertices stay where they are, so shared boundaries
    stay shared."""
    fixed = shapely.make_valid(g, method="structure", keep_collapsed=False)
    parts = np.array([p for p in shapely.get_parts(fixed) if p.geom_type == "Polygon"], dtype=object)
    if not len(parts):
        return shapely.Polygon()
    area = shapely.area(parts)
    parts = parts[area >= 1e-6 * area.sum()]  # rounding slivers (a crossing's tiny triangle)
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(list(parts))


def building_classes(names: Sequence[str]) -> set[int]:
    """Indexes of the classes named like buildings (building, house, roof)."""
    return {i for i, n in enumerate(names) if any(w in n.lower() for w in BUILDING_WORDS)}


def _regularized_classes(rule: bool | Sequence[str | int], names: list[str], path: Path) -> set[int]:
    if rule is True:
        return building_classes(names)
    if not rule:
        return set()
    return set(_resolve_classes(list(rule), names, path))


def _finish(
    geoms: np.ndarray, values: np.ndarray, regularize: Sequence[int] | set[int], min_px: int
) -> tuple[np.ndarray, np.ndarray]:
    """Final polygons: area filter (pixels), regularisation of the ``regularize`` classes."""
    if min_px > 0 and len(geoms):
        big = shapely.area(geoms) >= min_px
        geoms, values = geoms[big], values[big]
    sel = np.isin(values, list(regularize)) if len(geoms) else np.zeros(0, bool)
    if sel.any():
        geoms = geoms.copy()
        geoms[sel] = regularize_all(geoms[sel])
    return geoms, values


def _merge_pending(
    pending: dict[int, list[shapely.Geometry]],
    output: _Output,
    *,
    next_seam: int | None,
    regularize: set[int],
    min_px: int,
) -> None:
    """Union seam-cut parts per class; parts not reaching the next horizontal seam are final."""
    for cls, parts in pending.items():
        if not parts:
            continue
        merged = shapely.get_parts(shapely.union_all(np.array(parts, dtype=object), grid_size=None))
        merged = np.array([shapely.simplify(g, 0) for g in merged], dtype=object)  # drop seam-only vertices
        done = np.ones(len(merged), bool) if next_seam is None else shapely.bounds(merged)[:, 3] < next_seam
        output.add(*_finish(merged[done], np.full(int(done.sum()), cls, np.int64), regularize, min_px))
        pending[cls] = list(merged[~done])
