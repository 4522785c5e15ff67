"""Streaming scene inference: windowed reads -> batched tiles -> blending -> final blocks to a sink.

Memory is bounded by the batch of tiles plus one strip of ``overlap`` rows across the scene width
(the blended rows a tile row hands down to the next), never by the scene size: GDAL's block cache is
capped (:data:`~worldclass.mapping.writer.GDAL_CACHE_MB`) and freed batch buffers go back to the OS
(:mod:`.heap`). A reader thread reads the next batch while the network runs on the current one.

Blocks reach the sink in raster order, each exactly once, as ``(window, probs (K, h, w) float32,
valid (h, w) bool)``; invalid pixels are input nodata.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import rasterio
from rasterio.windows import Window

from worldclass.mapping.heap import bound_heap
from worldclass.mapping.predictor import Predictor
from worldclass.mapping.tiling import Grid
from worldclass.models.segmenter import FIELD_CHANNELS


class Sink(Protocol):
    def write(self, window: Window, probs: np.ndarray, valid: np.ndarray) -> None: ...


@dataclass
class _Batch:
    row: int
    cols: list[int]
    x0: int  # first column of the read window
    pixels: np.ndarray  # (B, C, th, tw) raw
    valid: np.ndarray  # (th, span) bool


def _has_nodata(src: Any) -> bool:
    from rasterio.enums import MaskFlags

    return any(MaskFlags.all_valid not in flags for flags in src.mask_flag_enums)


def _read_batches(path: str, grid: Grid, batch: int, indexes: list[int], r0: int) -> Iterator[_Batch]:
    """Batches of tiles of ``grid``, whose row 0 is scene row ``r0``."""
    with rasterio.open(path) as src:
        masked = _has_nodata(src)
        for r, y in enumerate(grid.ys):
            for c0 in range(0, len(grid.xs), batch):
                cols = list(range(c0, min(c0 + batch, len(grid.xs))))
                x0, x1 = grid.xs[cols[0]], grid.xs[cols[-1]] + grid.tw
                win = Window(x0, r0 + y, x1 - x0, grid.th)
                data = src.read(indexes, window=win)
                valid = (
                    src.read_masks(indexes, window=win).min(0) > 0
                    if masked
                    else np.ones(data.shape[1:], bool)
                )
                tiles = np.stack([data[:, :, grid.xs[c] - x0 : grid.xs[c] - x0 + grid.tw] for c in cols])
                yield _Batch(r, cols, x0, tiles, valid)


def _prefetch(it: Iterator[_Batch], depth: int = 2) -> Generator[_Batch, None, None]:
    """Run ``it`` in a thread, ``depth`` items ahead; re-raise its errors here."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        """Queue ``item`` unless the consumer has stopped; False when it has."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in it:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer
            put(exc)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # release the reader's raster in its own thread (GDAL environments are per thread)

    t = threading.Thread(target=work, daemon=True, name="worldclass-reader")
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)


class _Strip:
    """Blend accumulator for one tile row: columns [q0, q0 + used) of rows [y, y + th)."""

    def __init__(self, k: int, th: int, capacity: int) -> None:
        self.sum = np.zeros((k, th, capacity), np.float32)
        self.w = np.zeros((th, capacity), np.float32)
        self.valid = np.zeros((th, capacity), bool)
        self.q0 = 0
        self.used = 0

    def reset(self) -> None:
        self.sum.fill(0)
        self.w.fill(0)
        self.q0 = self.used = 0

    def drop(self, n: int) -> None:
        """Forget the first ``n`` columns (already handed on)."""
        keep = self.used - n
        self.sum[:, :, :keep] = self.sum[:, :, n : self.used]
        self.w[:, :keep] = self.w[:, n : self.used]
        self.valid[:, :keep] = self.valid[:, n : self.used]
        self.sum[:, :, keep : self.used] = 0
        self.w[:, keep : self.used] = 0
        self.q0 += n
        self.used = keep


