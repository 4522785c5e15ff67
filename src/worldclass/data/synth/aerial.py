"""Synthetic aerial scenes (0.3 m RGB, uint8) with matching label rasters and vector labels.

A scene is a city grid: blocks of ``CELL`` px separated by roads; each block holds buildings
(rotated rectangles, L shapes, terraces of houses sharing walls), a park (trees), a pond (water) or
open ground. Content is a pure function of (seed, global pixel), so any block decomposition writes the
same scene: scenes of any size are written window by window in bounded memory.

Label classes (:data:`AERIAL_CLASSES`): 0 background, 1 building, 2 road, 3 vegetation, 4 water.
Inria layout (:func:`synth_inria`) writes the building class only, as 0/255 ``gt`` masks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.features import rasterize
from rasterio.transform import Affine, from_origin
from shapely import affinity
from shapely.geometry import Polygon, box

from worldclass.data.rasters import blocks
from worldclass.data.synth.guard import claim
from worldclass.io.gdal import quiet_libtiff

quiet_libtiff()

AERIAL_CLASSES = ["background", "building", "road", "vegetation", "water"]
CELL = 120  # city block period in pixels (36 m at 0.3 m)
ROAD = 14  # road width in pixels
INRIA_TRAIN = ("austin", "chicago", "kitsap", "tyrol-w", "vienna")
INRIA_TEST = ("bellingham", "bloomington", "innsbruck", "sfo", "tyrol-e")
_UTM = {
    "austin": 32614,
    "chicago": 32616,
    "kitsap": 32610,
    "tyrol-w": 32632,
    "vienna": 32633,
    "bellingham": 32610,
    "bloomington": 32616,
    "innsbruck": 32632,
    "sfo": 32610,
    "tyrol-e": 32632,
}
_ROOFS = np.array([[150, 60, 50], [120, 120, 125], [95, 75, 60], [185, 180, 170], [70, 70, 80]], np.float32)
_BASE = {0: (140, 135, 105), 2: (90, 90, 92), 3: (45, 85, 40), 4: (30, 55, 85)}
#: ``style="hard"`` roofs: also ground-, road- and vegetation-like materials
_HARD_ROOFS = np.concatenate([_ROOFS, np.array([[138, 131, 102], [94, 93, 95], [58, 88, 48]], np.float32)])
STYLES = ("plain", "hard")


def _building_shapes(rng: np.random.Generator, x0: float, y0: float) -> list[Polygon]:
    """Buildings inside the block whose interior starts at (x0, y0) (pixel coordinates)."""
    inner = CELL - ROAD
    kind = rng.integers(0, 3)
    cx, cy = x0 + inner / 2, y0 + inner / 2
    if kind == 0:  # one rotated house
        w, h = rng.uniform(28, 60), rng.uniform(24, 50)
        shapes = [box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)]
    elif kind == 1:  # L shape
        w, h, t = rng.uniform(50, 80), rng.uniform(50, 80), rng.uniform(18, 28)
        ll = box(cx - w / 2, cy - h / 2, cx + w / 2, cy - h / 2 + t).union(
            box(cx - w / 2, cy - h / 2, cx - w / 2 + t, cy + h / 2)
        )
        shapes = [Polygon(ll.exterior)]
    else:  # terrace: houses sharing walls
        n = int(rng.integers(2, 5))
        depth, total = rng.uniform(22, 34), rng.uniform(70, 90)
        cuts = np.sort(rng.uniform(0.2, 0.8, n - 1)) if n > 1 else np.array([])
        edges = cx - total / 2 + total * np.concatenate([[0], cuts, [1]])
        shapes = [box(a, cy - depth / 2, b, cy + depth / 2) for a, b in itertools.pairwise(edges)]
    angle = float(rng.choice([0.0, 90.0, rng.uniform(-40, 40)]))
    return [affinity.rotate(s, angle, origin=(cx, cy)) for s in shapes]


def cell_features(seed: int, ci: int, cj: int) -> list[tuple[Polygon, int, int]]:
    """(polygon in pixel coords, class, roof index) of block (row ``ci``, col ``cj``); roads excluded."""
    rng = np.random.default_rng([seed, ci + 1_000_000, cj + 1_000_000])
    x0, y0 = cj * CELL + ROAD / 2, ci * CELL + ROAD / 2
    inner = CELL - ROAD
    u = rng.uniform()
    if u < 0.6:
        return [(s, 1, int(rng.integers(0, len(_ROOFS)))) for s in _building_shapes(rng, x0, y0)]
    if u < 0.78:  # park: tree crowns
        crowns = [
            shapely.Point(x0 + rng.uniform(8, inner - 8), y0 + rng.uniform(8, inner - 8)).buffer(
                rng.uniform(5, 14), quad_segs=4
            )
            for _ in range(int(rng.integers(4, 12)))
        ]
        return [(shapely.union_all(crowns), 3, 0)]
    if u < 0.86:  # pond
        pond = shapely.Point(x0 + inner / 2, y0 + inner / 2).buffer(
            rng.uniform(20, inner / 2 - 4), quad_segs=6
        )
        return [(affinity.scale(pond, rng.uniform(0.6, 1.0), 1.0), 4, 0)]
    return []


def _features(seed: int, r0: int, c0: int, h: int, w: int) -> Iterator[tuple[Polygon, int, int]]:
    for ci in range(r0 // CELL, (r0 + h - 1) // CELL + 1):
        for cj in range(c0 // CELL, (c0 + w - 1) // CELL + 1):
            yield from cell_features(seed, ci, cj)


def _hash_noise(seed: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Deterministic per-pixel noise in [-0.5, 0.5) from global coordinates."""
    v = (
        (rows.astype(np.uint64)[:, None] * np.uint64(73856093))
        ^ (cols.astype(np.uint64)[None, :] * np.uint64(19349663))
        ^ np.uint64(seed * 83492791 & 0xFFFFFFFF)
    )
    v = (v * np.uint64(2654435761)) & np.uint64(0xFFFF)
    return v.astype(np.float32) / 65536.0 - 0.5


