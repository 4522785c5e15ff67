"""Multi-label metrics on targets Y (N, C) in {0, 1} and scores S (N, C) (probabilities or logits).

Averages (over the per-class values v_c of the **evaluated classes**):

* ``micro``: pooled counts over all classes (TP = sum_c TP_c, ...), then the metric.
* ``macro``: unweighted mean of per-class values.
* ``minor``: sum_c w_c v_c with w_c proportional to 1 / n_c (``train_counts`` n_c, normalised to sum 1
  over the evaluated classes); ``tempered=True`` uses w_c proportional to 1 / sqrt(n_c). Classes with
  n_c = 0 get weight 0. Without ``train_counts`` the evaluated set's own positive counts are used.

**Absent classes** (one rule for every average but micro): a class without a positive in the evaluated
set has no defined recall, F1 or AP, and a model that never predicts it would collect a free balanced
accuracy of 0.5 or more; so it is left out of the macro and minor averages of every metric (F1, precision,
recall, balanced accuracy, AP) and listed in ``excluded_classes`` (``names`` when given, else indices).
Its per-class row is still reported. Micro averages pool all classes (false positives on an absent class
count).

Per-class values: precision TP/(TP+FP), recall TP/(TP+FN), F1 2TP/(2TP+FP+FN), balanced accuracy
(TPR + TNR)/2, average precision (AP, step-wise area under the precision-recall curve as in
scikit-learn: sum_k (R_k - R_{k-1}) P_k over score thresholds). **Zero division**: a ratio with a zero
denominator is 0 (precision of a never-predicted class, recall/F1/AP of a class without positives), which is
scikit-learn's ``zero_division=0``; the per-class AP of a class without positives is 0 (the number of
classes that are averaged is ``n_classes_with_positives``). Balanced accuracy with a single class present uses the available rate. One deliberate difference
from scikit-learn: when targets *and* predictions are entirely empty, scikit-learn returns 1.0 for every
micro/macro score; worldclass returns 0 (nothing was found), consistent with the per-class rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

ArrayLike = Any


def _np(x: ArrayLike) -> npt.NDArray[Any]:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def _div(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def average_precision(y: npt.NDArray[Any], s: npt.NDArray[Any]) -> float:
    """AP of one class (scikit-learn's definition, ties handled by grouping equal scores); 0 if no positive."""
    y = np.asarray(y, bool)
    n_pos = int(y.sum())
    if n_pos == 0:
        return 0.0
    order = np.argsort(-np.asarray(s, np.float64), kind="mergesort")
    s_sorted, y_sorted = np.asarray(s, np.float64)[order], y[order]
    tp = np.cumsum(y_sorted)
    fp = np.cumsum(~y_sorted)
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]  # end of each tie group
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _pooled_ap(y: npt.NDArray[Any], s: npt.NDArray[Any]) -> float:
    return average_precision(y.ravel(), s.ravel())


def minority_weights(counts: ArrayLike, *, tempered: bool = False) -> npt.NDArray[np.float64]:
    """Normalised class weights proportional to 1/n_c (or 1/sqrt(n_c)); 0 for classes with n_c = 0."""
    n = np.asarray(_np(counts), np.float64)
    inv = _div(np.ones_like(n), np.sqrt(n) if tempered else n)
    total = inv.sum()
    return inv / total if total > 0 else inv


