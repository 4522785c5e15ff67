"""Frame-field guided polygon regularisation (light imports: runs in polygonize's worker processes).

A frame field (:mod:`worldclass.losses.frame_field`) gives per pixel two wall directions. ``worldclass
map`` with a frame-field model writes them beside the class map as ``<map>.field.tif``: 3 bands uint8,
band 1 the building-edge probability ``round(p * 254)``, bands 2 and 3 the directions u and v as
``round(angle / pi * 250) % 250`` (angle in [0, pi) in pixel coordinates: x = column, y = row down;
0.72° steps), nodata 255.

:func:`frame_regularize` squares a building outline with it: the raw pixel outline is simplified
(Douglas-Peucker, ``tolerance`` px); each edge takes the field direction (u or v, whichever is closer to
the edge, averaged along it weighted by edge probability) unless none is within ``max_deviation``;
consecutive edges of one direction (within ``merge``) form one wall; walls the field does not support
and shorter than ``cut`` px (the rounded corners of a predicted mask: the field there holds the two
walls' directions, not the diagonal) and walls shorter than ``min_run`` are absorbed by their
neighbours; each wall becomes a line in its field direction through its length-weighted centroid, and
corners are where consecutive lines meet. So corners sit where the field changes
direction and walls follow the field, including walls that do not meet at right angles. With
``field=None`` each edge keeps its own direction (the outline-only ablation).

:func:`guided_choice` is what ``polygonize --frame-field`` uses per building: of this fit and the
right-angle rule (:mod:`worldclass.mapping.regularize`), the outline closest to both the mask outline
and the field, so right-angle buildings keep the rule's clean corners and the others get free angles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon

ANGLE_STEPS = 250  # quantisation of [0, pi) in the field raster
FIELD_NODATA = 255


def field_path_for(map_path: str) -> str:
    """The frame-field raster written beside a class map (``scene.tif`` -> ``scene.field.tif``)."""
    stem = map_path[: -len(".tif")] if map_path.lower().endswith(".tif") else map_path
    return f"{stem}.field.tif"


def frame_directions(c0: np.ndarray, c2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Directions (radians in [0, pi)) u, v of the frame ``z^4 + c2 z^2 + c0`` (complex arrays):
    u^2, v^2 are the roots of ``w^2 + c2 w + c0``."""
    disc = np.sqrt(c2 * c2 - 4 * c0)
    w1, w2 = (-c2 + disc) / 2, (-c2 - disc) / 2
    return np.mod(np.angle(w1) / 2, np.pi), np.mod(np.angle(w2) / 2, np.pi)