def _canopies(seed: int, feats: list[tuple[Polygon, int, int]]) -> list[Polygon]:
    """``hard`` style: a tree crown over a corner of about a third of the buildings (clipped to the
    building's block, so any window decomposition draws the same crowns)."""
    out = []
    for g, c, _ in feats:
        if c != 1:
            continue
        cx, cy = g.centroid.x, g.centroid.y
        rng = np.random.default_rng([seed, 7, round(cx * 8), round(cy * 8)])
        if rng.uniform() < 0.35:
            xy = np.asarray(g.exterior.coords)[:-1]
            vx, vy = xy[int(rng.integers(0, len(xy)))]
            cell = box(
                (cx // CELL) * CELL, (cy // CELL) * CELL, (cx // CELL + 1) * CELL, (cy // CELL + 1) * CELL
            )
            out.append(shapely.Point(vx, vy).buffer(rng.uniform(6, 11), quad_segs=4).intersection(cell))
    return out


def _harden(
    seed: int,
    rgb: np.ndarray,
    labels: np.ndarray,
    feats: list[tuple[Polygon, int, int]],
    rows: np.ndarray,
    cols: np.ndarray,
    t: Affine,
) -> None:
    """``hard`` style, in place: shadows to the south-east of buildings, tree crowns over roofs (labels keep
    the footprint), dashed road markings, and a slow illumination gain across the scene."""
    h, w = labels.shape
    houses = [g for g, c, _ in feats if c == 1]
    if houses:
        cast = [affinity.translate(g, 5, 5) for g in houses]
        shadow = rasterize(cast, out_shape=(h, w), transform=t, fill=0, default_value=1, dtype="uint8")
        rgb[:, (shadow == 1) & (labels != 1)] *= 0.5
        crowns = _canopies(seed, feats)
        if crowns:
            canopy = rasterize(crowns, out_shape=(h, w), transform=t, fill=0, default_value=1, dtype="uint8")
            on = canopy == 1
            rgb[:, on] = np.asarray(_BASE[3], np.float32)[:, None]
    road = labels == 2
    mark = (((rows % CELL) == 0)[:, None] & ((cols // 8) % 2 == 0)[None, :]) | (
        ((cols % CELL) == 0)[None, :] & ((rows // 8) % 2 == 0)[:, None]
    )
    rgb[:, road & mark] = np.array([225.0, 225.0, 215.0], np.float32)[:, None]
    ground = labels == 0  # bare soil to grey gravel and dry grass, in patches of ~50 px
    mix = 0.5 + 0.5 * np.sin(rows[:, None] / 23.0 + 2 * np.cos(cols[None, :] / 31.0 + seed))
    soil = np.array([100.0, 102.0, 96.0], np.float32)[:, None] - np.asarray(_BASE[0], np.float32)[:, None]
    rgb[:, ground] += soil * mix[ground][None]
    gain = 1 + 0.35 * np.sin(rows / 157.0 + seed)[:, None] * np.cos(cols / 193.0 - seed)[None, :]
    rgb *= gain.astype(np.float32)[None]


def render_block(
    seed: int, r0: int, c0: int, h: int, w: int, style: str = "plain"
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of rows [r0, r0+h) x cols [c0, c0+w): RGB (3, h, w) uint8 and labels (h, w) uint8.
    ``style``: ``plain`` (each class one colour family: a nearest-colour rule gets ~95 % of pixels right) or
    ``hard`` (roofs also in ground-, road- and vegetation-like materials, shadows, trees over roofs, road
    markings, illumination changes: that rule falls below 70 %)."""
    rows, cols = np.arange(r0, r0 + h), np.arange(c0, c0 + w)
    labels = np.zeros((h, w), np.uint8)
    road = ((rows % CELL)[:, None] < ROAD / 2) | ((rows % CELL)[:, None] >= CELL - ROAD / 2)
    road = road | ((cols % CELL)[None, :] < ROAD / 2) | ((cols % CELL)[None, :] >= CELL - ROAD / 2)
    labels[road] = 2
    feats = list(_features(seed, r0, c0, h, w))
    t = Affine.translation(c0, r0)
    roof = np.zeros((h, w), np.int32)
    if feats:
        labels = rasterize(
            ((g, c) for g, c, _ in feats),
            out_shape=(h, w),
            transform=t,
            fill=0,
            default_value=1,
            dtype="uint8",
            out=labels,
        )
        houses = [(g, i + 1) for i, (g, c, _) in enumerate(feats) if c == 1]
        if houses:
            roof = rasterize(houses, out_shape=(h, w), transform=t, fill=0, dtype="int32")
    rgb = np.empty((3, h, w), np.float32)
    for cls, colour in _BASE.items():
        sel = labels == cls
        for b in range(3):
            rgb[b][sel] = colour[b]
    bld = labels == 1
    if bld.any():
        idx = np.array([f[2] for f in feats])[roof[bld] - 1]
        if style == "hard":  # the material of each roof from its position, over the larger palette
            shift = np.array([round(f[0].centroid.x + f[0].centroid.y) for f in feats])[roof[bld] - 1]
            rgb[:, bld] = _HARD_ROOFS[(idx + shift) % len(_HARD_ROOFS)].T
        else:
            rgb[:, bld] = _ROOFS[idx].T
        edge = bld & ~np.roll(bld, 2, axis=0)  # sunlit roof edge
        rgb[:, edge] += 25
    if style == "hard":
        _harden(seed, rgb, labels, feats, rows, cols, t)
    noise = _hash_noise(seed, rows, cols)
    texture = np.sin(rows[:, None] * 0.7 + np.cos(cols[None, :] * 0.45) * 3).astype(np.float32)
    veg = labels == 3
    if style == "hard":
        veg = veg | (np.abs(rgb - np.asarray(_BASE[3], np.float32)[:, None, None]).max(0) < 1)  # crowns
    rgb += noise * 30 + np.where(veg, texture * 18, 0)
    return np.clip(rgb, 0, 255).astype(np.uint8), labels


def write_scene(
    image: str | Path,
    height: int,
    width: int,
    *,
    seed: int = 0,
    labels: str | Path | None = None,
    label_mode: str = "classes",
    crs: str | int = 32633,
    origin: tuple[float, float] = (500000.0, 5000000.0),
    gsd: float = 0.3,
    compress: str | None = "deflate",
    progress: Callable[[int, int], None] | None = None,
    style: str = "plain",
) -> None:
    """Write a scene GeoTIFF (RGB uint8, tiled) and optionally its label raster, block by block.

    ``label_mode``: ``classes`` (uint8 :data:`AERIAL_CLASSES` indices) or ``inria`` (0/255 buildings);
    ``style``: ``plain`` or ``hard`` (see :func:`render_block`).
    """
    if style not in STYLES:
        from worldclass.errors import ConfigError

        raise ConfigError(f"style {style!r}: choose one of {list(STYLES)}")
    crs_s = f"EPSG:{crs}" if isinstance(crs, int) else crs
    prof = dict(
        driver="GTiff",
        height=height,
        width=width,
        crs=crs_s,
        dtype="uint8",
        tiled=True,
        blockxsize=256,
        blockysize=256,
        transform=from_origin(*origin, gsd, gsd),
        BIGTIFF="IF_SAFER",
    )
    if compress:
        prof["compress"] = compress
    Path(image).parent.mkdir(parents=True, exist_ok=True)
    dst_l = None
    with rasterio.open(image, "w", count=3, photometric="RGB", **prof) as dst:
        dst.descriptions = ("red", "green", "blue")
        if labels is not None:
            Path(labels).parent.mkdir(parents=True, exist_ok=True)
            dst_l = rasterio.open(labels, "w", count=1, **prof)
        try:
            wins = list(blocks(height, width))
            for i, win in enumerate(wins):
                rgb, lab = render_block(
                    seed, int(win.row_off), int(win.col_off), int(win.height), int(win.width), style
                )
                dst.write(rgb, window=win)
                if dst_l is not None:
                    dst_l.write(
                        np.where(lab == 1, 255, 0).astype(np.uint8) if label_mode == "inria" else lab,
                        1,
                        window=win,
                    )
                if progress:
                    progress(i + 1, len(wins))
        finally:
            if dst_l is not None:
                dst_l.close()


def scene_polygons(seed: int, height: int, width: int) -> list[tuple[Polygon, int]]:
    """Non-road features of a scene as (polygon in pixel coords, class), clipped to the scene."""
    frame = box(0, 0, width, height)
    out = []
    for g, c, _ in _features(seed, 0, 0, height, width):
        if g.intersects(frame):
            out.append((g.intersection(frame), c))
    return out


def write_vector_labels(
    path: str | Path, seed: int, height: int, width: int, *, transform: Affine, crs: str, append: bool = False
) -> None:
    """Every labelled feature of a scene (buildings, vegetation, water, roads) as polygons in map
    coordinates with an integer ``class`` column (:data:`AERIAL_CLASSES`); background is uncovered."""
    from worldclass.data.vector import pixel_to_map, write_polygons

    feats = scene_polygons(seed, height, width)
    frame = box(0, 0, width, height)
    roads = [box(0, r - ROAD / 2, width, r + ROAD / 2) for r in range(0, height + CELL, CELL)]
    roads += [box(c - ROAD / 2, 0, c + ROAD / 2, height) for c in range(0, width + CELL, CELL)]
    road = shapely.union_all(roads).intersection(frame)
    geoms = [road] + [g for g, _ in feats]
    classes = [2] + [c for _, c in feats]
    arr = pixel_to_map(np.array(geoms, dtype=object), transform)
    write_polygons(
        path, arr, {"class": np.asarray(classes, np.int32)}, crs=crs, append=append, layer="labels"
    )


def synth_inria(
    out: str | Path, *, size: int = 1000, tiles: int = 6, seed: int = 0, test_tiles: int | None = None
) -> Path:
    """Inria Aerial Image Labeling layout: ``AerialImageDataset/{train,test}/images/<city><n>.tif`` and
    ``train/gt/<city><n>.tif`` (0/255). ``tiles`` per training city, ``test_tiles`` per test city."""
    claim(
        Path(out),
        {"generator": "inria", "size": size, "tiles": tiles, "seed": seed, "test_tiles": test_tiles},
    )
    root = Path(out) / "AerialImageDataset"
    for split, cities, n in (("train", INRIA_TRAIN, tiles), ("test", INRIA_TEST, test_tiles or 1)):
        for k, city in enumerate(cities):
            for i in range(1, n + 1):
                name = f"{city}{i}.tif"
                write_scene(
                    root / split / "images" / name,
                    size,
                    size,
                    seed=seed * 1000 + k * 100 + i,
                    labels=root / split / "gt" / name if split == "train" else None,
                    label_mode="inria",
                    crs=_UTM[city],
                    origin=(400000.0 + i * size * 0.3, 4000000.0),
                )
    return root


def synth_scenes(
    out: str | Path,
    *,
    size: int = 1000,
    scenes: int = 2,
    seed: int = 0,
    crs: int = 32633,
    style: str = "plain",
) -> Path:
    """Generic layout: ``images/scene<i>.tif`` (RGB), ``labels/scene<i>.tif`` (class indices,
    :data:`AERIAL_CLASSES`) and one ``labels.gpkg`` with the same labels as polygons (``class`` column);
    scenes sit side by side in one UTM zone. ``style``: see :func:`render_block`."""
    root = Path(out)
    spec: dict[str, object] = {
        "generator": "scenes",
        "size": size,
        "scenes": scenes,
        "seed": seed,
        "crs": crs,
    }
    if style != "plain":  # plain archives keep their earlier claim
        spec["style"] = style
    claim(root, spec)
    for i in range(scenes):
        origin = (500000.0 + i * (size + 100) * 0.3, 5000000.0)
        img = root / "images" / f"scene{i + 1}.tif"
        write_scene(
            img,
            size,
            size,
            seed=seed * 1000 + i,
            labels=root / "labels" / img.name,
            crs=crs,
            origin=origin,
            style=style,
        )
        write_vector_labels(
            root / "labels.gpkg",
            seed * 1000 + i,
            size,
            size,
            append=i > 0,
            transform=from_origin(*origin, 0.3, 0.3),
            crs=f"EPSG:{crs}",
        )
    return root