def multilabel_metrics(
    targets: ArrayLike,
    scores: ArrayLike,
    *,
    threshold: float | Sequence[float] | npt.NDArray[Any] = 0.5,
    train_counts: ArrayLike | None = None,
    tempered: bool = False,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """All metrics as a JSON-ready dict (see module docstring for definitions).

    ``scores`` >= ``threshold`` (scalar or per class (C,)) counts as predicted positive; pass
    probabilities for a 0.5 threshold. ``names``: optional class names added to ``per_class`` rows.
    """
    y = _np(targets).astype(bool)
    s = _np(scores).astype(np.float64)
    if y.shape != s.shape or y.ndim != 2:
        raise ValueError(f"targets {y.shape} and scores {s.shape} must both be (N, C)")
    thr = np.broadcast_to(np.asarray(threshold, np.float64), (y.shape[1],))
    p = s >= thr
    tp = (p & y).sum(0).astype(np.float64)
    fp = (p & ~y).sum(0).astype(np.float64)
    fn = (~p & y).sum(0).astype(np.float64)
    tn = (~p & ~y).sum(0).astype(np.float64)
    prec, rec = _div(tp, tp + fp), _div(tp, tp + fn)
    f1 = _div(2 * tp, 2 * tp + fp + fn)
    tpr, tnr = _div(tp, tp + fn), _div(tn, tn + fp)
    has_pos, has_neg = (tp + fn) > 0, (tn + fp) > 0
    bacc = np.where(has_pos & has_neg, (tpr + tnr) / 2, np.where(has_pos, tpr, tnr))
    ap = np.array([average_precision(y[:, c], s[:, c]) for c in range(y.shape[1])])
    support = y.sum(0)
    counts = np.asarray(_np(support if train_counts is None else train_counts), np.float64)
    if counts.shape != (y.shape[1],):
        raise ValueError(f"train_counts has {counts.shape[0]} classes, targets have {y.shape[1]}")
    w = minority_weights(np.where(has_pos, counts, 0.0), tempered=tempered)  # absent classes: weight 0
    T, F, N, Tn = tp.sum(), fp.sum(), fn.sum(), tn.sum()
    out: dict[str, Any] = {
        "n_samples": int(y.shape[0]),
        "n_classes_with_positives": int(has_pos.sum()),
        "f1_micro": float(_div(np.array([2 * T]), np.array([2 * T + F + N]))[0]),
        "precision_micro": float(_div(np.array([T]), np.array([T + F]))[0]),
        "recall_micro": float(_div(np.array([T]), np.array([T + N]))[0]),
        "bacc_micro": float(
            (_div(np.array([T]), np.array([T + N]))[0] + _div(np.array([Tn]), np.array([Tn + F]))[0]) / 2
        ),
        "map_micro": _pooled_ap(y, s),
        "map_macro": float(ap[has_pos].mean()) if has_pos.any() else 0.0,
        "excluded_classes": [
            names[int(c)] if names is not None else int(c) for c in np.flatnonzero(~has_pos)
        ],
    }
    for key, v in (("f1", f1), ("precision", prec), ("recall", rec), ("bacc", bacc)):
        out[f"{key}_macro"] = float(v[has_pos].mean()) if has_pos.any() else 0.0
        out[f"{key}_minor"] = float((w * v).sum())
    out["map_minor"] = float((w * ap).sum())
    rows = []
    for c in range(y.shape[1]):
        row: dict[str, Any] = {
            "index": c,
            "support": int(support[c]),
            "tp": int(tp[c]),
            "fp": int(fp[c]),
            "fn": int(fn[c]),
            "tn": int(tn[c]),
            "precision": float(prec[c]),
            "recall": float(rec[c]),
            "f1": float(f1[c]),
            "bacc": float(bacc[c]),
            "ap": float(ap[c]),
            "weight_minor": float(w[c]),
            "threshold": float(thr[c]),
        }
        if names is not None:
            row["name"] = names[c]
        rows.append(row)
    out["per_class"] = rows
    return out


def tune_thresholds(
    targets: ArrayLike, scores: ArrayLike, *, grid: Sequence[float] | None = None
) -> npt.NDArray[np.float64]:
    """Per-class threshold maximising F1 on (validation) data; 0.5 for classes without positives."""
    y = _np(targets).astype(bool)
    s = _np(scores).astype(np.float64)
    candidates = np.asarray(grid if grid is not None else np.linspace(0.05, 0.95, 19))
    best = np.full(y.shape[1], 0.5)
    for c in range(y.shape[1]):
        if not y[:, c].any():
            continue
        pred = s[:, c][:, None] >= candidates[None, :]
        tp = (pred & y[:, c][:, None]).sum(0)
        fp = (pred & ~y[:, c][:, None]).sum(0)
        fn = y[:, c].sum() - tp
        f1 = _div(2 * tp.astype(float), (2 * tp + fp + fn).astype(float))
        best[c] = float(candidates[int(np.argmax(f1))])
    return best
