"""COCO instance metrics (AP, AP50, AP75, AR) from a detection x ground-truth IoU matrix.

The same protocol as pycocotools' ``COCOeval`` for one category (several images as one block-diagonal
IoU matrix; area ranges through ignore flags, as COCOeval's AP_S/M/L): detections are ranked by score (stable, so ties keep their input order) and cut to ``max_detections``;
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


def _match(
    ious: sparse.csr_array, n_gt: int, threshold: float, gt_ignore: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(matched, matched-to-an-ignored-ground-truth) per detection (rows in rank order) at one IoU
    threshold, greedy as COCOeval: the best still-unmatched counted ground truth first, an ignored one
    only when no counted one reaches the threshold."""
    taken = np.zeros(n_gt, bool)
    matched = np.zeros(ious.shape[0], bool)
    to_ignored = np.zeros(ious.shape[0], bool)
    ptr, cols, vals = ious.indptr, ious.indices, ious.data
    for d in range(ious.shape[0]):
        m = -1
        for ignored in (False, True):  # COCOeval walks counted ground truths before ignored ones
            best = min(threshold, 1 - 1e-10)
            for k in range(ptr[d], ptr[d + 1]):  # columns ascending, as COCOeval walks the ground truth
                g = cols[k]
                if gt_ignore[g] != ignored or taken[g] or vals[k] < best:
                    continue
                best, m = vals[k], g
            if m >= 0:
                break
        if m >= 0:
            taken[m] = matched[d] = True
            to_ignored[d] = gt_ignore[m]
    return matched, to_ignored


def coco_metrics(
    ious: np.ndarray | sparse.sparray,
    scores: np.ndarray,
    *,
    max_detections: int | None = None,
    gt_ignore: np.ndarray | None = None,
    det_outside: np.ndarray | None = None,
) -> dict[str, float]:
    """``ap`` (IoU 0.50:0.95), ``ap50``, ``ap75``, ``ar`` and ``ar50``/``ar75``.

    ``ious``: (detections, ground truths) IoU in [0, 1], dense or scipy-sparse (absent = 0); several
    images are scored at once as one block-diagonal matrix (COCOeval's accumulation over images);
    ``scores``: (detections,) confidence, higher first. An area range (AP_S/M/L) is scored as COCOeval
    does: ``gt_ignore`` marks ground truths outside it (not counted; a detection matched to one is
    ignored), ``det_outside`` detections outside it (ignored when unmatched). Every metric is NaN when no
    ground truth counts (COCOeval's -1).
    """
    matrix = sparse.csr_array(ious, dtype=np.float64)
    n_gt = matrix.shape[1]
    ig = np.zeros(n_gt, bool) if gt_ignore is None else np.asarray(gt_ignore, bool)
    counted = int((~ig).sum())
    if counted == 0:
        return dict.fromkeys(("ap", "ap50", "ap75", "ar", "ar50", "ar75"), float("nan"))
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    if max_detections is not None:
        order = order[:max_detections]
    outside = np.zeros(len(order), bool) if det_outside is None else np.asarray(det_outside, bool)[order]
    ranked = sparse.csr_array(matrix[order])
    ranked.sort_indices()
    precision = np.zeros((len(IOU_THRESHOLDS), len(RECALL_POINTS)))
    recall = np.zeros(len(IOU_THRESHOLDS))
    for t, thr in enumerate(IOU_THRESHOLDS):
        matched, to_ignored = _match(ranked, n_gt, float(thr), ig)
        keep = ~(to_ignored | (~matched & outside))
        tp = np.cumsum(matched[keep]).astype(np.float64)
        if not len(tp):
            continue
        fp = np.arange(1, len(tp) + 1) - tp
        rc = tp / counted
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
