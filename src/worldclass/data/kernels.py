"""Compiled (numba) kernels of the preprocessing path: native band arrays -> normalised, resampled tensors.

One call fills a whole batch, so per-band Python overhead disappears. The kernels read the native arrays
through their **addresses** (int64, one per sample and channel; see :mod:`worldclass.data.native`), which
lets the store hand over zero-copy views of its memory map without building any numpy object per band.
Callers guarantee that every address points to a live, C-contiguous array of the declared kind and size;
:func:`worldclass.data.native.pack` and the store's layout check are the only producers.

Arithmetic per channel: ``v = float32(x) * scale + shift`` at native size, then separable resampling
to ``size`` px with PyTorch's source-index conventions (bilinear ``align_corners=False``: weights
``w0, w1`` between ``i0, i1``; nearest: ``floor(dst * in / out)``), so results equal
``F.interpolate`` of the normalised band to float32 rounding. Compiled on first use and cached on disk.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.numpy_support import carray

KIND_U16 = 0  # channel kinds: dtype of the native array
KIND_F32 = 1
KINDS = {"uint16": KIND_U16, "float32": KIND_F32}


def _pointer_typing(typingctx: Any, address: Any) -> Any:
    """int64 address -> void* (so :func:`numba.carray` can view memory it did not allocate)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(types.int64), codegen


_pointer: Any = intrinsic(_pointer_typing)


@njit(cache=True, nogil=True)
def _normalise(src: Any, dst: Any, scale: float, shift: float) -> None:
    h, w = src.shape
    for y in range(h):
        for x in range(w):
            dst[y, x] = np.float32(src[y, x]) * scale + shift


@njit(cache=True, nogil=True)
def _bilinear(src: Any, dst: Any, i0: Any, i1: Any, w0: Any, w1: Any, tmp: Any) -> None:
    """Separable: rows of ``src`` to ``size`` columns into ``tmp``, then columns into ``dst``."""
    h = src.shape[0]
    size = dst.shape[1]
    for r in range(h):
        row = src[r]
        t = tmp[r]
        for x in range(size):
            t[x] = w0[x] * row[i0[x]] + w1[x] * row[i1[x]]
    for y in range(dst.shape[0]):
        a = w0[y]
        b = w1[y]
        ta = tmp[i0[y]]
        tb = tmp[i1[y]]
        d = dst[y]
        for x in range(size):
            d[x] = a * ta[x] + b * tb[x]


@njit(cache=True, nogil=True)
def _bilinear2(src: Any, dst: Any, i0: Any, i1: Any, w0: Any, w1: Any, even: Any, odd: Any) -> None:
    """:func:`_bilinear` for an exact factor of 2 (the 20 m bands), same arithmetic, contiguous loops.

    Interior output columns 2j and 2j+1 always take (j-1, j) and (j, j+1) with the weights of columns
    2 and 1; the edge columns come from the table."""
    h = src.shape[0]
    last = 2 * h - 1
    for r in range(h):
        row = src[r]
        e = even[r]
        o = odd[r]
        e[0] = w0[0] * row[i0[0]] + w1[0] * row[i1[0]]
        a, b = w0[2], w1[2]
        for j in range(1, h):
            e[j] = a * row[j - 1] + b * row[j]
        a, b = w0[1], w1[1]
        for j in range(h - 1):
            o[j] = a * row[j] + b * row[j + 1]
        o[h - 1] = w0[last] * row[i0[last]] + w1[last] * row[i1[last]]
    for y in range(dst.shape[0]):
        a, b = w0[y], w1[y]
        ea, eb, oa, ob = even[i0[y]], even[i1[y]], odd[i0[y]], odd[i1[y]]
        d = dst[y]
        for j in range(h):
            d[2 * j] = a * ea[j] + b * eb[j]
            d[2 * j + 1] = a * oa[j] + b * ob[j]


@njit(cache=True, nogil=True)
def _nearest(src: Any, dst: Any, i0: Any) -> None:
    size = dst.shape[1]
    for y in range(dst.shape[0]):
        row = src[i0[y]]
        d = dst[y]
        for x in range(size):
            d[x] = row[i0[x]]


