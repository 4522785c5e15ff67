"""Building regularisation: snap polygon edges to two orthogonal directions (right angles).

Works on raw pixel outlines (the staircases ``rasterio.features.shapes`` gives). Per ring: the outline
is first simplified (Douglas-Peucker, ``tolerance`` ≈ 1 pixel) so a staircase becomes the straight
edge it approximates; the dominant direction is the circular mean of those edges'
angles modulo 90° (weighted by squared length, short edges left out); the ring is rotated so that direction is horizontal, each edge is labelled
horizontal or vertical, runs of equal labels are merged, runs shorter than ``min_run`` are absorbed
into their neighbours, each run is replaced by one line at its length-weighted mean level, and corners
are the intersections of consecutive lines. This is tried for three directions (that mean, the minimum
rotated rectangle's, the pixel grid's) and the result closest to the outline (area of the symmetric
difference) is kept; a result that is invalid or changes the area by more than ``max_area_change``
is never kept, and without any the input polygon is returned.

:func:`regularize_coverage` does this for the selected polygons of a coverage (polygons that tile an
area without gaps or overlaps) and repairs the others, so neighbours keep sharing one boundary.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely
from shapely.geometry import Polygon

from worldclass.mapping.frame_field import FrameField, frame_regularize, guided_choice


def _runs(rot: np.ndarray) -> list[list[float]]:
    """[horizontal?, length, length-weighted level] per run of equally labelled edges of a rotated ring."""
    d = np.roll(rot, -1, 0) - rot
    horizontal = np.abs(d[:, 0]) >= np.abs(d[:, 1])
    length = np.hypot(d[:, 0], d[:, 1])
    mid = (rot + np.roll(rot, -1, 0)) / 2
    level = np.where(horizontal, mid[:, 1], mid[:, 0])
    change = np.flatnonzero(horizontal != np.roll(horizontal, 1))
    if len(change) < 2:
        return []
    order = np.roll(np.arange(len(rot)), -int(change[0]))  # start at a label change: no wrap-around run
    lab, ln = horizontal[order], length[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    total = np.add.reduceat(ln, starts)
    weighted = np.add.reduceat(ln * level[order], starts)
    return [[float(lab[i]), float(a), float(b)] for i, a, b in zip(starts, total, weighted, strict=True)]


def _absorb(runs: list[list[float]], min_run: float) -> list[list[float]]:
    """Drop runs shorter than ``min_run`` (shortest first), merging the two runs beside each."""
    while len(runs) > 4:
        k = int(np.argmin([r[1] for r in runs]))
        if runs[k][1] >= min_run:
            break
        start = (k - 1) % len(runs)
        runs = runs[start:] + runs[:start]  # the short run at 1, its neighbours at 0 and 2
        prev, nxt = runs[0], runs[2]
        runs = [[prev[0], prev[1] + nxt[1], prev[2] + nxt[2]], *runs[3:]]
    return runs


def _ring(coords: np.ndarray, theta: float, min_run: float) -> np.ndarray | None:
    c, s = np.cos(-theta), np.sin(-theta)
    rot = coords @ np.array([[c, s], [-s, c]])  # rotate by -theta
    runs = _absorb(_runs(rot), min_run)
    if len(runs) < 4 or len(runs) % 2:
        return None
    corners = []
    for k, (h, w, acc) in enumerate(runs):
        _, w2, acc2 = runs[(k + 1) % len(runs)]
        level, nxt_level = acc / max(w, 1e-12), acc2 / max(w2, 1e-12)
        corners.append((nxt_level, level) if h else (level, nxt_level))
    out = np.asarray(corners)
    c2, s2 = np.cos(theta), np.sin(theta)
    return np.asarray(out @ np.array([[c2, s2], [-s2, c2]]))


def dominant_angle(coords: np.ndarray, min_length: float = 0.0) -> float:
    """Mean edge direction modulo 90° (radians, in [-pi/4, pi/4)), weighted by squared edge length so
    long walls decide; edges shorter than ``min_length`` are left out (all are used if none is longer)."""
    d = np.diff(coords, axis=0)
    ang = np.arctan2(d[:, 1], d[:, 0])
    w = np.hypot(d[:, 0], d[:, 1])
    if (w >= min_length).any():
        w = np.where(w >= min_length, w, 0.0)
    z = (w**2 * np.exp(4j * ang)).sum()
    return float(np.angle(z) / 4)


def regularize(
    poly: Polygon, *, tolerance: float = 1.0, min_run: float = 2.0, max_area_change: float = 0.2
) -> Polygon:
    """Right-angled version of ``poly`` (holes too), or ``poly`` itself when that fails.

    ``tolerance`` (outline simplification) and ``min_run`` (shortest kept wall) are in the polygon's
    units; the defaults suit pixel coordinates.
    """
    if poly.is_empty or poly.area == 0:
        return poly
    simple = shapely.simplify(poly, tolerance, preserve_topology=True) if tolerance > 0 else poly
    if simple.is_empty or simple.geom_type != "Polygon":
        return poly
    ext = np.asarray(simple.exterior.coords)
    fits = []
    for theta in _distinct([dominant_angle(ext, 2 * min_run), _rectangle_angle(poly), 0.0]):
        out = _at_angle(simple, theta, min_run)
        if out is not None and out.is_valid and abs(out.area - poly.area) <= max_area_change * poly.area:
            fits.append(out)
    if not fits:
        return poly
    if len(fits) > 1:  # the fit closest to the outline (symmetric difference), fewer corners on ties
        err = shapely.area(shapely.symmetric_difference(np.array(fits, dtype=object), poly))
        err = err + 1e-6 * np.array([len(f.exterior.coords) for f in fits])
        fits = [fits[int(np.argmin(err))]]
    return shapely.normalize(fits[0])


def _distinct(angles: list[float], tol: float = np.radians(0.25)) -> list[float]:
    """Angles (radians, modulo 90°) without near repeats: a repeat gives the same outline at more cost."""
    out: list[float] = []
    for a in angles:
        if all(abs((a - b + np.pi / 4) % (np.pi / 2) - np.pi / 4) > tol for b in out):
            out.append(a)
    return out


def _rectangle_angle(poly: Polygon) -> float:
    """Direction of the minimum rotated rectangle's first side, modulo 90°."""
    c = np.asarray(shapely.minimum_rotated_rectangle(poly).exterior.coords)
    if len(c) < 3:
        return 0.0
    a = np.arctan2(c[1, 1] - c[0, 1], c[1, 0] - c[0, 0])
    return float((a + np.pi / 4) % (np.pi / 2) - np.pi / 4)


