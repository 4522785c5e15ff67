"""Tiny CrowdAI Mapping Challenge archive: 300 x 300 JPEG tiles and COCO annotations as distributed
(category id 100, closed rings, a stale ``bbox`` on some annotations, buildings cut by the tile edge
with coordinates just outside it, ``annotation-small.json`` beside ``annotation.json``, and every fourth
val tile a copy of a train tile under another id: the archive's train/val leakage).

Roofs take colours of the same range as the ground, so colour alone does not find the buildings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from PIL import Image
from rasterio.features import rasterize

from worldclass.data.crowdai import CROWDAI_CATEGORY
from worldclass.data.synth.footprints import FOOTPRINT_KINDS, footprint
from worldclass.data.synth.guard import claim

TILE = 300


def crowdai_tile(seed: int) -> tuple[np.ndarray, list[shapely.Polygon]]:
    """(RGB (300, 300, 3) uint8, building polygons in pixel coordinates, some crossing the edge)."""
    rng = np.random.default_rng([seed, 300])
    polys: list[shapely.Polygon] = []
    for _ in range(int(rng.integers(4, 20))):
        cx, cy = rng.uniform(-10, TILE + 10, 2)
        p = footprint(str(rng.choice(FOOTPRINT_KINDS)), rng, cx, cy, rng.uniform(25, 80))
        if any(p.intersects(q.buffer(4)) for q in polys):
            continue
        polys.append(p)
    ground = rng.uniform(70, 180, 3)
    _yy, xx = np.mgrid[0:TILE, 0:TILE]
    rgb = np.empty((TILE, TILE, 3), np.float32)
    rgb[:] = ground
    rgb += 15 * np.sin(xx * 0.05 + rng.uniform(0, 6))[..., None] * rng.uniform(0.5, 1.5, 3)
    for p in polys:
        sel = rasterize([(p, 1)], out_shape=(TILE, TILE), dtype="uint8").astype(bool)
        shade = np.roll(sel, (3, 3), (0, 1)) & ~sel
        rgb[shade] *= 0.6
        rgb[sel] = rng.uniform(60, 200, 3)
        rgb[sel & ~np.roll(sel, 2, 0)] += 25
    rgb += rng.normal(0, 8, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), polys


def _ring(poly: shapely.Polygon, rng: np.random.Generator) -> list[float]:
    xy = np.asarray(poly.exterior.coords)  # closed: first vertex repeated, as CrowdAI stores it
    return [round(float(v), 2) for v in (xy + rng.normal(0, 0.05, xy.shape)).ravel()]


def synth_crowdai(root: str | Path, *, counts: tuple[int, int] = (24, 8), seed: int = 0) -> Path:
    """``root/{train,val}/images/*.jpg`` + ``annotation.json`` / ``annotation-small.json``."""
    root = Path(root)
    claim(root, {"generator": "crowdai", "counts": list(counts), "seed": seed})
    ann_id = 0
    for split, n in zip(("train", "val"), counts, strict=True):
        rng = np.random.default_rng([seed, len(split)])
        images_dir = root / split / "images"
        images_dir.mkdir(parents=True, exist_ok=True)
        images, anns = [], []
        for i in range(n):
            iid = 1000 * (1 + (split == "val")) + 7 * i  # ids are unique within a split only
            source = iid
            if split == "val" and i % 4 == 1:  # a train tile again under a val id, as in the real archive
                source = 1000 + 7 * min(i, counts[0] - 1)
            rgb, polys = crowdai_tile(seed * 10000 + source)
            name = f"{iid:012d}.jpg"
            Image.fromarray(rgb).save(images_dir / name, quality=92)
            images.append({"id": iid, "file_name": name, "width": TILE, "height": TILE})
            for p in polys:
                ann_id += 1
                x0, y0, x1, y1 = p.bounds
                bbox = [x0, y0, x1 - x0, y1 - y0] if rng.uniform() < 0.8 else [32.0, 32.0, 62.0, 62.0]
                anns.append(
                    {
                        "id": ann_id,
                        "image_id": iid,
                        "segmentation": [_ring(p, rng)],
                        "area": float(p.intersection(shapely.box(0, 0, TILE, TILE)).area),
                        "bbox": [round(v, 2) for v in bbox],
                        "category_id": CROWDAI_CATEGORY,
                        "iscrowd": 0,
                    }
                )
        cats = [{"id": CROWDAI_CATEGORY, "name": "building", "supercategory": "building"}]
        doc = {
            "info": {"description": "synthetic CrowdAI-layout archive"},
            "images": images,
            "annotations": anns,
            "categories": cats,
        }
        (root / split / "annotation.json").write_text(json.dumps(doc))
        small_ids = {im["id"] for im in images[: max(1, n // 4)]}
        small = {
            **doc,
            "images": [im for im in images if im["id"] in small_ids],
            "annotations": [a for a in anns if a["image_id"] in small_ids],
        }
        (root / split / "annotation-small.json").write_text(json.dumps(small))
    return root
