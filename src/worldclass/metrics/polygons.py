"""Polygon metrics of predicted vs reference polygons (shapely arrays in one projected CRS).

- ``iou``: area IoU of the union of predictions and the union of references.
- Matching: one-to-one and optimal (maximum total IoU, Hungarian per connected group of candidate
  pairs) among the pairs with IoU >= 0.5; ``precision``/``recall``/``f1`` count those pairs.
- COCO ``ap``, ``ap50``, ``ap75``, ``ar`` (:mod:`worldclass.metrics.coco`) on the exact polygon IoUs,
  detections ranked by ``scores`` (all equal without them: then the input order decides ties).
- Per matched pair, averaged over pairs: ``pair_iou``; ``boundary_iou`` (Cheng et al. 2021, vector
  form: the boundary region of a polygon is its part within ``boundary_width`` of its outline);
  ``c_iou`` (PolyWorld) ``= IoU * (1 - |N_pred - N_ref| / (N_pred + N_ref))`` with N the vertex counts;
  ``n_ratio`` = N_pred / N_ref (``n_ratio_total``: all predicted over all reference vertices);
  ``polis`` (Avbelj et al. 2015) in CRS units:
  ``PoLiS(A, B) = 1/(2|A|) sum_a d(a, dB) + 1/(2|B|) sum_b d(b, dA)`` over the vertices a of A, b of B.
- ``mta`` (max tangent angle error, degrees; after frame-field learning): for predictions with precision
  ``area(P ∩ R) / area(P) > 0.5``, the contour is sampled every ``step`` units; each edge between
  consecutive samples is compared with its projection on the reference contour (corner-straddling or
  over-stretched projections dropped); the largest angle per polygon is averaged over polygons.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from scipy import sparse
from scipy.optimize import linear_sum_assignment

from worldclass.metrics.coco import coco_metrics


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
    projection the segment between the samples' nearest points on the reference exterior. Pairs that
    straddle a predicted vertex or whose projections straddle a reference vertex (corners), or are
    stretched/compressed more than 2x, are dropped.
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
    # a chord between samples on both sides of a predicted corner is no edge of the prediction
    pc = shapely.get_coordinates(line)
    pred_vertex = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(pc, axis=0).T))])
    d_next = np.append(d[1:], line.length + 1)  # the closing chord crosses the ring start
    straddle |= (
        (pred_vertex[None, :] > d[:, None] + 1e-9) & (pred_vertex[None, :] < d_next[:, None] - 1e-9)
    ).any(1)
    lp, lq = np.hypot(*e_pred.T), np.hypot(*e_proj.T)
    ok = ~straddle & (lq > 0.5 * lp) & (lq < 2 * lp) & (lp > 0)
    if not ok.any():
        return 0.0
    a = np.arctan2(e_pred[ok, 1], e_pred[ok, 0]) - np.arctan2(e_proj[ok, 1], e_proj[ok, 0])
    diff = np.abs((a + np.pi / 2) % np.pi - np.pi / 2)
    return float(np.degrees(diff.max()))


def candidate_ious(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pred index, ref index, IoU) of every intersecting pair, IoU > 0."""
    if not len(pred) or not len(ref):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    i, j = shapely.STRtree(ref).query(pred, predicate="intersects")
    inter = shapely.area(shapely.intersection(pred[i], ref[j]))
    iou = inter / (shapely.area(pred[i]) + shapely.area(ref[j]) - inter)
    keep = iou > 0
    return i[keep], j[keep], iou[keep]


def match_one_to_one(
    i: np.ndarray, j: np.ndarray, iou: np.ndarray, threshold: float = 0.5
) -> list[tuple[int, int, float]]:
    """Optimal one-to-one pairs (pred, ref, IoU) among candidates with IoU >= ``threshold``."""
    ok = iou >= threshold
    i, j, iou = i[ok], j[ok], iou[ok]
    if not len(i):
        return []
    rows, ri = np.unique(i, return_inverse=True)
    cols, ci = np.unique(j, return_inverse=True)
    n = len(rows) + len(cols)
    graph = sparse.coo_array((np.ones(len(i)), (ri, len(rows) + ci)), shape=(n, n))
    _, comp = sparse.csgraph.connected_components(graph, directed=False)
    out = []
    for c in np.unique(comp[ri]):
        sel = comp[ri] == c
        r_u, r_inv = np.unique(ri[sel], return_inverse=True)
        c_u, c_inv = np.unique(ci[sel], return_inverse=True)
        cost = np.zeros((len(r_u), len(c_u)))
        cost[r_inv, c_inv] = -iou[sel]
        for a, b in zip(*linear_sum_assignment(cost), strict=True):
            if cost[a, b] < 0:
                out.append((int(rows[r_u[a]]), int(cols[c_u[b]]), float(-cost[a, b])))
    return sorted(out)