def _at_angle(simple: Polygon, theta: float, min_run: float) -> Polygon | None:
    shell = _ring(np.asarray(simple.exterior.coords)[:-1], theta, min_run)
    if shell is None:
        return None
    holes = []
    for ring in simple.interiors:
        h = _ring(np.asarray(ring.coords)[:-1], theta, min_run)
        if h is not None:
            holes.append(h)
    return Polygon(shell, holes)


def regularize_all(geoms: np.ndarray, **kwargs: float) -> np.ndarray:
    return np.array([regularize(g, **kwargs) if g.geom_type == "Polygon" else g for g in geoms], dtype=object)


def regularize_coverage(
    geoms: np.ndarray,
    selected: np.ndarray,
    field: FrameField | None = None,
    repair: np.ndarray | None = None,
    **kwargs: float,
) -> np.ndarray:
    """Regularise ``geoms[selected]`` in a coverage and repair the rest so it stays a coverage.

    With a frame ``field`` (pixel coordinates) each selected polygon becomes the fit the field supports
    best (:func:`~worldclass.mapping.frame_field.guided_choice`): walls along the field
    (:func:`~worldclass.mapping.frame_field.frame_regularize`) or the right-angle rule.

    Selected polygons are regularised in turn, each snapped (1 unit) to and clipped by the regularised
    ones before it that it reaches (one line for a shared wall, no overlaps) and clipped to the covered
    area; every other polygon loses what the regularised ones took; the freed pieces go, one by one, to
    the polygon they share the longest boundary with (no gaps). Two buildings that shared a wall
    therefore still share one. Every set operation is local (neighbours found with STR trees), so the
    cost grows with the number of selected polygons, not with its square. ``repair`` (bool per polygon,
    default all) limits the repair of the others to those the caller keeps; the rest are left as they
    were (freed pieces are still measured against them).
    """
    orig = np.asarray(geoms, dtype=object)
    geoms = orig.copy()
    idx = np.flatnonzero(selected)
    if not len(idx):
        return geoms
    clip = _clipper(orig)
    squared = np.array([_square(orig[i], field, kwargs) for i in idx], dtype=object)
    reach = shapely.STRtree(squared)
    done = np.zeros(len(idx), bool)
    for n, i in enumerate(idx):
        r = squared[n]
        near = np.asarray([j for j in reach.query(r) if done[j]], dtype=np.int64)
        if len(near):
            nb = _union(geoms[idx[near]])
            if r.geom_type == "Polygon":  # a wall fitted twice becomes one line
                snapped = shapely.snap(r, nb, 1.0)
                r = snapped if snapped.is_valid else r
            r = shapely.difference(r, nb)
        geoms[i] = _polygonal(clip(r))
        done[n] = True
    new = geoms[idx]
    takers = shapely.STRtree(new)
    others = np.setdiff1d(np.arange(len(geoms)), idx)
    if repair is not None:
        others = others[np.asarray(repair)[others]]
    o, t = takers.query(
        orig[others]
    )  # bounding boxes: a predicate on the large land-cover polygons costs more
    for k, group in _groups(others[o], t):
        geoms[k] = _polygonal(shapely.difference(orig[k], _union(new[group])))
    # what the selected polygons gave up and nobody holds now, given to the neighbour that shares the
    # longest boundary with each piece (neighbours clipped to the building's box: land cover is large)
    tree = shapely.STRtree(geoms)
    gains: dict[int, list[shapely.Geometry]] = {}
    for a, group in _groups(*takers.query(orig[idx])):
        lost = _polygonal(shapely.difference(orig[idx[a]], _union(new[group])))
        pieces = shapely.get_parts(lost)
        pieces = pieces[shapely.area(pieces) > 1e-9]
        if not len(pieces):
            continue
        x0, y0, x1, y1 = np.asarray(lost.bounds) + np.array([-1.0, -1.0, 1.0, 1.0])
        cand = tree.query(shapely.box(x0, y0, x1, y1))
        local = shapely.clip_by_rect(geoms[cand], x0, y0, x1, y1)
        pi, ci = shapely.STRtree(local).query(pieces, predicate="intersects")  # pairs that meet
        shared = shapely.length(shapely.intersection(shapely.boundary(pieces[pi]), local[ci]))
        best: dict[int, tuple[float, int]] = {}
        for p, c, w in zip(pi, ci, shared, strict=True):
            if w > 0 and w > best.get(int(p), (0.0, -1))[0]:
                best[int(p)] = (float(w), int(cand[c]))
        for p, (_, c) in best.items():
            gains.setdefault(c, []).append(pieces[p])
    for c, parts in gains.items():
        if repair is None or repair[c]:  # a polygon the caller drops needs no gains
            geoms[c] = _polygonal(shapely.union_all([geoms[c], *parts]))
    return geoms