def run_grid(
    predictor: Predictor,
    path: str,
    sink: Sink,
    *,
    height: int,
    width: int,
    indexes: list[int],
    tile: int = 512,
    overlap: int = 64,
    blend: str = "hann",
    batch_size: int = 8,
    rows: tuple[int, int] | None = None,
    field: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Predict every pixel of ``path`` (bands ``indexes``) and hand final blocks to ``sink``.

    ``field``: blocks carry the frame-field channels after the K class probabilities (K + 5 channels,
    blended like the probabilities: the field's polynomial coefficients average linearly).

    ``rows = (r0, r1)`` limits the work to those scene rows as if they were the whole scene: no pixel
    outside them is read (a spatial hold-out is predicted from its own pixels only). Windows given to
    the sink are in scene coordinates. Returns the number of tiles run.
    """
    bound_heap()
    r0, r1 = rows if rows is not None else (0, height)
    if not 0 <= r0 < r1 <= height:
        raise ValueError(f"rows {r0}..{r1} outside the scene's 0..{height}")
    grid = Grid(r1 - r0, width, tile, overlap, blend)
    k = len(predictor.classes) + (FIELD_CHANNELS if field else 0)
    run = predictor.with_field if field else predictor
    th, tw = grid.th, grid.tw
    strip = _Strip(k, th, tw * (batch_size + 1))
    carry_sum = np.zeros((k, 0, width), np.float32)
    carry_w = np.zeros((0, width), np.float32)
    done, total = 0, len(grid)
    new_sum, new_w = carry_sum, carry_w
    current_row = -1
    batches = _prefetch(_read_batches(path, grid, batch_size, indexes, r0))
    try:
        for b in batches:
            y = grid.ys[b.row]
            y_fin = grid.final_row(b.row)
            y_start = grid.final_row(b.row - 1) if b.row else 0  # first row this tile row hands on
            t0, top = y_start - y, y_fin - y  # strip rows handed on; the carry starts at t0 >= 0 too
            if b.row != current_row:  # a new tile row: the previous row's strip handed down its overlap
                if current_row >= 0:
                    carry_sum, carry_w = new_sum, new_w
                current_row = b.row
                strip.reset()
                new_sum = np.zeros((k, y + th - y_fin, width), np.float32)
                new_w = np.zeros((y + th - y_fin, width), np.float32)
            probs = run(b.pixels)
            # extend the strip to the batch's last column, seeding new columns with the carried rows
            end = grid.xs[b.cols[-1]] + tw
            new_cols = end - (strip.q0 + strip.used)
            if new_cols > 0:
                a, z = strip.used, strip.used + new_cols
                lo, hi = strip.q0 + a, strip.q0 + z
                carried = min(carry_sum.shape[1], th - t0)
                if carried > 0:
                    strip.sum[:, t0 : t0 + carried, a:z] = carry_sum[:, :carried, lo:hi]
                    strip.w[t0 : t0 + carried, a:z] = carry_w[:carried, lo:hi]
                strip.valid[:, a:z] = b.valid[:, lo - b.x0 : hi - b.x0]
                strip.used = z
            for i, c in enumerate(b.cols):
                w = grid.weight(b.row, c)
                s = grid.xs[c] - strip.q0
                strip.sum[:, :, s : s + tw] += probs[i] * w
                strip.w[:, s : s + tw] += w
            # columns left of the next tile's start are final for this tile row
            x_fin = grid.final_col(b.cols[-1])
            n = x_fin - strip.q0
            blended = strip.sum[:, t0:top, :n] / strip.w[t0:top, :n]
            sink.write(Window(strip.q0, r0 + y_start, n, top - t0), blended, strip.valid[t0:top, :n])
            new_sum[:, :, strip.q0 : x_fin] = strip.sum[:, top:, :n]
            new_w[:, strip.q0 : x_fin] = strip.w[top:, :n]
            strip.drop(n)
            done += len(b.cols)
            if progress is not None:
                progress(done, total)
    finally:
        batches.close()
    return done