def boundary_iou(a: shapely.Geometry, b: shapely.Geometry, width: float) -> float:
    """IoU of the boundary regions (part within ``width`` of the outline) of two polygons."""
    ba = shapely.difference(a, shapely.buffer(a, -width))
    bb = shapely.difference(b, shapely.buffer(b, -width))
    union = shapely.union(ba, bb).area
    return float(shapely.intersection(ba, bb).area / union) if union else float("nan")


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def polygon_metrics(
    pred: np.ndarray,
    ref: np.ndarray,
    *,
    scores: np.ndarray | None = None,
    step: float = 2.0,
    boundary_width: float = 1.0,
    max_detections: int | None = None,
) -> dict[str, Any]:
    """Metrics of polygon arrays ``pred`` vs ``ref`` (see module docstring); ``step`` (MTA contour
    sampling) and ``boundary_width`` in CRS units; ``scores`` per predicted polygon (higher = surer)."""
    pred = np.asarray(pred, dtype=object)
    ref = np.asarray(shapely.get_parts(ref), dtype=object)
    if scores is None:
        scores = np.ones(len(pred))
    # multipolygon predictions are split into parts that keep their polygon's score
    n_parts = shapely.get_num_geometries(pred) if len(pred) else np.zeros(0, np.int64)
    scores = np.repeat(np.asarray(scores, np.float64), n_parts)
    pred = np.asarray(shapely.get_parts(pred), dtype=object)
    up, ur = shapely.union_all(pred), shapely.union_all(ref)
    union = shapely.union(up, ur).area
    iou = shapely.intersection(up, ur).area / union if union else float("nan")
    i, j, ious = candidate_ious(pred, ref)
    pairs = match_one_to_one(i, j, ious)
    coco = coco_metrics(
        sparse.csr_array((ious, (i, j)), shape=(len(pred), len(ref))), scores, max_detections=max_detections
    )
    mta = []
    if len(i):
        inter = ious * (shapely.area(pred[i]) + shapely.area(ref[j])) / (1 + ious)
        for p in np.unique(i):
            sel = i == p
            if inter[sel].sum() / pred[p].area > 0.5:
                mta.append(max_tangent_angle(pred[p], ref[j[sel][np.argmax(inter[sel])]], step))
    n_pred, n_ref = vertex_count(pred), vertex_count(ref)
    c_iou, n_ratio, b_iou = [], [], []
    for p, r, v in pairs:
        np_, nr = vertex_count(pred[p : p + 1]), vertex_count(ref[r : r + 1])
        c_iou.append(v * (1 - abs(np_ - nr) / (np_ + nr)))
        n_ratio.append(np_ / nr)
        b_iou.append(boundary_iou(pred[p], ref[r], boundary_width))
    matched = len(pairs)
    precision = matched / len(pred) if len(pred) else float("nan")
    recall = matched / len(ref) if len(ref) else float("nan")
    return {
        "iou": float(iou),
        "matched": matched,
        "predicted": len(pred),
        "reference": len(ref),
        "precision": precision,
        "recall": recall,
        "f1": 2 * matched / (len(pred) + len(ref)) if len(pred) + len(ref) else float("nan"),
        **coco,
        "pair_iou": _mean([v for _, _, v in pairs]),
        "boundary_iou": _mean(b_iou),
        "c_iou": _mean(c_iou),
        "n_ratio": _mean(n_ratio),
        "n_ratio_total": n_pred / n_ref if n_ref else float("nan"),
        "polis": _mean([polis(pred[p], ref[r]) for p, r, _ in pairs]),
        "mta": _mean(mta),
        "boundary_width": boundary_width,
        "max_detections": max_detections if max_detections is not None else len(pred),
    }
