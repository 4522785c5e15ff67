"""COCO instance metrics (AP, AP50, AP75, AR) from a detection x ground-truth IoU matrix.

The same protocol as pycocotools' ``COCOeval`` for one image, one category and area range "all":
detections are ranked by score (stable, so ties keep their input order) and cut to ``max_detections``;
at each IoU threshold 0.50:0.05:0.95 every detection in rank order takes the still-unmatched ground
truth of highest IoU >= the threshold; precision is made monotone and read at 101 recall points
0.00:0.01:1.00; AP is the mean over thresholds and recall points, AR the mean over thresholds of the
final recall. Unlike pycocotools the IoU matrix is an input, so exact polygon IoUs (or rasterised mask
IoUs, as pycocotools would compute them) can be used.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def _match(ious: sparse.csr_array, n_gt: int, threshold: float) -> np.ndarray:
    """Matched flag per detection (rows in rank order) at one IoU threshold, greedy as COCOeval."""
    taken = np.zeros(n_gt, bool)
    matched = np.zeros(ious.shape[0], bool)
    ptr, cols, vals = ious.indptr, ious.indices, ious.data
    for d in range(ious.shape[0]):
        best, m = min(threshold, 1 - 1e-10), -1
        for k in range(ptr[d], ptr[d + 1]):  # columns ascending, as COCOeval walks the ground truth
            g = cols[k]
            if taken[g] or vals[k] < best:
                continue
            best, m = vals[k], g
        if m >= 0:
            taken[m] = matched[d] = True
    return matched


def coco_metrics(
    ious: np.ndarray | sparse.sparray, scores: np.ndarray, *, max_detections: int | None = None
) -> dict[str, float]:
    """``ap`` (IoU 0.50:0.95), ``ap50``, ``ap75``, ``ar`` and ``ar50``/``ar75`` of one image.

    ``ious``: (detections, ground truths) IoU in [0, 1], dense or scipy-sparse (absent = 0);
    ``scores``: (detections,) confidence, higher first. Every metric is NaN when there is no ground
    truth (COCOeval's -1).
    """
    matrix = sparse.csr_array(ious, dtype=np.float64)
    n_gt = matrix.shape[1]
    if n_gt == 0:
        return dict.fromkeys(("ap", "ap50", "ap75", "ar", "ar50", "ar75"), float("nan"))
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    if max_detections is not None:
        order = order[:max_detections]
    ranked = sparse.csr_array(matrix[order])
    ranked.sort_indices()
    precision = np.zeros((len(IOU_THRESHOLDS), len(RECALL_POINTS)))
    recall = np.zeros(len(IOU_THRESHOLDS))
    for t, thr in enumerate(IOU_THRESHOLDS):
        tp = np.cumsum(_match(ranked, n_gt, float(thr))).astype(np.float64)
        if not len(tp):
            continue
        fp = np.arange(1, len(tp) + 1) - tp
        rc = tp / n_gt
        pr = tp / (fp + tp + np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1]  # monotone from the right
        recall[t] = rc[-1]
        idx = np.searchsorted(rc, RECALL_POINTS, side="left")
        ok = idx < len(pr)
        precision[t, ok] = pr[idx[ok]]
    return {
        "ap": float(precision.mean()),
        "ap50": float(precision[0].mean()),
        "ap75": float(precision[5].mean()),
        "ar": float(recall.mean()),
        "ar50": float(recall[0]),
        "ar75": float(recall[5]),
    }
