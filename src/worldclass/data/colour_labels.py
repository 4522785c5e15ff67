"""Colour-coded label images (e.g. ISPRS: RGB label TIFFs with one pure colour per class).

A :class:`ColourTable` maps exact RGB triples to class indices (or to :data:`IGNORE_INDEX`, e.g. the black
eroded-boundary band). Decoding refuses any other colour with one line naming the file, the colour, how
many pixels carry it and where the first one is: an anti-aliased or blended label (Potsdam ``4_12`` in
``5_Labels_all.zip``) is never silently turned into a class, as torchgeo's decoder does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldclass.data.nomenclature import IGNORE_INDEX
from worldclass.errors import LabelError


def _keys(rgb: np.ndarray) -> np.ndarray:
    """(3, ...) uint8 -> 24-bit keys r<<16 | g<<8 | b (int32)."""
    a = rgb.astype(np.int32)
    return (a[0] << 16) | (a[1] << 8) | a[2]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ColourTable:
    """``colours[i]`` -> ``values[i]`` (class index, or IGNORE_INDEX). ``fix`` ends the error message."""

    colours: tuple[tuple[int, int, int], ...]
    values: tuple[int, ...]
    fix: str = "recolour those pixels with a class colour of the benchmark"

    @classmethod
    def of(
        cls,
        class_colours: Sequence[tuple[int, int, int]],
        ignore: Sequence[tuple[int, int, int]] = (),
        fix: str | None = None,
    ) -> ColourTable:
        """Class ``i`` = ``class_colours[i]``; ``ignore`` colours -> IGNORE_INDEX."""
        colours = tuple(tuple(c) for c in (*class_colours, *ignore))
        values = tuple(range(len(class_colours))) + (IGNORE_INDEX,) * len(ignore)
        return cls(colours, values, fix or cls.fix)  # type: ignore[arg-type]

    def decode(self, rgb: np.ndarray, path: Path | str, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
        """(3, h, w) uint8 colours -> (h, w) uint8 class indices; ``offset`` = (row, col) of the block in
        the file (for the error message)."""
        keys = _keys(rgb)
        table = _keys(np.asarray(self.colours, np.uint8).T)
        order = np.argsort(table)
        sorted_keys = table[order]
        pos = np.clip(np.searchsorted(sorted_keys, keys), 0, len(table) - 1)
        known = sorted_keys[pos] == keys
        if not known.all():
            bad = np.argwhere(~known)
            r, c = (int(v) for v in bad[0])
            col = tuple(int(v) for v in rgb[:, r, c])
            raise LabelError(
                f"{path}: {len(bad)} pixel(s) of colour {col} (first at row {r + offset[0]}, col "
                f"{c + offset[1]}) outside the code table {list(self.colours)}; {self.fix}"
            )
        values = np.asarray(self.values, np.uint8)[order]
        return values[pos]

    def encode(self, classes: np.ndarray, nodata: int = IGNORE_INDEX) -> np.ndarray:
        """(h, w) class indices -> (3, h, w) uint8 colours (the first colour of each class; ``nodata`` and
        unknown indices -> black)."""
        lut = np.zeros((256, 3), np.uint8)
        for colour, value in zip(reversed(self.colours), reversed(self.values), strict=True):
            if value != nodata and value != IGNORE_INDEX:
                lut[value] = colour
        return np.moveaxis(lut[classes], -1, 0)
