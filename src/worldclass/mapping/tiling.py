"""Tile grids and blending windows for scene inference.

A scene axis of ``n`` pixels is covered by tiles of ``t = min(tile, n)`` pixels with stride
``tile - overlap``; the last tile is shifted back so it ends on the scene edge (never padded past it).
Overlapping predictions are blended as ``sum(w * p) / sum(w)`` with a separable weight ``w``:

- ``hann``: 1 in the tile centre, a raised-cosine ramp (``sin²``) over ``overlap`` pixels on every side
  that has a neighbouring tile, none on scene edges (so edges are neither dark nor seamed). Two
  neighbours at the nominal overlap sum exactly to 1 (``sin² + cos²``).
- ``crop``: each tile owns its centre and the outer half-overlap on sides with a neighbour goes to that
  neighbour (Huang et al. 2018, "Tiling and stitching segmentation output"); a tiny floor weight keeps
  the division defined.

The last tile, shifted back by ``e`` pixels beyond the nominal overlap, gives those ``e`` leading pixels
to its neighbour (weight 0 there; the neighbour covers them with its centre), and its ramp starts after
them. So the blend of every pair of neighbours is the nominal one, and with ``overlap = 0`` each pixel
is predicted by exactly one tile (the earlier one), as validation's grid windows count it.
"""

from __future__ import annotations

import numpy as np

from worldclass.data.rasters import window_starts as starts
from worldclass.errors import ConfigError

__all__ = ["BLENDS", "Grid", "axis_crop_weights", "axis_weights", "check_tiling", "starts"]

BLENDS = ("hann", "crop")
_FLOOR = 1e-6


def check_tiling(tile: int, overlap: int, blend: str) -> None:
    """Refuse tile/overlap/blend combinations that cannot tile a scene."""
    if tile < 32 or tile % 32:
        raise ConfigError(f"--tile {tile}: use a multiple of 32 (>= 32); encoders downsample by 32")
    if not 0 <= overlap <= tile // 2:
        raise ConfigError(f"--overlap {overlap}: use 0..{tile // 2} (at most half the tile)")
    if blend not in BLENDS:
        raise ConfigError(f"--blend {blend!r}: choose one of {list(BLENDS)}")


def axis_weights(n: int, tile: int, overlap: int) -> list[np.ndarray]:
    """1-D blending weights, one float32 array of length ``min(tile, n)`` per tile start (hann)."""
    positions = starts(n, tile, overlap)
    t = min(tile, n)
    e = _excess(positions, tile, overlap)
    out = []
    for i, _ in enumerate(positions):
        w = np.ones(t, np.float32)
        lead = e if i == len(positions) - 1 else 0
        if overlap > 0:
            k = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
            ramp = np.sin(0.5 * np.pi * k) ** 2
            if i > 0:
                w[lead : lead + overlap] = ramp
            if i < len(positions) - 1:
                w[t - overlap :] = ramp[::-1]
        w = np.maximum(w, _FLOOR)
        w[:lead] = 0.0
        out.append(w)
    return out


def _excess(positions: list[int], tile: int, overlap: int) -> int:
    """Pixels by which the last tile is shifted back beyond the nominal overlap (0 for one tile)."""
    if len(positions) < 2:
        return 0
    return positions[-2] + tile - overlap - positions[-1]


def axis_crop_weights(n: int, tile: int, overlap: int) -> list[np.ndarray]:
    """1-D ownership weights for ``crop`` blending (1 owned, ~0 given to the neighbour)."""
    positions = starts(n, tile, overlap)
    t = min(tile, n)
    half = overlap // 2
    e = _excess(positions, tile, overlap)
    out = []
    for i, _ in enumerate(positions):
        w = np.ones(t, np.float32)
        lead = e if i == len(positions) - 1 else 0
        if i > 0 and half:
            w[lead : lead + half] = _FLOOR
        if i < len(positions) - 1 and overlap - half:
            w[t - (overlap - half) :] = _FLOOR
        w[:lead] = 0.0
        out.append(w)
    return out


class Grid:
    """Tile positions and per-tile blend weights for an ``height`` x ``width`` scene."""

    def __init__(self, height: int, width: int, tile: int, overlap: int, blend: str = "hann") -> None:
        check_tiling(tile, overlap, blend)
        self.height, self.width, self.tile, self.overlap = height, width, tile, overlap
        self.ys, self.xs = starts(height, tile, overlap), starts(width, tile, overlap)
        self.th, self.tw = min(tile, height), min(tile, width)
        make = axis_weights if blend == "hann" else axis_crop_weights
        self._wy, self._wx = make(height, tile, overlap), make(width, tile, overlap)

    def __len__(self) -> int:
        return len(self.ys) * len(self.xs)

    def weight(self, row: int, col: int) -> np.ndarray:
        """(th, tw) float32 blend weight of tile (row, col)."""
        return np.outer(self._wy[row], self._wx[col])

    def final_row(self, row: int) -> int:
        """First scene row still weighted by a later tile row (rows above it are final after ``row``).
        The last tile row gives its leading excess rows to the row before, so those are final early:
        what a tile row hands down is never more than ``overlap`` rows."""
        if row + 1 >= len(self.ys):
            return self.height
        lead = _excess(self.ys, self.tile, self.overlap) if row + 2 == len(self.ys) else 0
        return self.ys[row + 1] + lead

    def final_col(self, col: int) -> int:
        """First scene column still touched by a later tile in the same row."""
        return self.xs[col + 1] if col + 1 < len(self.xs) else self.width
