"""CrowdAI Mapping Challenge (2018): 300 x 300 px RGB JPEG tiles with COCO building polygons.

Layout: ``<root>/{train,val}/images/<12-digit id>.jpg`` + ``<root>/{train,val}/annotation.json`` (or
``annotation-small.json``). One category, id **100** ("building"). Rings are flat ``[x1, y1, x2, y2,
...]`` lists, closed (first vertex repeated), in pixel units (pixel (r, c) covers [c, c+1) x [r, r+1));
coordinates outside the tile are clipped; the ``bbox`` field is not trusted (recomputed from the
polygons). The rings of one annotation are united, as pycocotools does when it rasterises the ground
truth the official evaluator scores against, so the training masks equal the scored masks.
Image and annotation ids are unique within a split only: never merge splits by id.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from worldclass.data.scenes import Scene
from worldclass.errors import ConfigError, CorruptFileError, DataError, LabelError, MissingFileError

CROWDAI_CATEGORY = 100
CROWDAI_CLASSES = ["background", "building"]
SPLITS = ("train", "val")


@dataclass(frozen=True)
class CocoImage:
    """One image record: ``id``, ``path``, ``height``/``width`` (px), its annotations' geometries (pixel
    coordinates, rings united, clipped to the image) and ids."""

    id: int
    path: Path
    height: int
    width: int
    geometries: tuple[shapely.Geometry, ...]
    annotation_ids: tuple[int, ...]


def annotation_geometry(segmentation: object, width: int, height: int, where: str) -> shapely.Geometry:
    """Union of the closed flat rings of one COCO polygon annotation, clipped to the image."""
    if not isinstance(segmentation, list) or not all(isinstance(r, list) for r in segmentation):
        raise CorruptFileError(
            f"{where}: segmentation is not a list of polygon rings (RLE is not expected here)"
        )
    parts = []
    for ring in segmentation:
        xy = np.asarray(ring, np.float64).reshape(-1, 2) if len(ring) % 2 == 0 else None
        if xy is None:
            raise CorruptFileError(f"{where}: a ring has an odd number of coordinates")
        if len(xy) > 1 and np.array_equal(xy[0], xy[-1]):
            xy = xy[:-1]
        if len(xy) < 3:
            continue
        xy[:, 0] = np.clip(xy[:, 0], 0, width)
        xy[:, 1] = np.clip(xy[:, 1], 0, height)
        parts.append(shapely.make_valid(shapely.Polygon(xy)))
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise MissingFileError(f"{path}: annotation file not found") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path}: not valid JSON ({exc}); re-download or re-extract it") from None
    if not isinstance(doc, dict) or not all(k in doc for k in ("images", "annotations", "categories")):
        raise CorruptFileError(f"{path}: not a COCO file (needs images, annotations and categories)")
    return doc


@lru_cache(maxsize=4)
def _read_coco(path: Path, mtime: float, images_dir: Path) -> tuple[CocoImage, ...]:
    doc = _read_json(path)
    cats = {int(c["id"]) for c in doc["categories"]}
    if CROWDAI_CATEGORY not in cats:
        raise LabelError(
            f"{path}: no category id {CROWDAI_CATEGORY} (building); is this a CrowdAI annotation file?"
        )
    present = set(os.listdir(images_dir)) if images_dir.is_dir() else set()
    if not present:
        raise MissingFileError(f"{images_dir}: no images (expected <split>/images/<12-digit id>.jpg)")
    records = {}
    for im in doc["images"]:
        records[int(im["id"])] = im
    missing = [im["file_name"] for im in records.values() if im["file_name"] not in present]
    if missing:
        raise DataError(
            f"{path}: {len(missing)} of its {len(records)} images are not in {images_dir} (first: {missing[0]}); "
            "the annotation file and the image folder do not match (train vs val?)"
        )
    per_image: dict[int, list[tuple[int, shapely.Geometry]]] = {i: [] for i in records}
    for ann in doc["annotations"]:
        iid = int(ann["image_id"])
        if iid not in records:
            raise DataError(
                f"{path}: annotation {ann.get('id')} refers to image_id {iid}, which is not among its images; "
                "the file is truncated or mixes splits"
            )
        if int(ann["category_id"]) not in cats:
            raise LabelError(f"{path}: annotation {ann.get('id')} has unknown category {ann['category_id']}")
        im = records[iid]
        g = annotation_geometry(
            ann["segmentation"], int(im["width"]), int(im["height"]), f"{path}: annotation {ann.get('id')}"
        )
        per_image[iid].append((int(ann["id"]), g))
    out = []
    for iid in sorted(records):
        im = records[iid]
        anns = per_image[iid]
        out.append(
            CocoImage(
                iid,
                images_dir / im["file_name"],
                int(im["height"]),
                int(im["width"]),
                tuple(g for _, g in anns),
                tuple(a for a, _ in anns),
            )
        )
    return tuple(out)


def annotation_path(root: str | Path, split: str, name: str | None = None) -> Path:
    if split not in SPLITS:
        raise ConfigError(f"split {split!r}: CrowdAI has {list(SPLITS)} (its test labels are not public)")
    base = Path(root) / split
    if not base.is_dir():
        raise MissingFileError(f"{base}: folder missing (expected <root>/{split}/images and annotation.json)")
    return base / (name or "annotation.json")


def read_coco(root: str | Path, split: str, annotation: str | None = None) -> tuple[CocoImage, ...]:
    """Every image record of ``split`` (checked against the image folder), in image-id order."""
    path = annotation_path(root, split, annotation)
    if not path.is_file():
        raise MissingFileError(f"{path}: annotation file not found (annotation.json or set data.annotation)")
    return _read_coco(path, path.stat().st_mtime, path.parent / "images")


def crowdai_scenes(root: str | Path, split: str, annotation: str | None = None) -> list[Scene]:
    """One scene per image, labels burnt from its polygons (class 1 building); ``group`` = split."""
    return [
        Scene(
            im.path,
            shapes=tuple((g, 1) for g in im.geometries if not g.is_empty),
            group=split,
            _shape=(im.height, im.width),
        )
        for im in read_coco(root, split, annotation)
    ]


def crowdai_leakage(root: str | Path, *, max_distance: int = 0, progress: Any = None) -> dict[str, Any]:
    """Val tiles that are also train tiles (pHash within ``max_distance`` bits; 0 = identical images)."""
    from worldclass.data.duplicates import cross_split_duplicates

    groups = {}
    for split in SPLITS:
        folder = Path(root) / split / "images"
        if not folder.is_dir():
            raise MissingFileError(f"{folder}: folder missing (expected <root>/{split}/images)")
        groups[split] = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    report = cross_split_duplicates(groups, max_distance=max_distance, progress=progress)
    report["images"] = {k: len(v) for k, v in groups.items()}
    return report
