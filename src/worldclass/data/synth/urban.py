"""Synthetic urban scenes with the six ISPRS classes, and tiny Vaihingen / Potsdam archives in the
official layouts (names, folders, colour-coded labels, DSM, the archives' known quirks).

A scene is drawn in pixel units at ``px_per_m`` pixels per metre: streets and yards (impervious),
grass (low vegetation), tree crowns, buildings (grey roofs as bright as the street; red, dark and light
roofs; a gable shade), cars parked on the streets in any colour, clutter blobs. Colours overlap across
classes on purpose: a per-pixel colour rule confuses roofs with streets, grass with trees and cars with
clutter; heights (DSM) and shapes separate them. Bands: red, green, blue, nir (uint8); DSM float32 m.
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
from shapely.geometry import Polygon, box

from worldclass.data.isprs import ISPRS_TABLE, erode_boundaries
from worldclass.data.synth.guard import claim
from worldclass.io.gdal import quiet_libtiff

quiet_libtiff()

IMPERVIOUS, BUILDING, LOW_VEG, TREE, CAR, CLUTTER = range(6)
# (red, green, blue, nir) means per class; roofs drawn from _ROOFS
_GROUND = np.array([140, 138, 132, 120], np.float32)
_GRASS = np.array([95, 125, 70, 190], np.float32)
_TREE = np.array([70, 100, 55, 200], np.float32)
_ROOFS = np.array(
    [[145, 142, 136, 118], [170, 80, 60, 150], [80, 78, 80, 70], [200, 196, 188, 170], [125, 110, 95, 120]],
    np.float32,
)


def _noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    n = gaussian_filter(rng.standard_normal(shape).astype(np.float32), min(sigma, max(shape) / 3))
    n -= n.mean()
    return np.asarray(n / max(float(n.std()), 1e-6), np.float32)


def _rect(cx: float, cy: float, w: float, h: float, angle: float) -> Polygon:
    return affinity.rotate(box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), angle, origin=(cx, cy))


def render_urban(
    seed: int, height: int, width: int, px_per_m: float = 3.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bands (4, h, w) uint8 red/green/blue/nir, DSM (h, w) float32 metres, labels (h, w) uint8 0..5)."""
    rng = np.random.default_rng([seed, 4242])
    m = px_per_m
    shape = (height, width)
    grass = _noise(rng, shape, 12 * m) > 0.2
    labels = np.where(grass, LOW_VEG, IMPERVIOUS).astype(np.uint8)
    # streets: a few straight strips of impervious surface across the tile
    streets = []
    for _ in range(int(rng.integers(1, 3))):
        if rng.uniform() < 0.5:
            y = rng.uniform(0.2, 0.8) * height
            streets.append(box(-10, y - 4 * m, width + 10, y + 4 * m))
        else:
            x = rng.uniform(0.2, 0.8) * width
            streets.append(box(x - 4 * m, -10, x + 4 * m, height + 10))
    street = rasterize([(s, 1) for s in streets], out_shape=shape, dtype="uint8").astype(bool)
    labels[street] = IMPERVIOUS
    occupied = shapely.union_all(streets).buffer(2 * m)
    heights = np.zeros(shape, np.float32)
    feats: list[tuple[Polygon, int, np.ndarray, float]] = []  # (shape, class, colour, height m)
    for _ in range(int(width * height / (150 * m * m))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        w, h = rng.uniform(8, 20) * m, rng.uniform(7, 14) * m
        b = _rect(cx, cy, w, h, rng.uniform(0, 180))
        if rng.uniform() < 0.35:  # L shape
            b = b.union(_rect(cx + w / 2, cy + h / 2, w * 0.5, h * 0.9, rng.uniform(0, 5)))
        if b.intersects(occupied):
            continue
        occupied = occupied.union(b.buffer(3 * m))
        feats.append((b, BUILDING, _ROOFS[rng.integers(0, len(_ROOFS))], rng.uniform(6, 15)))
    for _ in range(int(width * height / (250 * m * m))):  # tree crowns
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        crown = shapely.Point(cx, cy).buffer(rng.uniform(2, 5) * m, quad_segs=6)
        if crown.intersects(occupied):
            continue
        feats.append((crown, TREE, _TREE, rng.uniform(5, 12)))
    for s in streets:  # cars along the streets
        c = s.centroid
        along = s.bounds[2] - s.bounds[0] > s.bounds[3] - s.bounds[1]
        for _ in range(int(rng.integers(1, 5))):
            t = rng.uniform(0.05, 0.95) * (width if along else height)
            off = rng.choice([-2.2, 2.2]) * m
            x, y = (t, c.y + off) if along else (c.x + off, t)
            colour = np.append(rng.uniform(30, 230, 3), rng.uniform(60, 160)).astype(np.float32)
            feats.append((_rect(x, y, 4.5 * m, 1.9 * m, 0 if along else 90), CAR, colour, 1.5))
    for _ in range(int(rng.integers(1, 4))):  # clutter: heaps, containers, water in any colour
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        blob = shapely.Point(cx, cy).buffer(rng.uniform(1.5, 4) * m, quad_segs=3)
        colour = np.append(rng.uniform(40, 230, 3), rng.uniform(40, 200)).astype(np.float32)
        feats.append((blob, CLUTTER, colour, rng.uniform(0, 1.2)))
    bands = np.empty((4, *shape), np.float32)
    # dry grass drifts towards the pavement's colour, pavement varies in tone: colour alone is ambiguous
    dry = (
        np.clip(0.5 + 0.5 * _noise(rng, shape, 8 * m), 0, 1)[None]
        * np.array([0.75, 0.75, 0.75, 0.3])[:, None, None]
    )
    grass = _GRASS[:, None, None] * (1 - dry) + _GROUND[:, None, None] * dry
    tone = 1 + 0.18 * _noise(rng, shape, 10 * m)[None]
    bands[:] = np.where(labels == LOW_VEG, grass, _GROUND[:, None, None] * tone)
    for k, (geom, cls, colour, z) in enumerate(feats):
        sel = rasterize([(geom, 1)], out_shape=shape, dtype="uint8").astype(bool)
        labels[sel] = cls
        heights[sel] = z
        bands[:, sel] = colour[:, None]
        if cls == BUILDING:  # gable: one half of the roof in shade
            c = geom.centroid
            half = rasterize([(_rect(c.x, c.y - 200, 400, 400, k * 37.0), 1)], out_shape=shape, dtype="uint8")
            bands[:, sel & half.astype(bool)] *= 0.8
        if cls == TREE:
            heights[sel] += 2 * _noise(rng, shape, m)[sel]
    # cast shadows of tall objects to the north-west side, on the ground only
    tall = (heights > 4).astype(np.float32)
    shadow = (np.roll(tall, (int(2 * m), int(2 * m)), axis=(0, 1)) > 0) & (heights < 2)
    bands[:, shadow] *= 0.6
    texture = _noise(rng, shape, 0.7 * m)
    bands += (np.where(labels == TREE, 22, 7) * texture)[None] + rng.normal(0, 6, bands.shape).astype(
        np.float32
    )
    ground = (
        250 + 0.02 * np.add.outer(np.arange(height), np.arange(width)) / m + 0.5 * _noise(rng, shape, 30 * m)
    )
    dsm = (ground + heights + rng.normal(0, 0.15, shape)).astype(np.float32)
    return np.clip(bands, 0, 255).astype(np.uint8), dsm, labels


def _write(path: Path, data: np.ndarray, **profile: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = data if data.ndim == 3 else data[None]
    prof = {"driver": "GTiff", "height": data.shape[1], "width": data.shape[2], "count": data.shape[0]}
    prof.update(dtype=str(data.dtype), compress="deflate", **profile)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(data)


def _ndsm(dsm: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Heights above the ground (the DSM minus its ground surface, fitted on ground classes), in dm,
    uint8 (capped at 25.5 m), as the distributed nDSMs."""
    ground = np.isin(labels, (IMPERVIOUS, LOW_VEG))
    rows, cols = np.nonzero(ground)
    a = np.stack([np.ones(rows.size), rows, cols], 1)
    coef = np.linalg.lstsq(a, dsm[ground].astype(np.float64), rcond=None)[0]
    yy, xx = np.mgrid[0 : dsm.shape[0], 0 : dsm.shape[1]]
    above = dsm - (coef[0] + coef[1] * yy + coef[2] * xx)
    out: np.ndarray = np.clip(np.rint(above * 10), 0, 255).astype(np.uint8)
    return out


def _jpeg(path: Path, gray: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gray).save(path, quality=90)


def _colours(labels: np.ndarray) -> np.ndarray:
    return ISPRS_TABLE.encode(labels)


VAIHINGEN_FAKE_AREAS = (1, 3, 5, 7, 30, 2, 4)


def synth_vaihingen(
    root: str | Path, *, areas: tuple[int, ...] = VAIHINGEN_FAKE_AREAS, size: int = 256, seed: int = 0
) -> Path:
    """Tiny Vaihingen archive: ``top/`` IRRG tiles (no CRS, as distributed), ``dsm/``, the participants'
    labels (train areas), the COMPLETE full and eroded (radius 3) references, and the eroded archive's
    orphan ``area9`` label; tile sides vary around ``size``."""
    from worldclass.data.isprs import VAIHINGEN_TRAIN

    root = Path(root)
    claim(root, {"generator": "vaihingen", "areas": list(areas), "size": size, "seed": seed})
    complete = root / "ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE"
    eroded = root / "ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE"
    for n in (*areas, 9):
        rng = np.random.default_rng([seed, n])
        h, w = int(size * rng.uniform(0.8, 1.2)), int(size * rng.uniform(0.8, 1.2))
        bands, dsm, labels = render_urban(seed * 100 + n, h, w, px_per_m=5.0)
        name = f"top_mosaic_09cm_area{n}.tif"
        colours = _colours(labels)
        thin = _colours(erode_boundaries(labels, 3))
        _write(eroded / name.replace(".tif", "_noBoundary.tif"), thin, photometric="RGB")
        if n == 9:  # the eroded archive's label without an image
            continue
        _write(root / "top" / name, bands[[3, 0, 1]], photometric="RGB")  # IR, R, G
        _write(root / "dsm" / f"dsm_09cm_matching_area{n}.tif", dsm)
        _jpeg(root / "NDSM" / f"dsm_09cm_matching_area{n}.jpg", _ndsm(dsm, labels))
        _write(complete / name, colours, photometric="RGB")
        if n in VAIHINGEN_TRAIN:
            _write(root / "gts_for_participants" / name, colours, photometric="RGB")
    return root


POTSDAM_FAKE_TILES = ("2_10", "2_11", "3_10", "4_12", "7_10", "2_13", "3_13")


def synth_potsdam(
    root: str | Path, *, tiles: tuple[str, ...] = POTSDAM_FAKE_TILES, size: int = 256, seed: int = 0
) -> Path:
    """Tiny Potsdam archive: ``2_Ortho_RGB``, ``3_Ortho_IRRG``, ``4_Ortho_RGBIR`` (EPSG:32633, 5 cm,
    with world files), ``1_DSM`` (zero-padded ids), labels without CRS in ``5_Labels_all/5_Labels_all``
    (doubled folder; its 4_12 blended with the photo, as in the real archive), the clean
    ``5_Labels_for_participants`` (training tiles) and ``5_Labels_all_noBoundary``."""
    from worldclass.data.isprs import POTSDAM_TRAIN

    root = Path(root)
    claim(root, {"generator": "potsdam", "tiles": list(tiles), "size": size, "seed": seed})
    for k, tile in enumerate(tiles):
        r, c = (int(v) for v in tile.split("_"))
        bands, dsm, labels = render_urban(seed * 100 + 50 + k, size, size, px_per_m=4.0)
        geo = {
            "crs": "EPSG:32633",
            "transform": from_origin(368000 + c * 300.0, 5812000 - r * 300.0, 0.05, 0.05),
        }
        stem = f"top_potsdam_{tile}"
        _write(root / "2_Ortho_RGB" / f"{stem}_RGB.tif", bands[:3], photometric="RGB", TFW="YES", **geo)
        _write(
            root / "3_Ortho_IRRG" / f"{stem}_IRRG.tif", bands[[3, 0, 1]], photometric="RGB", TFW="YES", **geo
        )
        _write(root / "4_Ortho_RGBIR" / f"{stem}_RGBIR.tif", bands, TFW="YES", **geo)
        _write(root / "1_DSM" / f"dsm_potsdam_{r:02d}_{c:02d}.tif", dsm, TFW="YES", **geo)
        ndsm_name = f"dsm_potsdam_{r:02d}_{c:02d}_normalized_lastools.jpg"
        _jpeg(root / "1_DSM_normalisation" / ndsm_name, _ndsm(dsm, labels))
        colours = _colours(labels)
        full = colours
        if tile == "4_12":  # the defective copy in 5_Labels_all
            full = ((colours.astype(np.uint16) + bands[:3]) // 2).astype(np.uint8)
        _write(root / "5_Labels_all" / "5_Labels_all" / f"{stem}_label.tif", full, photometric="RGB")
        thin = _colours(erode_boundaries(labels, 3))
        _write(root / "5_Labels_all_noBoundary" / f"{stem}_label_noBoundary.tif", thin, photometric="RGB")
        if tile in POTSDAM_TRAIN:
            _write(root / "5_Labels_for_participants" / f"{stem}_label.tif", colours, photometric="RGB")
    return root
