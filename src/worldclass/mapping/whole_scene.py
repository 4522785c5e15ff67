"""``worldclass map``: one or many scenes (GeoTIFF, VRT, folders of them) -> COG class maps."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio
from rasterio.errors import RasterioIOError

from worldclass.errors import ConfigError, CorruptFileError, DataError, MissingFileError
from worldclass.mapping.engine import Sink, run_grid
from worldclass.mapping.predictor import Predictor
from worldclass.mapping.tiling import Grid, check_tiling
from worldclass.mapping.writer import GDAL_CACHE_MB, MapWriter

SCENE_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img", ".jpg", ".jpeg", ".png")


@dataclass
class SceneInfo:
    path: Path
    height: int
    width: int
    profile: dict[str, object]
    indexes: list[int]


@dataclass
class MapResult:
    scene: Path
    out: Path
    pixels: int
    tiles: int
    seconds: float


def scene_paths(inputs: Sequence[str | Path]) -> list[Path]:
    """Expand folders into their rasters (sorted); refuse missing inputs."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in SCENE_SUFFIXES)
            if not found:
                raise MissingFileError(f"{p}: no rasters ({', '.join(SCENE_SUFFIXES)}) in this folder")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise MissingFileError(f"{p}: scene not found")
    return out


def class_map_paths(inputs: Sequence[str | Path]) -> list[Path]:
    """Class maps among ``inputs`` (folders expanded), leaving out the ``.probs.tif`` / ``.field.tif``
    companions ``worldclass map`` writes beside them."""
    return [p for p in scene_paths(inputs) if not p.name.endswith((".probs.tif", ".field.tif"))]


def inspect_scene(
    path: Path, predictor: Predictor, band_indexes: Sequence[int] | None = None, *, need_crs: bool = True
) -> SceneInfo:
    """Open ``path`` and check it against the checkpoint: CRS, band count/names, dtype."""
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise CorruptFileError(f"{path}: not a readable raster ({str(exc).splitlines()[0]})") from None
    with src:
        if need_crs and src.crs is None:
            raise DataError(
                f"{path}: the scene has no CRS; assign one (gdal_edit.py -a_srs EPSG:...) first, or map it "
                "in pixel coordinates with --pixel-grid"
            )
        n = len(predictor.bands)
        idx = list(band_indexes) if band_indexes else list(range(1, src.count + 1))
        if any(not 1 <= i <= src.count for i in idx):
            raise ConfigError(f"{path}: --bands {idx} outside 1..{src.count}")
        if len(idx) != n:
            raise DataError(
                f"{path}: {len(idx)} bands but the checkpoint expects {n} ({', '.join(predictor.bands)}); "
                "pick them with --bands 1,2,3 (1-based, in that order)"
            )
        names = [src.descriptions[i - 1] for i in idx]
        if all(names) and [s.lower() for s in names] != [b.lower() for b in predictor.bands]:
            raise DataError(
                f"{path}: bands {names} differ from the checkpoint's {predictor.bands}; reorder with --bands"
            )
        dtypes = {src.dtypes[i - 1] for i in idx}
        if dtypes != {predictor.dtype}:
            raise DataError(
                f"{path}: pixel type {sorted(dtypes)} but the model was trained on {predictor.dtype} "
                "(its input scale would be wrong); convert the scene first"
            )
        return SceneInfo(Path(path), src.height, src.width, dict(src.profile), idx)


def map_tags(source: str, profile: dict[str, Any], tile: int, overlap: int, blend: str) -> dict[str, str]:
    """Tags of a class map: its source scene and tiling (``pixel_grid`` for a scene without a CRS)."""
    tags = {"source": source, "tile": str(tile), "overlap": str(overlap), "blend": blend}
    if profile.get("crs") is None:
        tags["pixel_grid"] = "1"
    return tags


def predict_scene(
    predictor: Predictor,
    info: SceneInfo,
    sink: Sink,
    *,
    tile: int = 512,
    overlap: int = 64,
    blend: str = "hann",
    batch_size: int = 8,
    rows: tuple[int, int] | None = None,
    field: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Run the engine over one inspected scene (or its ``rows = (r0, r1)`` alone) into any sink
    (``field``: with the frame-field channels); returns the number of tiles."""
    try:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            return run_grid(
                predictor,
                str(info.path),
                sink,
                height=info.height,
                width=info.width,
                indexes=info.indexes,
                tile=tile,
                overlap=overlap,
                blend=blend,
                batch_size=batch_size,
                rows=rows,
                field=field,
                progress=progress,
            )
    except RasterioIOError as exc:
        raise CorruptFileError(f"{info.path}: read failed ({str(exc).splitlines()[0]})") from None


def map_scenes(
    predictor: Predictor,
    scenes: Sequence[str | Path],
    out: str | Path,
    *,
    tile: int = 512,
    overlap: int = 64,
    blend: str = "hann",
    batch_size: int = 8,
    probabilities: bool = False,
    band_indexes: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    pixel_grid: bool = False,
) -> list[MapResult]:
    """Map every scene. ``out`` is the output file for a single scene, else a folder (same stems, .tif).

    A model with a frame-field head also writes ``<map>.field.tif`` (edge probability and the two wall
    directions, for ``polygonize --frame-field``). ``pixel_grid``: scenes without a CRS (ISPRS Vaihingen
    tiles, CrowdAI JPEGs) are mapped on their pixel grid (tag ``pixel_grid``) instead of refused.

    All inputs are checked before the first pixel is predicted; existing outputs are replaced only
    when their new version is complete.
    """
    check_tiling(tile, overlap, blend)
    if batch_size < 1:
        raise ConfigError(f"--batch-size {batch_size}: use at least 1 tile per forward pass")
    paths = scene_paths(scenes)
    infos = [inspect_scene(p, predictor, band_indexes, need_crs=not pixel_grid) for p in paths]
    out = Path(out)
    single = len(infos) == 1 and out.suffix.lower() in (".tif", ".tiff")
    if not single and out.suffix.lower() in (".tif", ".tiff"):
        raise ConfigError(f"--out {out}: {len(infos)} scenes need an output folder, not a .tif file")
    total = sum(len(Grid(i.height, i.width, tile, overlap, blend)) for i in infos)
    offset = 0
    results = []
    for info in infos:
        dst = out if single else out / f"{info.path.stem}.tif"

        def step(done: int, _: int, base: int = offset) -> None:
            if progress is not None:
                progress(base + done, total)

        t0 = time.perf_counter()
        tags = map_tags(info.path.name, info.profile, tile, overlap, blend)
        field = predictor.has_field
        with MapWriter(
            dst,
            info.profile,
            predictor.classes,
            probabilities=probabilities,
            frame_field=field,
            tags=tags,
            colours=predictor.colours,
        ) as w:
            tiles = predict_scene(
                predictor,
                info,
                w,
                tile=tile,
                overlap=overlap,
                blend=blend,
                batch_size=batch_size,
                field=field,
                progress=step,
            )
        offset += tiles
        results.append(MapResult(info.path, dst, info.height * info.width, tiles, time.perf_counter() - t0))
    return results
