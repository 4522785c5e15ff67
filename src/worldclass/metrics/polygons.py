"""Polygon metrics of predicted vs reference polygons (shapely arrays in one projected CRS).

- ``iou``: area IoU of the union of predictions and the union of references.
- Matching: each prediction is paired with the reference of highest IoU; a pair counts when IoU > 0.5.
- ``polis`` (Avbelj et al. 2015), mean over matched pairs, in CRS units:
  ``PoLiS(A, B) = 1/(2|A|) sum_a d(a, dB) + 1/(2|B|) sum_b d(b, dA)`` over the vertices a of A, b of B.
- ``n_ratio`` = vertices of all predictions / vertices of all references; ``c_iou`` (PolyWorld)
  ``= iou * (1 - |N_pred - N_ref| / (N_pred + N_ref))`` with N the vertex counts.
- ``mta`` (max tangent angle error, degrees; after frame-field learning): for predictions with precision
  ``area(P ∩ R) / area(P) > 0.5``, the contour is sampled every ``step`` units; each edge between
  consecutive samples is compared with its projection on the reference contour (corner-straddling or
  over-stretched projections dropped); the largest angle per polygon is averaged over polygons.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely


def vertex_count(geoms: np.ndarray) -> int:
    """Vertices of polygon rings, closing vertices not counted."""
    rings = shapely.get_rings(shapely.get_parts(geoms))
    return int((shapely.get_num_coordinates(rings) - 1).sum()) if len(rings) else 0


def _vertices(g: shapely.Geometry) -> np.ndarray:
    """Ring vertices without the closing repeat, as points."""
    pts: np.ndarray = shapely.points(
        np.concatenate([shapely.get_coordinates(r)[:-1] for r in shapely.get_rings(g)])
    )
    return pts


def polis(a: shapely.Geometry, b: shapely.Geometry) -> float:
    va, vb = _vertices(a), _vertices(b)
    da = shapely.distance(va, b.boundary).mean()
    db = shapely.distance(vb, a.boundary).mean()
    return float(da / 2 + db / 2)


def max_tangent_angle(pred: shapely.Geometry, ref: shapely.Geometry, step: float) -> float:
    """Largest angle (degrees, 0..90) between a predicted contour edge and its projection on the reference.

    The predicted exterior is sampled every ``step``; each pair of consecutive samples is an edge, its
    projection the segment between the samples' nearest points on the reference exterior. Pairs whose
    projections straddle a reference vertex (corners) or are stretched/compressed more than 2x are dropped.
    """
    line, ref_line = pred.exterior, ref.exterior
    d = np.arange(0, line.length, step)
    if len(d) < 2:
        return 0.0
    pts = shapely.get_coordinates(shapely.line_interpolate_point(line, d))
    pos = shapely.line_locate_point(ref_line, shapely.points(pts))
    proj = shapely.get_coordinates(shapely.line_interpolate_point(ref_line, pos))
    rc = shapely.get_coordinates(ref_line)
    vertex_pos = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(rc, axis=0).T))])
    e_pred = np.roll(pts, -1, 0) - pts
    e_proj = np.roll(proj, -1, 0) - proj
    lo, hi = np.minimum(pos, np.roll(pos, -1)), np.maximum(pos, np.roll(pos, -1))
    straddle = ((vertex_pos[None, :] > lo[:, None] + 1e-9) & (vertex_pos[None, :] < hi[:, None] - 1e-9)).any(
        1
    )
    straddle |= hi - lo > ref_line.length / 2  # wraps around the ring start
    lp, lq = np.hypot(*e_pred.T), np.hypot(*e_proj.T)
    ok = ~straddle & (lq > 0.5 * lp) & (lq < 2 * lp) & (lp > 0)
    if not ok.any():
        return 0.0
    a = np.arctan2(e_pred[ok, 1], e_pred[ok, 0]) - np.arctan2(e_proj[ok, 1], e_proj[ok, 0])
    diff = np.abs((a + np.pi / 2) % np.pi - np.pi / 2)
    return float(np.degrees(diff.max()))


def polygon_metrics(pred: np.ndarray, ref: np.ndarray, *, step: float = 2.0) -> dict[str, Any]:
    """Metrics of polygon arrays ``pred`` vs ``ref`` (see module docstring); ``step`` in CRS units."""
    pred = np.asarray(shapely.get_parts(pred), dtype=object)
    ref = np.asarray(shapely.get_parts(ref), dtype=object)
    up, ur = shapely.union_all(pred), shapely.union_all(ref)
    union = shapely.union(up, ur).area
    iou = shapely.intersection(up, ur).area / union if union else float("nan")
    tree = shapely.STRtree(ref)
    pairs, mta = [], []
    for p in pred:
        cand = tree.query(p, predicate="intersects")
        if not len(cand):
            continue
        inter = shapely.area(shapely.intersection(p, ref[cand]))
        ious = inter / shapely.area(shapely.union(p, ref[cand]))
        j = int(np.argmax(ious))
        if ious[j] > 0.5:
            pairs.append((p, ref[cand[j]], float(ious[j])))
        if inter.sum() / p.area > 0.5:
            k = int(np.argmax(inter))
            mta.append(max_tangent_angle(p, ref[cand[k]], step))
    n_pred, n_ref = vertex_count(pred), vertex_count(ref)
    n_sum = n_pred + n_ref
    return {
        "iou": float(iou),
        "matched": len(pairs),
        "predicted": len(pred),
        "reference": len(ref),
        "polis": float(np.mean([polis(a, b) for a, b, _ in pairs])) if pairs else float("nan"),
        "n_ratio": n_pred / n_ref if n_ref else float("nan"),
        "c_iou": float(iou * (1 - abs(n_pred - n_ref) / n_sum)) if n_sum else float("nan"),
        "mta": float(np.mean(mta)) if mta else float("nan"),
    }
