"""Building regularisation: snap polygon edges to two orthogonal directions (right angles).

Per ring: the dominant direction is the length-weighted circular mean of edge angles modulo 90°; the
ring is rotated so that direction is horizontal, each edge is labelled horizontal or vertical, runs of
equal labels are merged and replaced by one line at their length-weighted mean level, and corners are
the intersections of consecutive lines. A result that is invalid or changes the area by more than
``max_area_change`` falls back to the input polygon.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Polygon


def _ring(coords: np.ndarray, theta: float) -> np.ndarray | None:
    c, s = np.cos(-theta), np.sin(-theta)
    rot = coords @ np.array([[c, s], [-s, c]])  # rotate by -theta
    d = np.roll(rot, -1, 0) - rot
    horizontal = np.abs(d[:, 0]) >= np.abs(d[:, 1])
    length = np.hypot(d[:, 0], d[:, 1])
    # start at a label change so runs do not wrap around
    change = np.flatnonzero(horizontal != np.roll(horizontal, 1))
    if len(change) < 4:
        return None
    order = np.roll(np.arange(len(rot)), -int(change[0]))
    runs: list[tuple[bool, float]] = []
    acc_w = acc_v = 0.0
    for j, i in enumerate(order):
        h = bool(horizontal[i])
        level = (
            (rot[i, 1] + rot[(i + 1) % len(rot), 1]) / 2
            if h
            else (rot[i, 0] + rot[(i + 1) % len(rot), 0]) / 2
        )
        acc_w, acc_v = acc_w + length[i], acc_v + length[i] * level
        nxt = order[(j + 1) % len(order)]
        if j == len(order) - 1 or bool(horizontal[nxt]) != h:
            runs.append((h, acc_v / max(acc_w, 1e-12)))
            acc_w = acc_v = 0.0
    if len(runs) < 4 or len(runs) % 2:
        return None
    corners = []
    for k, (h, level) in enumerate(runs):
        _, nxt_level = runs[(k + 1) % len(runs)]
        corners.append((nxt_level, level) if h else (level, nxt_level))
    out = np.asarray(corners)
    c2, s2 = np.cos(theta), np.sin(theta)
    return np.asarray(out @ np.array([[c2, s2], [-s2, c2]]))


def dominant_angle(coords: np.ndarray) -> float:
    """Length-weighted mean edge direction modulo 90° (radians, in [-pi/4, pi/4))."""
    d = np.diff(coords, axis=0)
    ang = np.arctan2(d[:, 1], d[:, 0])
    w = np.hypot(d[:, 0], d[:, 1])
    z = (w * np.exp(4j * ang)).sum()
    return float(np.angle(z) / 4)


def regularize(poly: Polygon, *, max_area_change: float = 0.2) -> Polygon:
    """Right-angled version of ``poly`` (holes too), or ``poly`` itself when that fails."""
    if poly.is_empty or poly.area == 0:
        return poly
    ext = np.asarray(poly.exterior.coords)
    theta = dominant_angle(ext)
    shell = _ring(ext[:-1], theta)
    if shell is None:
        return poly
    holes = []
    for ring in poly.interiors:
        h = _ring(np.asarray(ring.coords)[:-1], theta)
        if h is not None:
            holes.append(h)
    out = Polygon(shell, holes)
    if not out.is_valid or abs(out.area - poly.area) > max_area_change * poly.area:
        return poly
    return shapely.normalize(out)


def regularize_all(geoms: np.ndarray, **kwargs: float) -> np.ndarray:
    return np.array([regularize(g, **kwargs) if g.geom_type == "Polygon" else g for g in geoms], dtype=object)
