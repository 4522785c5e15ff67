"""Segmentation metrics from confusion matrices accumulated over pixels (numpy only).

Per group (e.g. an Inria city) and overall, counts are summed over all pixels first and the metrics
computed once (the Inria benchmark's definition), never averaged over tiles. Pixels whose reference is
the ignore index (or outside 0..K-1) are not counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worldclass.data.nomenclature import IGNORE_INDEX


class ConfusionAccumulator:
    """Confusion matrices (K, K) ``[reference, prediction]`` per group and overall."""

    def __init__(self, num_classes: int) -> None:
        self.k = num_classes
        self.groups: dict[str, np.ndarray] = {}

    def update(self, reference: np.ndarray, prediction: np.ndarray, group: str = "") -> None:
        ref = np.asarray(reference).ravel().astype(np.int64)
        pred = np.asarray(prediction).ravel().astype(np.int64)
        ok = (ref != IGNORE_INDEX) & (ref >= 0) & (ref < self.k) & (pred >= 0) & (pred < self.k)
        counts = np.bincount(ref[ok] * self.k + pred[ok], minlength=self.k * self.k).reshape(self.k, self.k)
        self.groups[group] = self.groups.get(group, np.zeros((self.k, self.k), np.int64)) + counts

    def merge(self, other: ConfusionAccumulator) -> None:
        for g, m in other.groups.items():
            self.groups[g] = self.groups.get(g, np.zeros((self.k, self.k), np.int64)) + m

    def overall(self) -> np.ndarray:
        return sum(self.groups.values(), np.zeros((self.k, self.k), np.int64))


def confusion_metrics(conf: np.ndarray, classes: list[str] | None = None) -> dict[str, Any]:
    """IoU per class, mean IoU, pixel accuracy (OA), per-class accuracy (recall, NaN for classes absent
    from the reference) and AA (their mean over the classes present in the reference, as the DFC2020
    baseline scores), reference pixels per class (``support``); ``iou`` is the building IoU for two
    classes, else mIoU."""
    conf = np.asarray(conf, np.float64)
    tp = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
    total = conf.sum()
    names = classes or [str(i) for i in range(len(tp))]
    valid = iou[~np.isnan(iou)]
    miou = float(valid.mean()) if valid.size else float("nan")
    support = conf.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
    present = recall[support > 0]
    return {
        "aa": float(present.mean()) if present.size else float("nan"),
        "recall_per_class": {n: float(v) for n, v in zip(names, recall, strict=True)},
        "iou": float(iou[1]) if len(tp) == 2 else miou,
        "miou": miou,
        "accuracy": float(tp.sum() / total) if total else float("nan"),
        "pixels": int(total),
        "iou_per_class": {n: float(v) for n, v in zip(names, iou, strict=True)},
        "support": {n: int(v) for n, v in zip(names, conf.sum(1), strict=True)},
    }


def grouped_metrics(acc: ConfusionAccumulator, classes: list[str] | None = None) -> dict[str, Any]:
    """``{"overall": {...}, "groups": {group: {...}}}``."""
    return {
        "overall": confusion_metrics(acc.overall(), classes),
        "groups": {g: confusion_metrics(m, classes) for g, m in sorted(acc.groups.items())},
    }
