"""COCO AP/AR against pycocotools on the same rasterised polygons."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from rasterio.features import rasterize

from worldclass.metrics.coco import coco_metrics

mask_utils = pytest.importorskip("pycocotools.mask")
coco_mod = pytest.importorskip("pycocotools.coco")
cocoeval = pytest.importorskip("pycocotools.cocoeval")

SIZE = 96


def _fixture() -> tuple[list[shapely.Polygon], list[shapely.Polygon], np.ndarray]:
    """References, predictions (good, shifted, duplicate, false positives, misses) and scores."""
    rng = np.random.default_rng(3)
    refs = [shapely.box(x, y, x + 12, y + 9) for x in (4, 30, 56, 78) for y in (5, 40, 70)]
    preds, scores = [], []
    for k, r in enumerate(refs):
        if k % 5 == 4:
            continue  # a miss
        dx, dy = rng.uniform(-1.5, 1.5, 2)
        preds.append(shapely.affinity.translate(r, dx, dy))
        scores.append(rng.uniform(0.3, 1.0))
        if k % 4 == 1:  # a duplicate of lower score competing for the same reference
            preds.append(shapely.affinity.scale(r, 1.2, 1.2))
            scores.append(rng.uniform(0.0, 1.0))
    preds += [shapely.box(40, 20, 50, 30), shapely.box(70, 55, 76, 62)]  # false positives
    scores += [0.95, 0.5]
    scores[3] = scores[5]  # a tie: input order decides, in both implementations
    return refs, preds, np.asarray(scores)


def _masks(polys: list[shapely.Polygon]) -> list[np.ndarray]:
    return [rasterize([p], out_shape=(SIZE, SIZE), dtype=np.uint8) for p in polys]


def test_equals_pycocotools_on_rasterised_polygons() -> None:
    refs, preds, scores = _fixture()
    gm, dm = _masks(refs), _masks(preds)
    g_rle = [mask_utils.encode(np.asfortranarray(m)) for m in gm]
    d_rle = [mask_utils.encode(np.asfortranarray(m)) for m in dm]
    ious = mask_utils.iou(d_rle, g_rle, [0] * len(g_rle))
    ours = coco_metrics(ious, scores)

    gt = coco_mod.COCO()
    gt.dataset = {
        "images": [{"id": 1, "width": SIZE, "height": SIZE}],
        "categories": [{"id": 100, "name": "building"}],
        "annotations": [
            {
                "id": k + 1,
                "image_id": 1,
                "category_id": 100,
                "segmentation": {"size": r["size"], "counts": r["counts"].decode()},
                "area": float(m.sum()),
                "bbox": list(mask_utils.toBbox(r)),
                "iscrowd": 0,
            }
            for k, (r, m) in enumerate(zip(g_rle, gm, strict=True))
        ],
    }
    gt.createIndex()
    dets = [
        {
            "image_id": 1,
            "category_id": 100,
            "segmentation": {"size": r["size"], "counts": r["counts"].decode()},
            "score": float(s),
        }
        for r, s in zip(d_rle, scores, strict=True)
    ]
    dt = gt.loadRes(dets)
    ev = cocoeval.COCOeval(gt, dt, "segm")
    ev.params.maxDets = [1, 10, 100]
    ev.evaluate()
    ev.accumulate()
    prec = ev.eval["precision"][:, :, 0, 0, 2]  # [T, R, K, A, M]: area all, 100 dets
    rec = ev.eval["recall"][:, 0, 0, 2]
    assert ours["ap"] == pytest.approx(prec.mean(), abs=1e-6)
    assert ours["ap50"] == pytest.approx(prec[0].mean(), abs=1e-6)
    assert ours["ap75"] == pytest.approx(prec[5].mean(), abs=1e-6)
    assert ours["ar"] == pytest.approx(rec.mean(), abs=1e-6)
    # the fixture is not trivial: misses, false positives and duplicates all cost something
    assert 0.2 < ours["ap"] < ours["ap50"] < 1 and ours["ar50"] < 1
    # a ranking that puts the false positives last scores higher: the order matters
    better = scores.copy()
    better[-2:] = -1
    assert coco_metrics(ious, better)["ap50"] > ours["ap50"]


def test_no_ground_truth_is_nan_and_max_detections_cut() -> None:
    assert np.isnan(coco_metrics(np.zeros((2, 0)), np.ones(2))["ap"])
    ious = np.eye(3)
    assert coco_metrics(ious, np.array([3.0, 2.0, 1.0]))["ar"] == 1
    assert coco_metrics(ious, np.array([3.0, 2.0, 1.0]), max_detections=1)["ar"] == pytest.approx(1 / 3)