def encode_field(edge: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(3, h, w) uint8 field raster bands from edge probability (h, w) and coefficients (4, h, w)."""
    u, v = frame_directions(c[0] + 1j * c[1], c[2] + 1j * c[3])
    q = [np.rint(a / np.pi * ANGLE_STEPS).astype(np.int64) % ANGLE_STEPS for a in (u, v)]
    return np.stack([np.rint(np.clip(edge, 0, 1) * 254), *q]).astype(np.uint8)


@dataclass
class FrameField:
    """Directions of a window of the field raster; ``x0``/``y0``: its global pixel offset."""

    u: np.ndarray  # (h, w) radians in [0, pi)
    v: np.ndarray
    edge: np.ndarray  # (h, w) probability
    x0: int = 0
    y0: int = 0

    @classmethod
    def from_raster(cls, bands: np.ndarray, x0: int = 0, y0: int = 0) -> FrameField:
        """From the 3 uint8 bands of a ``.field.tif`` window (nodata: no direction, edge 0)."""
        nodata = bands[1] == FIELD_NODATA
        step = np.pi / ANGLE_STEPS
        u = np.where(nodata, np.nan, bands[1] * step)
        v = np.where(nodata, np.nan, bands[2] * step)
        edge = np.where(bands[0] == FIELD_NODATA, 0.0, bands[0] / 254.0)
        return cls(u, v, edge, x0, y0)

    def sample(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, v, edge) at points (n, 2) in global pixel coordinates (the pixel containing each)."""
        h, w = self.u.shape
        col = np.clip(np.floor(pts[:, 0]).astype(np.int64) - self.x0, 0, w - 1)
        row = np.clip(np.floor(pts[:, 1]).astype(np.int64) - self.y0, 0, h - 1)
        return self.u[row, col], self.v[row, col], self.edge[row, col]


def _axial_diff(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Smallest difference of undirected directions (radians, in [0, pi/2])."""
    d = np.mod(np.asarray(a) - np.asarray(b), np.pi)
    return np.asarray(np.minimum(d, np.pi - d))


def _axial_mean(angles: np.ndarray, weights: np.ndarray) -> float:
    z = (weights * np.exp(2j * angles)).sum()
    return float(np.mod(np.angle(z) / 2, np.pi))


def _edge_samples(a: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points about every pixel along the edges a[i] -> a[i] + d[i]: (edge index, point (n, 2), the
    length each point stands for)."""
    length = np.hypot(d[:, 0], d[:, 1])
    n = np.maximum(1, np.ceil(length)).astype(np.int64)
    edge_of = np.repeat(np.arange(len(a)), n)
    t = (np.arange(len(edge_of)) - np.repeat(np.cumsum(n) - n, n) + 0.5) / n[edge_of]
    return edge_of, a[edge_of] + t[:, None] * d[edge_of], (length / n)[edge_of]


def edge_directions(
    a: np.ndarray, b: np.ndarray, field: FrameField | None, max_deviation: float
) -> tuple[np.ndarray, np.ndarray]:
    """(direction, supported) per edge a[i] -> b[i]: the field's direction (sampled every pixel along
    the edge) where one is within ``max_deviation`` of the edge's own, else its own and False."""
    d = b - a
    own: np.ndarray = np.mod(np.arctan2(d[:, 1], d[:, 0]), np.pi)
    if field is None:
        return own, np.ones(len(a), bool)
    edge_of, pts, _ = _edge_samples(a, d)
    u, v, e = field.sample(pts)
    ok = ~np.isnan(u)
    pick = np.where(_axial_diff(u, own[edge_of]) <= _axial_diff(v, own[edge_of]), u, v)
    z = np.where(ok, (e + 0.05) * np.exp(2j * np.where(ok, pick, 0.0)), 0)
    total = np.bincount(edge_of, z.real, len(a)) + 1j * np.bincount(edge_of, z.imag, len(a))
    fd = np.mod(np.angle(total) / 2, np.pi)
    use = (np.abs(total) > 0) & (_axial_diff(fd, own) <= max_deviation)
    return np.asarray(np.where(use, fd, own)), use | (np.abs(total) == 0)


def field_misfit(poly: Polygon, field: FrameField) -> float:
    """Length-weighted mean angle (radians) between the rings' edges and the nearest field direction
    along them (sampled every pixel); 0 where the field has no direction."""
    total = weight = 0.0
    for ring in (poly.exterior, *poly.interiors):
        c = np.asarray(ring.coords)
        a, b = c[:-1], c[1:]
        d = b - a
        own = np.mod(np.arctan2(d[:, 1], d[:, 0]), np.pi)
        edge_of, pts, step = _edge_samples(a, d)
        u, v, _ = field.sample(pts)
        ok = ~np.isnan(u)
        miss = np.minimum(_axial_diff(u[ok], own[edge_of][ok]), _axial_diff(v[ok], own[edge_of][ok]))
        step = step[ok]
        total += float((miss * step).sum())
        weight += float(step.sum())
    return total / weight if weight > 0 else 0.0


def guided_choice(poly: Polygon, candidates: list[Polygon | None], field: FrameField) -> Polygon | None:
    """The candidate outline that best agrees with both ``poly`` (area of the symmetric difference over
    its area) and the field (:func:`field_misfit`, radians), with 0.005 per vertex against needless
    corners: so the field decides between a right-angle fit and a free-angle one."""
    best: tuple[float, Polygon] | None = None
    for c in candidates:
        if c is None or c.is_empty or c.geom_type != "Polygon":
            continue
        score = (
            shapely.symmetric_difference(c, poly).area / max(poly.area, 1e-12)
            + field_misfit(c, field)
            + 0.005 * (len(c.exterior.coords) - 1)
        )
        if best is None or score < best[0]:
            best = (score, c)
    return None if best is None else best[1]


def _walls(
    pts: np.ndarray, theta: np.ndarray, supported: np.ndarray, merge: float, min_run: float, cut: float
) -> list[tuple[float, np.ndarray, float]]:
    """(direction, centroid, length) of each wall: runs of consecutive edges of one direction. Runs no
    field direction supports and shorter than ``cut`` (cut corners of a blurred outline) are dropped
    first, then runs shorter than ``min_run``; the walls beside a dropped run meet."""
    a, b = pts, np.roll(pts, -1, 0)
    length = np.hypot(*(b - a).T)
    mid = (a + b) / 2
    same = _axial_diff(theta, np.roll(theta, 1)) <= merge  # edge i continues edge i-1
    starts = np.flatnonzero(~same)
    if not len(starts):
        return []
    order = np.roll(np.arange(len(pts)), -int(starts[0]))
    walls: list[list[int]] = []
    for i in order:
        if walls and same[i]:
            walls[-1].append(int(i))
        else:
            walls.append([int(i)])

    def wall(idx: list[int]) -> tuple[float, np.ndarray, float]:
        w = length[idx]
        return (
            _axial_mean(theta[idx], w),
            (mid[idx] * w[:, None]).sum(0) / max(w.sum(), 1e-12),
            float(w.sum()),
        )

    runs = [(wall(i), i) for i in walls]

    def score(r: tuple[tuple[float, np.ndarray, float], list[int]]) -> float:
        """Length, minus ``cut`` when no edge of the run is supported by the field."""
        return r[0][2] - (cut if not supported[r[1]].any() else 0.0)

    while len(runs) > 3:  # drop the weakest wall while it is short (or unsupported and short)
        k = int(np.argmin([score(r) for r in runs]))
        if score(runs[k]) >= min_run:
            break
        del runs[k]
        p, n = (k - 1) % len(runs), k % len(runs)
        if p != n and _axial_diff(runs[p][0][0], runs[n][0][0]) <= merge:
            joined = runs[p][1] + runs[n][1]
            runs[p] = (wall(joined), joined)
            del runs[n]
    return [r[0] for r in runs]


def _corners(walls: list[tuple[float, np.ndarray, float]]) -> np.ndarray | None:
    out = []
    for k, (t1, p1, _) in enumerate(walls):
        t2, p2, _ = walls[(k + 1) % len(walls)]
        d1, d2 = np.array([np.cos(t1), np.sin(t1)]), np.array([np.cos(t2), np.sin(t2)])
        cross = d1[0] * d2[1] - d1[1] * d2[0]
        if abs(cross) < 1e-6:
            return None
        s = ((p2 - p1)[0] * d2[1] - (p2 - p1)[1] * d2[0]) / cross
        out.append(p1 + s * d1)
    return np.asarray(out)


def _ring(
    coords: np.ndarray,
    field: FrameField | None,
    merge: float,
    min_run: float,
    max_deviation: float,
    cut: float,
) -> np.ndarray | None:
    theta, supported = edge_directions(coords, np.roll(coords, -1, 0), field, max_deviation)
    walls = _walls(coords, theta, supported, merge, min_run, cut)
    if len(walls) < 3:
        return None
    corners = _corners(walls)
    if corners is None:
        return None
    # a corner far from the outline means two nearly parallel walls met far away: not a fit
    outline = shapely.LinearRing(coords)
    if shapely.distance(shapely.points(corners), outline).max() > max(3.0, 2 * min_run, cut):
        return None
    return corners


def frame_regularize(
    poly: Polygon,
    field: FrameField | None,
    *,
    tolerance: float = 2.0,
    min_run: float = 2.0,
    merge_deg: float = 12.0,
    max_deviation_deg: float = 20.0,
    cut: float = 8.0,
    max_area_change: float = 0.2,
) -> Polygon | None:
    """``poly`` (pixel coordinates) with walls along the frame field, or None where that fails (then the
    caller keeps its rule-based result). Holes are fitted the same way or kept as simplified."""
    if poly.is_empty or poly.area == 0 or poly.geom_type != "Polygon":
        return None
    simple = shapely.simplify(poly, tolerance, preserve_topology=True)
    if simple.is_empty or simple.geom_type != "Polygon":
        return None
    merge, dev = np.radians(merge_deg), np.radians(max_deviation_deg)
    shell = _ring(np.asarray(simple.exterior.coords)[:-1], field, merge, min_run, dev, cut)
    if shell is None:
        return None
    holes = []
    for ring in simple.interiors:
        c = np.asarray(ring.coords)[:-1]
        h = _ring(c, field, merge, min_run, dev, cut)
        holes.append(h if h is not None else c)
    out = Polygon(shell, holes)
    if not out.is_valid or abs(out.area - poly.area) > max_area_change * poly.area:
        return None
    return shapely.normalize(out)
