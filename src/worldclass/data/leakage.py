"""Spatial leakage between splits: which patches touch a patch of another split, and a buffer that removes it.

Two patches are in **contact** when their centres are at most ``distance_m`` apart. The default
:data:`CONTACT_M` (1,200 m x sqrt 2 + 1 m) holds the 8 neighbours of a BigEarthNet patch (edge neighbours
1,200 m, diagonal neighbours 1,697 m) and nothing further.

Distances are measured in one frame for the whole archive: every centre is transformed from its own CRS
(UTM zone of its tile) to WGS 84 and then to Earth-centred Cartesian coordinates (EPSG:4978, m), so
patches of neighbouring tiles, also across UTM zones, are compared correctly (chord = ground distance to
< 1 mm at these ranges). Centres known only as tile-grid positions (no stored coordinates) are compared
within their tile.

The report lists every ordered pair of splits: ``validation->train`` is the share of validation patches
that touch a training patch. :func:`buffer_split` drops every patch touching a patch of a
higher-priority split (test > validation > train), after which no pair of kept patches of different splits
is in contact. Contacts are resolved from the top: patches touching a test patch go first, then patches
touching a kept validation patch (a patch touching only dropped patches is kept).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from worldclass.data.sensors import PATCH_EXTENT_M
from worldclass.errors import ConfigError, DataError

CONTACT_M = PATCH_EXTENT_M * math.sqrt(2) + 1.0
PRIORITY = ("test", "validation", "train")  # a buffer removes the lower-priority side of a contact
_A, _E2 = 6_378_137.0, 6.694_379_990_14e-3  # WGS 84 semi-major axis (m), first eccentricity squared


def _is_crs(name: str) -> bool:
    return name.upper().startswith(("EPSG:", "PROJCS", "PROJCRS", "GEOGCS", "+PROJ"))


def common_frame(
    x: npt.ArrayLike, y: npt.ArrayLike, crs: Sequence[str | None]
) -> tuple[npt.NDArray[np.float64], str]:
    """(N, 3) patch centres in one metric frame, and its name.

    ``x``, ``y``: centres in m in the patch's ``crs`` (an EPSG code or WKT), or tile-grid positions when
    ``crs`` is a tile id. Real CRSs go to Earth-centred coordinates (EPSG:4978); tile-grid groups are
    placed 1e9 m apart, so they only meet within their tile.
    """
    from rasterio.errors import CRSError
    from rasterio.warp import transform

    xs, ys = np.asarray(x, float), np.asarray(y, float)
    names = np.array([c or "" for c in crs], dtype=object)
    out = np.zeros((len(xs), 3))
    local = 0
    for name in sorted(set(names)):
        idx = np.flatnonzero(names == name)
        if name and _is_crs(name):
            try:
                lon, lat = transform(name, "EPSG:4326", xs[idx].tolist(), ys[idx].tolist())
            except CRSError as exc:
                raise DataError(
                    f"patch CRS {name[:40]!r} is not understood ({exc}); re-encode the archive"
                ) from None
            lo, la = np.radians(lon), np.radians(lat)
            n = _A / np.sqrt(1 - _E2 * np.sin(la) ** 2)
            out[idx] = np.stack(
                [n * np.cos(la) * np.cos(lo), n * np.cos(la) * np.sin(lo), n * (1 - _E2) * np.sin(la)], 1
            )
        else:
            local += 1
            out[idx] = np.stack([xs[idx], ys[idx], np.full(len(idx), local * 1e9)], 1)
    frame = "EPSG:4978 (Earth-centred)" if local == 0 else "EPSG:4978 + tile grids (within tiles only)"
    if local and local == len(set(names)):
        frame = "tile grids (within tiles only)"
    return out, frame


def contact_pairs(points: npt.ArrayLike, distance_m: float) -> npt.NDArray[np.int64]:
    """(P, 2) index pairs i < j of points (N, 3) at most ``distance_m`` apart (k-d tree)."""
    from scipy.spatial import cKDTree

    if distance_m <= 0:
        raise ConfigError(f"--leak-distance {distance_m}: give a positive distance in metres")
    pts = np.asarray(points, float)
    if len(pts) < 2:
        return np.zeros((0, 2), np.int64)
    pairs: npt.NDArray[np.int64] = cKDTree(pts).query_pairs(distance_m, output_type="ndarray")
    return pairs.astype(np.int64)


@dataclass(frozen=True)
class Contacts:
    """The contacts of an archive's patches, computed once (frame + k-d tree) for any number of splits."""

    pairs: npt.NDArray[np.int64]  # (P, 2) patch index pairs i < j in contact
    frame: str
    distance_m: float

    @classmethod
    def of(
        cls, x: npt.ArrayLike, y: npt.ArrayLike, crs: Sequence[str | None], distance_m: float = CONTACT_M
    ) -> Contacts:
        """Contacts of patch centres ``x``, ``y`` (m, in each patch's ``crs``; see :func:`common_frame`)."""
        pts, frame = common_frame(x, y, crs)
        return cls(contact_pairs(pts, distance_m), frame, float(distance_m))

    def report(self, split: Sequence[str]) -> dict[str, Any]:
        """Contact between every ordered pair of splits.

        Returns ``{"distance_m", "frame", "pairs": {"a->b": {"n": |a|, "leaked": patches of a touching b,
        "share": leaked / n}}}`` for every pair of distinct splits present (empty split names ignored).
        """
        s, pairs = _names(split), self.pairs
        present = [p for p in PRIORITY[::-1] if (s == p).any()] + sorted(set(s) - set(PRIORITY) - {""})
        report: dict[str, Any] = {}
        for a in present:
            for b in present:
                if a == b:
                    continue
                touch = np.zeros(len(s), bool)
                for i, j in ((0, 1), (1, 0)):
                    hit = (s[pairs[:, i]] == a) & (s[pairs[:, j]] == b)
                    touch[pairs[hit, i]] = True
                n = int((s == a).sum())
                report[f"{a}->{b}"] = {"n": n, "leaked": int(touch.sum()), "share": float(touch.sum() / n)}
        return {"distance_m": self.distance_m, "frame": self.frame, "pairs": report}

    def buffer(self, split: Sequence[str]) -> npt.NDArray[np.str_]:
        """Splits with every patch that touches a higher-priority split (test > validation > train) set
        to "" (dropped), so that no two kept patches of different splits are in contact."""
        s = _names(split)
        rank = np.array([PRIORITY.index(v) if v in PRIORITY else len(PRIORITY) for v in s])
        i, j = self.pairs[:, 0], self.pairs[:, 1]
        out = s.copy()
        for level, name in enumerate(PRIORITY[:-1]):  # test first: what touches test goes, then validation
            for a, b in ((i, j), (j, i)):
                hit = (out[b] == name) & (out[a] != "") & (rank[a] > level)
                out[a[hit]] = ""
        return out.astype(str)


def _names(split: Sequence[str]) -> npt.NDArray[np.object_]:
    return np.asarray([v or "" for v in split], dtype=object)


def leak_report(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    crs: Sequence[str | None],
    split: Sequence[str],
    distance_m: float = CONTACT_M,
) -> dict[str, Any]:
    """:meth:`Contacts.report` of one split assignment."""
    return Contacts.of(x, y, crs, distance_m).report(split)


def buffer_split(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    crs: Sequence[str | None],
    split: Sequence[str],
    distance_m: float = CONTACT_M,
) -> npt.NDArray[np.str_]:
    """:meth:`Contacts.buffer` of one split assignment."""
    return Contacts.of(x, y, crs, distance_m).buffer(split)
