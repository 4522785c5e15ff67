"""Regression metrics per target: RMSE and the coefficient of determination R^2 (1 - SS_res / SS_tot
around the evaluated targets' own mean), over the samples whose target is known (NaN left out)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def regression_metrics(pred: np.ndarray, target: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """(N, T) predictions and targets -> ``rmse``, ``r2`` (means over targets), ``mae``, ``per_target``
    {name: {rmse, mae, r2, n}}. R^2 is NaN for a target that does not vary over the evaluated samples."""
    per: dict[str, dict[str, float]] = {}
    for t, name in enumerate(names):
        keep = ~np.isnan(target[:, t])
        y, p = target[keep, t].astype(np.float64), pred[keep, t].astype(np.float64)
        res = float(((y - p) ** 2).sum())
        tot = float(((y - y.mean()) ** 2).sum()) if len(y) else 0.0
        per[name] = {
            "rmse": float(np.sqrt(res / max(len(y), 1))),
            "mae": float(np.abs(y - p).mean()) if len(y) else float("nan"),
            "r2": 1 - res / tot if tot > 0 else float("nan"),
            "n": len(y),
        }
    return {
        "rmse": float(np.mean([v["rmse"] for v in per.values()])),
        "mae": float(np.mean([v["mae"] for v in per.values()])),
        "r2": float(np.nanmean([v["r2"] for v in per.values()]))
        if any(not np.isnan(v["r2"]) for v in per.values())
        else float("nan"),
        "per_target": per,
    }
