"""Alignment metrics: how many map vertices lie within tau px of where they belong (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: default tolerances (px) of the vertex-accuracy curve
TAUS = (0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)


def vertex_errors(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(V,) Euclidean distance (px) of each vertex ``points`` (V, 2) from its true position (V, 2)."""
    out: np.ndarray = np.linalg.norm(np.asarray(points, np.float64) - np.asarray(truth, np.float64), axis=1)
    return out


def vertex_accuracy(errors: np.ndarray, taus: Sequence[float] = TAUS) -> dict[str, float]:
    """Share of vertices whose error is at most tau, per tau: ``{"<tau>": share}`` (NaN without vertices)."""
    e = np.asarray(errors, np.float64)
    return {f"{t:g}": float((e <= t).mean()) if e.size else float("nan") for t in taus}
