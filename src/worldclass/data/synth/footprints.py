"""Synthetic building footprints for learning and judging polygonisation (frame fields, regularisation).

A scene is a grid of ``cell`` x ``cell`` px cells (0.3 m pixels), one building per cell, from
:data:`FOOTPRINT_KINDS`: rectangles and L shapes (right angles), parallelograms, trapezoids and chamfered
blocks (walls meeting at other angles, which a right-angle rule cannot follow), each rotated by a uniform
angle in [0, 180°) and scaled 0.45-0.75 of the cell. Roof and ground colours are drawn per building from
overlapping ranges (no single colour separates them), with a sunlit roof edge, a cast shadow to the
south-east, ground texture and per-pixel noise. Classes: 0 background, 1 building.

:func:`footprint_scene` renders one scene in memory; :func:`synth_footprints` writes the generic scenes
layout (``images/scene<i>.tif`` RGB uint8 with band names, ``labels/scene<i>.tif``, ``labels.gpkg``
with the exact polygons, ``class`` column) that ``data.dataset: scenes`` trains on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.features import rasterize
from rasterio.transform import Affine, from_origin
from shapely import affinity
from shapely.geometry import Polygon, box

from worldclass.data.synth.guard import claim

FOOTPRINT_CLASSES = ["background", "building"]
FOOTPRINT_KINDS = ("rectangle", "l_shape", "parallelogram", "trapezoid", "chamfered")


def footprint(kind: str, rng: np.random.Generator, cx: float, cy: float, size: float) -> Polygon:
    """One footprint of ``kind`` centred near (cx, cy), about ``size`` px across, randomly rotated."""
    w, h = size * rng.uniform(0.75, 1.0), size * rng.uniform(0.5, 0.8)
    x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    if kind == "rectangle":
        p = box(x0, y0, x1, y1)
    elif kind == "l_shape":
        t = rng.uniform(0.4, 0.55)
        p = Polygon(box(x0, y0, x1, y0 + t * h).union(box(x0, y0, x0 + t * w, y1)).exterior)
    elif kind == "parallelogram":
        s = rng.uniform(0.25, 0.45) * h * rng.choice([-1, 1])
        p = Polygon([(x0 - s / 2, y0), (x1 - s / 2, y0), (x1 + s / 2, y1), (x0 + s / 2, y1)])
    elif kind == "trapezoid":
        s = rng.uniform(0.15, 0.3) * w
        p = Polygon([(x0, y0), (x1, y0), (x1 - s, y1), (x0 + s, y1)])
    elif kind == "chamfered":
        c = rng.uniform(0.25, 0.4) * min(w, h)
        p = Polygon([(x0, y0), (x1 - c, y0), (x1, y0 + c), (x1, y1), (x0 + c, y1), (x0, y1 - c)])
    else:
        raise ValueError(f"unknown footprint kind {kind!r}; choose from {FOOTPRINT_KINDS}")
    return affinity.rotate(p, float(rng.uniform(0, 180)), origin=(cx, cy))


def footprint_scene(
    seed: int, size: int = 512, cell: int = 64, kinds: tuple[str, ...] = FOOTPRINT_KINDS
) -> tuple[np.ndarray, np.ndarray, list[Polygon]]:
    """(RGB (3, size, size) uint8, labels (size, size) uint8, building polygons in pixel coordinates)."""
    rng = np.random.default_rng([seed, 7919])
    n = size // cell
    polys: list[Polygon] = []
    for i in range(n):
        for j in range(n):
            jitter = rng.uniform(-0.08, 0.08, 2) * cell
            kind = str(rng.choice(kinds))
            polys.append(
                footprint(
                    kind,
                    rng,
                    (j + 0.5) * cell + jitter[0],
                    (i + 0.5) * cell + jitter[1],
                    cell * rng.uniform(0.45, 0.75),
                )
            )
    shape = (size, size)
    ids = rasterize([(p, k + 1) for k, p in enumerate(polys)], out_shape=shape, dtype="int32")
    labels = (ids > 0).astype(np.uint8)
    shadow = rasterize([(affinity.translate(p, 3, 3), 1) for p in polys], out_shape=shape, dtype="uint8")
    # ground per cell and roof per building from overlapping colour ranges
    ground = rng.uniform(70, 170, (n, n, 3)) * np.array([1.0, 1.0, 0.85])
    roofs = rng.uniform(60, 200, (len(polys), 3))
    rows = np.minimum(np.arange(size) // cell, n - 1)
    rgb = ground[rows][:, rows].transpose(2, 0, 1).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    rgb += 12 * np.sin(xx * 0.21 + 2 * np.sin(yy * 0.13))[None]
    rgb[:, (shadow == 1) & (labels == 0)] *= 0.55
    bld = labels == 1
    rgb[:, bld] = roofs[ids[bld] - 1].T
    sunlit = bld & ~np.roll(bld, 2, axis=0)
    rgb[:, sunlit] += 30
    rgb += rng.normal(0, 10, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), labels, polys


def synth_footprints(
    out: str | Path,
    *,
    size: int = 512,
    scenes: int = 2,
    seed: int = 0,
    cell: int = 64,
    crs: int = 32633,
    kinds: tuple[str, ...] = FOOTPRINT_KINDS,
) -> Path:
    """Write ``scenes`` footprint scenes in the generic scenes layout; returns the root."""
    from worldclass.data.vector import pixel_to_map, write_polygons

    root = Path(out)
    params = {"generator": "footprints", "size": size, "scenes": scenes, "seed": seed, "cell": cell}
    claim(root, {**params, "crs": crs, "kinds": list(kinds)})
    for i in range(scenes):
        rgb, labels, polys = footprint_scene(seed * 1000 + i, size, cell, kinds)
        transform = from_origin(500000.0 + i * (size + 100) * 0.3, 5000000.0, 0.3, 0.3)
        write_footprint_rasters(root, f"scene{i + 1}.tif", rgb, labels, transform, crs)
        world = pixel_to_map(np.array(polys, dtype=object), transform)
        write_polygons(
            root / "labels.gpkg",
            world,
            {"class": np.ones(len(polys), np.int32)},
            crs=f"EPSG:{crs}",
            append=i > 0,
            layer="labels",
        )
    return root


def write_footprint_rasters(
    root: Path, name: str, rgb: np.ndarray, labels: np.ndarray, transform: Affine, crs: int
) -> Path:
    """``root/images/name`` (RGB, band names red/green/blue) and ``root/labels/name``; returns the image."""
    prof = dict(
        driver="GTiff",
        height=labels.shape[0],
        width=labels.shape[1],
        crs=f"EPSG:{crs}",
        dtype="uint8",
        transform=transform,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
    )
    image = root / "images" / name
    for sub in ("images", "labels"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    with rasterio.open(image, "w", count=3, photometric="RGB", **prof) as dst:
        dst.write(rgb)
        dst.descriptions = ("red", "green", "blue")
    with rasterio.open(root / "labels" / name, "w", count=1, **prof) as dst:
        dst.write(labels, 1)
    return image
