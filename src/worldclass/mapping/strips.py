"""Strip units: one very large scene mapped by several workers, then assembled into one COG.

A strip is the scene rows ``r0:r1``; it is predicted from at least a tile of context rows on each side,
starting on the whole scene's tile grid (:meth:`MapJob._context`), so every kept row is blended from
the same tiles with the same weights as in an unsplit run (no seam), and only its own rows are kept, as
a uint8 class strip ``<map folder>/.parts/<stem>/r<r0>.tif`` (written under a temporary name, renamed
when complete). When every strip of a scene is done, :func:`assemble`
copies them, block by block, into the scene's map (:class:`~worldclass.mapping.writer.MapWriter`: tags,
colour table, overviews, COG) and removes the parts. The strips are fixed by the plan, so the map does
not depend on which executor or worker ran them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from worldclass.mapping.writer import NODATA, MapWriter, class_map_profile


def strip_bounds(height: int, rows: int) -> list[tuple[int, int]]:
    """(r0, r1) of the strips of ``rows`` rows covering ``height`` (the last one shorter)."""
    return [(r, min(r + rows, height)) for r in range(0, height, rows)]


def part_path(final: Path, r0: int) -> Path:
    return final.parent / ".parts" / final.stem / f"r{r0:09d}.tif"


class StripSink:
    """Sink of the mapping engine keeping rows ``r0:r1`` of the class map (argmax; nodata 255)."""

    def __init__(self, path: Path, profile: dict[str, Any], r0: int, r1: int, classes: int) -> None:
        self.path, self.r0, self.r1, self.classes = path, r0, r1, classes
        transform = profile["transform"] * rasterio.Affine.translation(0, r0)
        self.profile = class_map_profile({**profile, "height": r1 - r0, "transform": transform})
        self.tmp = path.with_name(f".{path.name}.partial.tif")

    def __enter__(self) -> StripSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._dst = rasterio.open(self.tmp, "w", **self.profile)
        return self

    def write(self, window: Window, probs: np.ndarray, valid: np.ndarray) -> None:
        top, h = int(window.row_off), int(window.height)
        a, b = max(top, self.r0), min(top + h, self.r1)
        if a >= b:
            return
        classes = probs[: self.classes, a - top : b - top].argmax(0).astype(np.uint8)
        classes[~valid[a - top : b - top]] = NODATA
        self._dst.write(classes, 1, window=Window(int(window.col_off), a - self.r0, int(window.width), b - a))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self._dst.close()
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def assemble(
    final: Path,
    bounds: list[tuple[int, int]],
    profile: dict[str, Any],
    classes: list[str],
    tags: dict[str, str],
    colours: list[tuple[int, int, int]] | None,
) -> None:
    """Copy the class strips of ``final`` (rows ``bounds``) into it as a COG, then remove the parts."""
    parts = [part_path(final, r0) for r0, _ in bounds]
    with MapWriter(final, profile, classes, tags=tags, colours=colours) as w:
        for (r0, r1), part in zip(bounds, parts, strict=True):
            with rasterio.open(part) as src:
                for y in range(0, r1 - r0, 512):  # bounded memory: 512 rows at a time
                    h = min(512, r1 - r0 - y)
                    block = src.read(1, window=Window(0, y, src.width, h))
                    w.write_classes(Window(0, r0 + y, src.width, h), block)
    for part in parts:
        part.unlink(missing_ok=True)
    folder = parts[0].parent if parts else None
    if folder is not None and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
