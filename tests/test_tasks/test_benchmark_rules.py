"""The benchmarks' evaluation rules as ``worldclass evaluate`` runs them: ISPRS eroded vs full reference,
relaxed counts stitched from blocks, COCO AP/AR equal to pycocotools' COCOeval on the same masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.features import rasterize
from rasterio.windows import Window
from scipy.ndimage import binary_dilation
from scipy.ndimage import label as connected
from shapely.geometry import box
from torch import nn

from worldclass.data.isprs import ISPRS_CLASSES, ISPRS_TABLE, erode_boundaries
from worldclass.data.massachusetts import binary_lut
from worldclass.data.scenes import Scene
from worldclass.mapping.predictor import Predictor
from worldclass.metrics.relaxed import RelaxedCounter
from worldclass.tasks.segmentation.benchmark import CocoScorer
from worldclass.tasks.segmentation.evaluate import evaluate_scenes


class OneHot(nn.Module):
    """Input band = class index -> near one-hot probabilities (an oracle with chosen mistakes)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.register_buffer("k", torch.arange(k, dtype=torch.float32).view(1, k, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -20 * (x[:, :1] - self.k) ** 2


class Sigmoid(nn.Module):
    """Input band / 255 = probability of class 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x[:, :1].clamp(1e-4, 1 - 1e-4)
        return torch.cat([torch.zeros_like(p), torch.log(p / (1 - p))], 1)


def _predictor(net: nn.Module, classes: list[str], scale: float) -> Predictor:
    return Predictor(net, ["b"], classes, scale, np.zeros(1, np.float32), np.ones(1, np.float32), "uint8")


def _tif(path: Path, data: np.ndarray) -> Path:
    data = data if data.ndim == 3 else data[None]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[1],
        width=data.shape[2],
        count=data.shape[0],
        dtype="uint8",
    ) as dst:
        dst.write(data)
    return path


def test_isprs_rule_ignores_errors_on_the_eroded_band_only(tmp_path: Path) -> None:
    truth = np.zeros((90, 100), np.uint8)
    truth[:, 60:] = 2
    truth[20:50, 10:45] = 1  # a building
    truth[70:80, 20:30] = 4  # a car
    pred = truth.copy()
    pred[binary_dilation(truth == 1, iterations=2) & (truth != 1)] = 1  # building outline 2 px too wide
    labels = _tif(tmp_path / "lab.tif", ISPRS_TABLE.encode(truth))
    scene = Scene(_tif(tmp_path / "img.tif", pred), labels=labels, group="t", label_colours=ISPRS_TABLE)
    predictor = _predictor(OneHot(6), list(ISPRS_CLASSES), 1.0)
    rule = {"rule": "isprs", "radius": 3, "mean_excludes": ["clutter"]}
    r = evaluate_scenes(predictor, [scene], tile=64, overlap=0, rule=rule)
    b = r["benchmark"]
    assert b["eroded"]["mean_f1"] == pytest.approx(1.0) and b["eroded"]["oa"] == pytest.approx(1.0)
    assert b["full"]["f1"]["building"] < 0.95 and b["full"]["oa"] < 1.0
    assert b["eroded_reference"] == ["computed, radius 3 px"]
    assert b["eroded"]["mean_over"] == ["impervious surfaces", "building", "low vegetation", "car"]
    assert b["headline"]["mean_f1_eroded"] == pytest.approx(1.0)
    # the archive's own eroded file is used when present (here: eroded with radius 1 -> errors count)
    thin = _tif(tmp_path / "thin.tif", ISPRS_TABLE.encode(erode_boundaries(truth, 1)))
    scene2 = Scene(scene.image, labels=labels, group="t", label_colours=ISPRS_TABLE, eroded_labels=thin)
    b2 = evaluate_scenes(predictor, [scene2], tile=64, overlap=0, rule=rule)["benchmark"]
    assert b2["eroded_reference"] == ["archive *_noBoundary files"] and b2["eroded"]["f1"]["building"] < 1.0


def test_relaxed_rule_stitches_blocks_into_the_whole_tile_counts(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ref = np.zeros((100, 120), np.uint8)
    ref[40:47, :] = 255
    ref[:, 70:77] = 255
    prob = rng.uniform(0, 1, ref.shape) ** 4  # mostly low, a tail of confident false positives
    road = np.roll(ref > 0, 2, 0)
    prob[road] = rng.uniform(0.2, 1, int(road.sum()))
    img = np.rint(prob * 255).astype(np.uint8)
    scene = Scene(
        _tif(tmp_path / "i.tif", img), labels=_tif(tmp_path / "m.tif", ref), group="x", label_lut=binary_lut()
    )
    predictor = _predictor(Sigmoid(), ["background", "road"], 1 / 255)
    b = evaluate_scenes(
        predictor, [scene], tile=64, overlap=0, rule={"rule": "relaxed", "radius": 3, "centerline": True}
    )["benchmark"]
    direct = RelaxedCounter(3)
    p = predictor(img[None])[0, 1]
    direct.update(p, ref > 0)
    assert b["precision"] == direct.result()["precision"] and b["recall"] == direct.result()["recall"]
    assert b["breakeven"] == direct.result()["breakeven"] and 0 < b["breakeven"]["threshold"] < 1
    assert 0 < b["centerline"]["completeness"] <= 1 and b["centerline"]["ref"] > 150


def test_coco_rule_equals_pycocotools_cocoeval(tmp_path: Path) -> None:
    from pycocotools import mask as mask_utils

    from helpers import pycocotools_stats

    rng = np.random.default_rng(3)
    scorer, images, gts, dts, ann = CocoScorer(), [], [], [], 0
    for i in range(8):
        h, w = 150, 160
        polys = []
        for _ in range(int(rng.integers(0, 5))):
            side = int(
                rng.choice(
                    [rng.integers(5, 12), rng.integers(33, 50), rng.integers(97, 110)], p=[0.5, 0.35, 0.15]
                )
            )
            x, y = rng.integers(0, w - side), rng.integers(0, h - side)
            p = box(x, y, x + side, y + rng.integers(max(side - 3, 5), side + 1))  # small, medium and large
            if not any(p.buffer(2).intersects(q) for q in polys):
                polys.append(p)
        prob = np.zeros((h, w), np.float32)
        for p in polys:
            if rng.uniform() < 0.8:  # found, shifted by 0-2 px, with a confidence
                m = rasterize([(p, 1)], out_shape=(h, w), dtype="uint8").astype(bool)
                prob[np.roll(m, int(rng.integers(0, 3)), 1)] = rng.uniform(0.55, 1)
        for _ in range(int(rng.integers(0, 3))):  # false positives
            x, y = rng.integers(0, w - 4), rng.integers(0, h - 4)
            if not prob[y : y + 4, x : x + 4].any():
                prob[y : y + 4, x : x + 4] = rng.uniform(0.5, 1)
        scene = Scene(Path(f"{i}.jpg"), shapes=tuple((p, 1) for p in polys), _shape=(h, w))
        scorer.start(scene, (0, h), w)
        ref = rasterize(scene.shapes or [(box(0, 0, 0, 0), 0)], out_shape=(h, w), dtype="uint8")
        scorer.write(Window(0, 0, w, h), np.stack([1 - prob, prob]), np.ones((h, w), bool), ref)
        scorer.finish()
        images.append({"id": i + 1, "width": w, "height": h, "file_name": f"{i}.jpg"})
        for p in polys:
            ann += 1
            m = np.asfortranarray(rasterize([(p, 1)], out_shape=(h, w), dtype="uint8"))
            rle = mask_utils.encode(m)
            rle["counts"] = rle["counts"].decode()
            gts.append(
                {
                    "id": ann,
                    "image_id": i + 1,
                    "category_id": 100,
                    "segmentation": rle,
                    "area": float(m.sum()),
                    "bbox": list(p.bounds),
                    "iscrowd": 0,
                }
            )
        ids, n = connected(prob >= 0.5)
        for k in range(1, n + 1):
            m = np.asfortranarray((ids == k).astype(np.uint8))
            rle = mask_utils.encode(m)
            rle["counts"] = rle["counts"].decode()
            dts.append(
                {
                    "image_id": i + 1,
                    "category_id": 100,
                    "segmentation": rle,
                    "score": float(prob[ids == k].mean()),
                }
            )
    stats = pycocotools_stats(tmp_path, images, gts, dts)
    ours = scorer.result()
    assert ours["ground_truth"] == len(gts) and ours["detections"] == len(dts) and ours["images"] == 8
    assert ours["ap"] == pytest.approx(stats[0], abs=1e-12)
    assert ours["ap50"] == pytest.approx(stats[1], abs=1e-12)
    assert ours["ap75"] == pytest.approx(stats[2], abs=1e-12)
    assert ours["ar"] == pytest.approx(stats[8], abs=1e-12)
    for k, (ap_i, ar_i) in {"small": (3, 9), "medium": (4, 10), "large": (5, 11)}.items():
        want_ap, want_ar = (float("nan") if v == -1 else v for v in (stats[ap_i], stats[ar_i]))
        np.testing.assert_allclose([ours[f"ap_{k}"], ours[f"ar_{k}"]], [want_ap, want_ar], atol=1e-12)
    assert 0.1 < ours["ap"] < 0.95  # a non-trivial case
    assert all(np.isfinite(ours[f"ap_{k}"]) for k in ("small", "medium", "large"))  # every range populated
