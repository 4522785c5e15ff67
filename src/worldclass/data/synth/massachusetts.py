"""Tiny Massachusetts roads / buildings archives (Mnih 2013 layout) of synthetic 1 m suburbs.

A tile holds curving roads (asphalt 5-12 m wide; the label is the centre line drawn 7 px wide, as the
benchmark's OSM-derived maps are, so it does not follow the visible edge), houses with roofs as grey as
the asphalt, driveways and parking lots (grey, not road), fields and woods; some tiles have a white
(255, 255, 255) no-data corner. Files: ``mass_{roads,buildings}/{train,valid,test}/sat/<id>_15.tiff``
(RGB uint8, EPSG:26986, 1 m) and ``map/<id>_15.tif`` (uint8 0/255).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.features import rasterize
from rasterio.transform import from_origin
from scipy.ndimage import gaussian_filter
from shapely import affinity
from shapely.geometry import LineString, box

from worldclass.data.synth.guard import claim
from worldclass.io.gdal import quiet_libtiff

quiet_libtiff()

ROAD_LABEL_WIDTH = 7  # px (1 m): the label line width


def _road(rng: np.random.Generator, size: int) -> LineString:
    """A gently curving road crossing the tile."""
    t = np.linspace(-0.1, 1.1, 24)
    a, b = rng.uniform(0.1, 0.9, 2) * size
    wiggle = rng.uniform(0.02, 0.12) * size * np.sin(t * rng.uniform(2, 6) + rng.uniform(0, 6))
    if rng.uniform() < 0.5:
        xy = np.stack([t * size, a + (b - a) * t + wiggle], 1)
    else:
        xy = np.stack([a + (b - a) * t + wiggle, t * size], 1)
    return LineString(xy)


def render_suburb(seed: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RGB (3, s, s) uint8, road label (s, s) uint8 0/1, building label (s, s) uint8 0/1)."""
    rng = np.random.default_rng([seed, 1500])
    shape = (size, size)
    field = gaussian_filter(rng.standard_normal(shape), size / 10)
    field /= max(float(field.std()), 1e-6)
    rgb = np.empty((3, *shape), np.float32)
    wood = field > 0.4
    rgb[:] = np.array([110, 125, 80], np.float32)[:, None, None]
    rgb[:, wood] = np.array([55, 80, 50], np.float32)[:, None]
    roads = [_road(rng, size) for _ in range(int(rng.integers(1, 4)))]
    asphalt = [r.buffer(rng.uniform(2.5, 6), cap_style="flat") for r in roads]
    road_area = rasterize([(a, 1) for a in asphalt], out_shape=shape, dtype="uint8").astype(bool)
    road_label = rasterize(
        [(r.buffer(ROAD_LABEL_WIDTH / 2, cap_style="flat"), 1) for r in roads], out_shape=shape, dtype="uint8"
    )
    grey = rng.uniform(95, 125)
    rgb[:, road_area] = grey
    taken = shapely.union_all(asphalt).buffer(3)
    houses, lots = [], []
    for _ in range(size * size // 400):
        x, y = rng.uniform(0, size, 2)
        w, h = rng.uniform(7, 18), rng.uniform(6, 14)
        b = affinity.rotate(box(x - w / 2, y - h / 2, x + w / 2, y + h / 2), rng.uniform(0, 90))
        if b.intersects(taken):
            continue
        taken = taken.union(b.buffer(2))
        if rng.uniform() < 0.2:
            lots.append(b.buffer(2))  # parking lot / driveway: grey, not road
        else:
            houses.append((b, rng.choice([grey, rng.uniform(60, 200)])))
    if lots:
        sel = rasterize([(p, 1) for p in lots], out_shape=shape, dtype="uint8").astype(bool)
        rgb[:, sel] = grey + rng.uniform(-8, 8)
    building = np.zeros(shape, np.uint8)
    for b, tone in houses:
        sel = rasterize([(b, 1)], out_shape=shape, dtype="uint8").astype(bool)
        building[sel] = 1
        rgb[:, sel] = tone * np.array([1.0, 0.97, 0.95], np.float32)[:, None]
        shade = np.roll(sel, (2, 2), (0, 1)) & ~sel & ~road_area
        rgb[:, shade] *= 0.6
    rgb += rng.normal(0, 9, rgb.shape).astype(np.float32)
    rgb = np.clip(rgb, 0, 254)
    if rng.uniform() < 0.4:  # white no-data corner
        yy, xx = np.mgrid[0:size, 0:size]
        corner = xx + yy < size * rng.uniform(0.2, 0.5)
        rgb[:, corner] = 255
        road_label[corner] = 0
        building[corner] = 0
    return rgb.astype(np.uint8), road_label.astype(np.uint8), building


def synth_massachusetts(
    root: str | Path,
    kind: str = "roads",
    *,
    counts: tuple[int, int, int] = (4, 1, 2),
    size: int = 256,
    seed: int = 0,
) -> Path:
    """``root/mass_{kind}/{train,valid,test}/{sat,map}`` with ``counts`` tiles per split; returns the
    dataset folder."""
    root = Path(root)
    claim(root, {"generator": f"massachusetts-{kind}", "counts": list(counts), "size": size, "seed": seed})
    base = root / f"mass_{kind}"
    k = 0
    for split, n in zip(("train", "valid", "test"), counts, strict=True):
        for _ in range(n):
            k += 1
            rgb, roads, buildings = render_suburb(seed * 1000 + k, size)
            label = (roads if kind == "roads" else buildings) * np.uint8(255)
            tid = f"{22678900 + 15 * k}_15"
            prof = {
                "driver": "GTiff",
                "height": size,
                "width": size,
                "dtype": "uint8",
                "crs": "EPSG:26986",
                "transform": from_origin(230000 + k * size, 900000, 1.0, 1.0),
            }
            for sub in ("sat", "map"):
                (base / split / sub).mkdir(parents=True, exist_ok=True)
            with rasterio.open(
                base / split / "sat" / f"{tid}.tiff", "w", count=3, photometric="RGB", **prof
            ) as dst:
                dst.write(rgb)
            with rasterio.open(base / split / "map" / f"{tid}.tif", "w", count=1, **prof) as dst:
                dst.write(label, 1)
    return base
