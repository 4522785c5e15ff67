"""Benchmarks' own evaluation rules, scored by ``worldclass evaluate`` beside the confusion-matrix metrics.

A dataset declares its rule (:meth:`SceneCollection.evaluation_rule`); :func:`make_scorer` builds the
scorer. Scorers see every final block of a scene as the engine writes it (``write``), then the end of
the scene (``finish``); ``result`` gives the JSON section and ``headline(result)`` its key figures
(read from that section, not computed again).

- ``isprs``: F1 per class, mean F1 / mIoU without clutter and OA on the eroded reference and the full one.
- ``relaxed``: relaxed precision/recall breakeven (ρ px, square window, counts pooled over tiles) and, for
  roads, centre-line completeness / correctness / quality at 0.5. Holds one scene's probabilities.
- ``coco``: instances = 4-connected regions of the predicted positive class (score = their mean
  probability), COCO AP/AR (also per area range S/M/L) against the scene's polygons on every tile.
  Holds one scene's probabilities.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from rasterio.features import rasterize
from rasterio.windows import Window
from scipy import sparse
from scipy.ndimage import label as connected

from worldclass.data.isprs import eroded_window
from worldclass.data.nomenclature import IGNORE_INDEX
from worldclass.data.scenes import Scene
from worldclass.errors import ConfigError
from worldclass.metrics.coco import coco_metrics
from worldclass.metrics.isprs import f1_scores
from worldclass.metrics.relaxed import RelaxedCounter, centerline_counts, centerline_scores
from worldclass.metrics.segmentation import ConfusionAccumulator


class Scorer(Protocol):
    def start(self, scene: Scene, rows: tuple[int, int], width: int) -> None: ...

    def write(self, window: Window, probs: np.ndarray, valid: np.ndarray, reference: np.ndarray) -> None: ...

    def finish(self) -> None: ...

    def result(self) -> dict[str, Any]: ...

    def headline(self, result: dict[str, Any]) -> dict[str, float]: ...


class IsprsScorer:
    """Confusion matrices on the eroded reference (its own) and the full reference (``full``: the
    evaluation's accumulator, filled by the caller), per tile and overall."""

    def __init__(
        self, classes: list[str], radius: int, mean_excludes: list[str], full: ConfusionAccumulator
    ) -> None:
        self.classes, self.radius, self.excludes = classes, radius, mean_excludes
        self.full = full
        self.eroded = ConfusionAccumulator(len(classes))
        self.sources: set[str] = set()

    def start(self, scene: Scene, rows: tuple[int, int], width: int) -> None:
        self.scene = scene
        self.sources.add(
            "archive *_noBoundary files" if scene.eroded_labels else f"computed, radius {self.radius} px"
        )

    def write(self, window: Window, probs: np.ndarray, valid: np.ndarray, reference: np.ndarray) -> None:
        pred = probs.argmax(0)
        ref = eroded_window(self.scene, window, self.classes, self.radius)
        assert ref is not None
        self.eroded.update(ref[valid], pred[valid], self.scene.group)

    def finish(self) -> None:
        pass

    def result(self) -> dict[str, Any]:
        return {
            "rule": "isprs",
            "eroded": f1_scores(self.eroded.overall(), self.classes, self.excludes),
            "full": f1_scores(self.full.overall(), self.classes, self.excludes),
            "eroded_reference": sorted(self.sources),
            "mean_excludes": self.excludes,
            "oa_over": "all classes, boundary pixels excluded",
            "tiles": {
                g: {"eroded": t["mean_f1"], "oa_eroded": t["oa"]}
                for g, m in sorted(self.eroded.groups.items())
                for t in [f1_scores(m, self.classes, self.excludes)]
            },
        }

    def headline(self, result: dict[str, Any]) -> dict[str, float]:
        e, f = result["eroded"], result["full"]
        return {
            "mean_f1_eroded": e["mean_f1"],
            "oa_eroded": e["oa"],
            "mean_f1_full": f["mean_f1"],
            "oa_full": f["oa"],
        }


class _SceneBuffer:
    """Positive-class probability, reference and valid mask of one scene's row range."""

    def start(self, scene: Scene, rows: tuple[int, int], width: int) -> None:
        self.scene, self.r0 = scene, rows[0]
        h = rows[1] - rows[0]
        self.prob = np.zeros((h, width), np.float32)
        self.ref = np.full((h, width), IGNORE_INDEX, np.uint8)
        self.valid = np.zeros((h, width), bool)

    def write(self, window: Window, probs: np.ndarray, valid: np.ndarray, reference: np.ndarray) -> None:
        y, x = int(window.row_off) - self.r0, int(window.col_off)
        h, w = valid.shape
        self.prob[y : y + h, x : x + w] = probs[1]
        self.ref[y : y + h, x : x + w] = reference
        self.valid[y : y + h, x : x + w] = valid & (reference != IGNORE_INDEX)


class RelaxedScorer(_SceneBuffer):
    def __init__(self, radius: int, centerline: bool) -> None:
        self.counter = RelaxedCounter(radius)
        self.centerline = centerline
        self.lines = {"ref": 0, "ref_found": 0, "pred": 0, "pred_correct": 0}

    def finish(self) -> None:
        ref = self.ref == 1
        self.counter.update(self.prob, ref, self.valid)
        if self.centerline:
            c = centerline_counts(self.prob >= 0.5, ref, self.counter.radius, self.valid)
            for k, v in c.items():
                self.lines[k] += v

    def result(self) -> dict[str, Any]:
        out = {"rule": "relaxed", **self.counter.result()}
        if self.centerline:
            out["centerline"] = {**centerline_scores(self.lines), **self.lines, "threshold": 0.5}
        return out

    def headline(self, result: dict[str, Any]) -> dict[str, float]:
        out = {"relaxed_breakeven": result["breakeven"]["recall"]}
        if self.centerline:
            out["centerline_quality"] = result["centerline"]["quality"]
        return out


MAX_DETECTIONS = 100  # per image, as COCOeval's maxDets
AREA_RANGES = {"small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}  # px²


class CocoScorer(_SceneBuffer):
    """Instances per scene, matched to the scene's polygons by mask IoU; one block-diagonal IoU matrix."""

    def __init__(self) -> None:
        self.blocks: list[sparse.csr_array] = []
        self.scores: list[np.ndarray] = []
        self.det_areas: list[np.ndarray] = []
        self.gt_areas: list[float] = []
        self.images = 0

    def finish(self) -> None:
        self.images += 1
        h, w = self.prob.shape
        ids, n = connected((self.prob >= 0.5) & self.valid)
        scores = np.zeros(n)
        if n:
            sums = np.bincount(ids.ravel(), weights=self.prob.ravel(), minlength=n + 1)
            counts = np.bincount(ids.ravel(), minlength=n + 1)
            scores = sums[1:] / counts[1:]
        keep = np.argsort(-scores, kind="mergesort")[:MAX_DETECTIONS]
        gts = [g for g, _ in (self.scene.shapes or ()) if not g.is_empty]
        if self.r0:
            raise ConfigError("COCO scoring needs whole tiles (no row hold-out)")
        det_masks = (
            np.stack([(ids == k + 1).ravel() for k in keep]) if len(keep) else np.zeros((0, h * w), bool)
        )
        gt_masks = (
            np.stack([rasterize([(g, 1)], out_shape=(h, w), dtype="uint8").ravel().astype(bool) for g in gts])
            if gts
            else np.zeros((0, h * w), bool)
        )
        inter = det_masks.astype(np.float32) @ gt_masks.T.astype(np.float32)
        union = det_masks.sum(1)[:, None] + gt_masks.sum(1)[None, :] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
        self.blocks.append(sparse.csr_array(iou))
        self.scores.append(scores[keep])
        self.det_areas.append(det_masks.sum(1).astype(np.float64))
        self.gt_areas.extend(float(g.area) for g in gts)  # the polygon area, as the annotations' ``area``

    def result(self) -> dict[str, Any]:
        matrix = sparse.block_diag(self.blocks, format="csr") if self.blocks else sparse.csr_array((0, 0))
        scores = np.concatenate(self.scores) if self.scores else np.zeros(0)
        m = coco_metrics(matrix, scores)
        gt_area = np.asarray(self.gt_areas)
        det_area = np.concatenate(self.det_areas) if self.det_areas else np.zeros(0)
        for size, (lo, hi) in AREA_RANGES.items():
            r = coco_metrics(
                matrix,
                scores,
                gt_ignore=(gt_area < lo) | (gt_area > hi),
                det_outside=(det_area < lo) | (det_area > hi),
            )
            m[f"ap_{size}"], m[f"ar_{size}"] = r["ap"], r["ar"]
        return {
            "rule": "coco",
            **m,
            "challenge_score": {"ap50": m["ap50"], "ar50": m["ar50"]},
            "images": self.images,
            "ground_truth": int(matrix.shape[1]),
            "detections": int(matrix.shape[0]),
            "scored_images": "every ground-truth image (also those without a detection)",
            "iou": "mask IoU of rasterised polygons, as pycocotools",
        }

    def headline(self, result: dict[str, Any]) -> dict[str, float]:
        return {"ap": result["ap"], "ap50": result["ap50"], "ar50": result["ar50"]}


def make_scorer(rule: dict[str, Any] | None, classes: list[str], full: ConfusionAccumulator) -> Scorer | None:
    """The scorer of a dataset's evaluation rule (None: the dataset has none); ``full``: the evaluation's
    confusion accumulator on the full reference."""
    if rule is None:
        return None
    kind = rule["rule"]
    if kind == "isprs":
        return IsprsScorer(classes, int(rule["radius"]), list(rule["mean_excludes"]), full)
    if kind == "relaxed":
        return RelaxedScorer(int(rule["radius"]), bool(rule["centerline"]))
    if kind == "coco":
        return CocoScorer()
    raise ConfigError(f"unknown evaluation rule {kind!r}")
