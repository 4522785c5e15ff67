"""Relaxed precision / recall for thin structures (Mnih & Hinton 2010), and centre-line scores.

Relaxed precision = predicted positives with a reference positive within ρ px / predicted positives;
relaxed recall = reference positives with a predicted positive within ρ px / reference positives.
Neighbourhood: the square (2ρ+1)² window (Chebyshev distance, as ssai-cnn's reference code) or the
Euclidean disc. :class:`RelaxedCounter` pools counts over all tiles at every threshold ``k / steps`` at
once (one histogram of the probability inside the dilated reference, one of the max-filtered probability
on the reference), then :meth:`RelaxedCounter.result` gives the curve and the breakeven point (the
threshold where |P - R| is smallest, P and R strictly inside (0, 1)).

Centre lines (roads): :func:`thin` reduces a binary mask to 1 px wide lines (Zhang-Suen), and
:func:`centerline_counts` gives completeness / correctness / quality within ρ (Wiedemann et al. 1998).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.ndimage import binary_dilation, maximum_filter


def _footprint(radius: int, square: bool) -> np.ndarray:
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return np.ones_like(x, bool) if square else (x * x + y * y) <= radius * radius


def near(mask: np.ndarray, radius: int, square: bool = True) -> np.ndarray:
    """Pixels within ``radius`` of a True pixel of ``mask`` (the tile edge clips the window)."""
    if radius <= 0:
        return mask.astype(bool)
    return binary_dilation(mask, structure=_footprint(radius, square))  # type: ignore[no-any-return]


class RelaxedCounter:
    """Relaxed counts at thresholds ``k / steps``, k = 0..steps-1, pooled over tiles (micro average)."""

    def __init__(self, radius: int = 3, steps: int = 256, square: bool = True) -> None:
        self.radius, self.steps, self.square = radius, steps, square
        self.pred_pos = np.zeros(steps, np.int64)  # predicted positives at p >= t
        self.pred_hit = np.zeros(steps, np.int64)  # ... within radius of a reference positive
        self.ref_pos = 0
        self.ref_hit = np.zeros(steps, np.int64)  # reference positives with a prediction >= t within radius

    def _cum(self, values: np.ndarray) -> np.ndarray:
        """counts[k] = #values with bin >= k."""
        hist = np.bincount(values, minlength=self.steps)[: self.steps]
        return np.cumsum(hist[::-1])[::-1]

    def update(self, prob: np.ndarray, reference: np.ndarray, valid: np.ndarray | None = None) -> None:
        """``prob``: (h, w) positive-class probability of one whole tile; ``reference``: (h, w) bool;
        ``valid``: (h, w) bool pixels that count (default all)."""
        valid = np.ones(prob.shape, bool) if valid is None else valid
        ref = reference.astype(bool) & valid
        bins = np.clip((prob * self.steps).astype(np.int64), 0, self.steps - 1)  # p >= k/steps <=> bin >= k
        bins = np.where(valid, bins, -1)
        self.pred_pos += self._cum(bins[bins >= 0])
        around = near(ref, self.radius, self.square) & valid
        self.pred_hit += self._cum(bins[around & (bins >= 0)])
        fp = _footprint(self.radius, self.square)
        best = maximum_filter(bins, footprint=fp, mode="constant", cval=-1)
        self.ref_pos += int(ref.sum())
        self.ref_hit += self._cum(best[ref & (best >= 0)])

    def result(self) -> dict[str, Any]:
        """``precision``/``recall`` curves (lists over thresholds), ``breakeven`` {threshold, precision,
        recall}, and P/R at 0.5."""
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(self.pred_pos > 0, self.pred_hit / np.maximum(self.pred_pos, 1), np.nan)
            r = self.ref_hit / self.ref_pos if self.ref_pos else np.full(self.steps, np.nan)
        inside = (p > 0) & (p < 1) & (r > 0) & (r < 1)
        gap = np.where(inside, np.abs(p - r), np.inf)
        k = int(np.argmin(gap))
        half = self.steps // 2
        breakeven = (
            {"threshold": k / self.steps, "precision": float(p[k]), "recall": float(r[k])}
            if np.isfinite(gap[k])
            else {"threshold": float("nan"), "precision": float("nan"), "recall": float("nan")}
        )
        return {
            "radius": self.radius,
            "neighbourhood": "square" if self.square else "disc",
            "steps": self.steps,
            "breakeven": breakeven,
            "precision_at_0.5": float(p[half]),
            "recall_at_0.5": float(r[half]),
            "precision": [float(v) for v in p],
            "recall": [float(v) for v in r],
        }


_NEIGHBOURS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))  # P2..P9


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a binary mask to 1 px wide, 8-connected centre lines (bool)."""
    img = np.pad(mask.astype(bool), 1)
    while True:
        changed = False
        for step in (0, 1):
            n = [np.roll(img, (-dy, -dx), (0, 1)) for dy, dx in _NEIGHBOURS]
            count = sum(v.astype(np.int8) for v in n)
            trans = sum(((~n[i]) & n[(i + 1) % 8]).astype(np.int8) for i in range(8))
            p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
            cond = ~(p2 & p4 & p6) & ~(p4 & p6 & p8) if step == 0 else ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            remove = img & (count >= 2) & (count <= 6) & (trans == 1) & cond
            if remove.any():
                img &= ~remove
                changed = True
        if not changed:
            return img[1:-1, 1:-1]


def centerline_counts(
    pred: np.ndarray, reference: np.ndarray, radius: int = 3, valid: np.ndarray | None = None
) -> dict[str, int]:
    """Counts on thinned centre lines: ``ref`` / ``ref_found`` (reference line pixels with a predicted
    line within ``radius``, Euclidean) and ``pred`` / ``pred_correct``; ``valid`` masks both."""
    valid = np.ones(pred.shape, bool) if valid is None else valid
    p_line = thin(pred & valid)
    r_line = thin(reference & valid)
    return {
        "ref": int(r_line.sum()),
        "ref_found": int((r_line & near(p_line, radius, square=False)).sum()),
        "pred": int(p_line.sum()),
        "pred_correct": int((p_line & near(r_line, radius, square=False)).sum()),
    }


def centerline_scores(counts: dict[str, int]) -> dict[str, float]:
    """Completeness = found / ref, correctness = correct / pred, quality = TP / (TP + FP + FN) with TP the
    matched reference length (Wiedemann et al. 1998)."""
    ref, found, pred, correct = counts["ref"], counts["ref_found"], counts["pred"], counts["pred_correct"]
    fp, fn = pred - correct, ref - found
    return {
        "completeness": found / ref if ref else float("nan"),
        "correctness": correct / pred if pred else float("nan"),
        "quality": found / (found + fp + fn) if found + fp + fn else float("nan"),
    }