def _union(geoms: np.ndarray) -> shapely.Geometry:
    """Union of an array of polygons (one polygon is returned as it is: a unary union costs)."""
    return geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)


def _groups(keys: np.ndarray, values: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """[(key, its values)] of a pair list, keys in ascending order."""
    if not len(keys):
        return []
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    cut = np.flatnonzero(np.diff(keys)) + 1
    return [(int(k[0]), v) for k, v in zip(np.split(keys, cut), np.split(values, cut), strict=True)]


def _clipper(geoms: np.ndarray) -> Callable[[shapely.Geometry], shapely.Geometry]:
    """Clip to the area a coverage covers: a rectangle clip where it fills its bounds (no nodata)."""
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    if abs(shapely.area(geoms).sum() - (x1 - x0) * (y1 - y0)) <= 1e-6 * max((x1 - x0) * (y1 - y0), 1.0):
        return lambda g: shapely.clip_by_rect(g, x0, y0, x1, y1)
    try:
        area = shapely.coverage_union_all(geoms)  # fast, for a correctly noded coverage
    except shapely.errors.GEOSException:
        area = None
    if area is None or not shapely.is_valid(area):
        # GEOS 3.14 leaves zero-area remnants of polygons that exactly fill another's hole
        area = shapely.union_all(geoms)
    shapely.prepare(area)
    return lambda g: shapely.intersection(g, area)


def _square(g: shapely.Geometry, field: FrameField | None, kwargs: dict[str, float]) -> shapely.Geometry:
    if g.geom_type != "Polygon":
        return g
    rule = regularize(g, **kwargs)
    if field is not None:
        chosen = guided_choice(g, [frame_regularize(g, field), rule], field)
        if chosen is not None:
            return chosen
    return rule


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a set-operation result (slivers of lines/points dropped)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()
