"""ISPRS 2-D labelling scores from a confusion matrix ``[reference, prediction]`` (numpy only).

Per class: precision, recall, F1 = 2PR / (P + R), IoU. ``mean_f1`` and ``miou`` average the classes not in
``excludes`` (the UNetFormer/GeoSeg convention leaves clutter out); ``oa`` = trace / total over all
classes (clutter pixels included); ignored (boundary) pixels are simply not in the matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def f1_scores(conf: np.ndarray, classes: Sequence[str], excludes: Sequence[str] = ()) -> dict[str, Any]:
    """``{"f1": {class: F1}, "precision", "recall", "iou" (same), "mean_f1", "miou", "oa", "pixels",
    "mean_over": [classes averaged]}``; a class absent from reference and prediction has NaN scores and is
    left out of the means."""
    c = np.asarray(conf, np.float64)
    tp = np.diag(c)
    ref, pred = c.sum(1), c.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(pred > 0, tp / pred, np.where(ref > 0, 0.0, np.nan))
        recall = np.where(ref > 0, tp / ref, np.where(pred > 0, 0.0, np.nan))
        f1 = np.where(ref + pred > 0, 2 * tp / (ref + pred), np.nan)
        iou = np.where(ref + pred - tp > 0, tp / (ref + pred - tp), np.nan)
    keep = [i for i, n in enumerate(classes) if n not in set(excludes) and not np.isnan(f1[i])]
    total = c.sum()

    def per(v: np.ndarray) -> dict[str, float]:
        return {n: float(x) for n, x in zip(classes, v, strict=True)}

    return {
        "f1": per(f1),
        "precision": per(precision),
        "recall": per(recall),
        "iou": per(iou),
        "mean_f1": float(f1[keep].mean()) if keep else float("nan"),
        "miou": float(iou[keep].mean()) if keep else float("nan"),
        "oa": float(tp.sum() / total) if total else float("nan"),
        "pixels": int(total),
        "mean_over": [classes[i] for i in keep],
    }