@njit(cache=True, nogil=True)
def fill_images(
    addresses: Any,
    kind: Any,
    native: Any,
    scale: Any,
    shift: Any,
    i0: Any,
    i1: Any,
    w0: Any,
    w1: Any,
    nearest: bool,
    out: Any,
    lo: int,
    hi: int,
) -> None:
    """Samples ``lo:hi`` of ``out`` (n, C, size, size) float32 from native arrays at ``addresses`` (n, C).

    ``kind`` (n, C): KIND_U16 / KIND_F32; ``native`` (C,) px; ``scale``/``shift`` (C,) float32;
    ``i0, i1`` (C, size) int64 and ``w0, w1`` (C, size) float32 resampling tables (unused when
    ``native == size``).
    """
    channels = addresses.shape[1]
    size = out.shape[2]
    big = max(native.max(), 1)
    work = np.empty(big * big, np.float32)
    tmp = np.empty((big, size), np.float32)
    even = np.empty((big, big), np.float32)
    odd = np.empty((big, big), np.float32)
    for i in range(lo, hi):
        for c in range(channels):
            h = native[c]
            p = _pointer(addresses[i, c])
            dst = out[i, c]
            src = work[: h * h].reshape((h, h)) if h != size else dst
            if kind[i, c] == KIND_U16:
                _normalise(carray(p, (h, h), np.uint16), src, scale[c], shift[c])
            else:
                _normalise(carray(p, (h, h), np.float32), src, scale[c], shift[c])
            if h == size:
                continue
            if nearest:
                _nearest(src, dst, i0[c])
            elif size == 2 * h:
                _bilinear2(src, dst, i0[c], i1[c], w0[c], w1[c], even, odd)
            else:
                _bilinear(src, dst, i0[c], i1[c], w0[c], w1[c], tmp)


@njit(cache=True, nogil=True)
def fill_masks(addresses: Any, lut: Any, out: Any, lo: int, hi: int) -> None:
    """Samples ``lo:hi`` of ``out`` (n, H, W) int64: ``lut[min(code, len(lut) - 1)]`` of the uint16 maps."""
    h, w = out.shape[1], out.shape[2]
    top = lut.shape[0] - 1
    for i in range(lo, hi):
        codes = carray(_pointer(addresses[i]), (h, w), np.uint16)
        dst = out[i]
        for y in range(h):
            for x in range(w):
                dst[y, x] = lut[min(codes[y, x], top)]


def resampling_table(
    native: int, size: int, nearest: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(i0, i1, w0, w1), each (size,): source indices and weights of every output index, computed in
    float32 exactly as PyTorch's CPU ``upsample_bilinear2d`` (align_corners=False) / ``upsample_nearest2d``."""
    d = np.arange(size, dtype=np.float32)
    scale = np.float32(native) / np.float32(size)
    if nearest:
        i0 = np.minimum(np.floor(d * scale).astype(np.int64), native - 1)
        return i0, i0.copy(), np.ones(size, np.float32), np.zeros(size, np.float32)
    src = np.maximum(scale * (d + np.float32(0.5)) - np.float32(0.5), np.float32(0.0))
    i0 = src.astype(np.int64)
    i1 = np.minimum(i0 + 1, native - 1)
    w1 = (src - i0.astype(np.float32)).astype(np.float32)
    w0 = (np.float32(1.0) - w1).astype(np.float32)
    return i0, i1, w0, w1


@njit(cache=True, nogil=True)
def copy_native(addresses: Any, out: Any, lo: int, hi: int) -> None:
    """Samples ``lo:hi`` of ``out`` (n, C, h, h), uint16 or float32 (the arrays' kind): the native arrays at
    ``addresses`` (n, C), copied unchanged (the GPU data path resamples and normalises on the device)."""
    h = out.shape[2]
    for i in range(lo, hi):
        for c in range(addresses.shape[1]):
            src = carray(_pointer(addresses[i, c]), (h, h), out.dtype)
            out[i, c] = src
