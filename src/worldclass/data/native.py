"""Native batches: where the native band arrays of a batch live, plus recycled output buffers.

A :class:`NativeBatch` is what sources hand to :class:`~worldclass.data.transforms.PatchTransform`:
for every sample and channel the address and kind (uint16 / float32) of a C-contiguous native array,
valid while the batch's ``keep`` objects (arrays, or the store's memory-mapped values) are alive.
:func:`pack` builds one from dicts of arrays (any source), checking every array; the store builds one
straight from its memory map with one layout check per distinct patch layout.

:class:`BufferPool` recycles the (B, C, H, W) output buffers: a buffer comes back to the pool when the
last tensor or view using it is freed. Fresh 50 MB batches cost more in page faults than the whole
resampling does; recycled ones cost nothing. In DataLoader workers the buffers are shared-memory slots
that the main process maps once (:mod:`worldclass.data.handover`).
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from worldclass.data import handover
from worldclass.data.kernels import KIND_F32, KIND_U16
from worldclass.data.sensors import BANDS
from worldclass.errors import DataError

Arrays = dict[str, npt.NDArray[Any]]


@dataclass
class NativeBatch:
    """Addresses (n, C) int64 and kinds (n, C) int64 of the native arrays of ``bands``; ``mask_addresses``
    (n,) of the uint16 (120, 120) reference maps or None; ``arrays``: the dicts when built by :func:`pack`."""

    addresses: npt.NDArray[np.int64]
    kinds: npt.NDArray[np.int64]
    mask_addresses: npt.NDArray[np.int64] | None = None
    arrays: list[Arrays] | None = None
    keep: list[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.addresses.shape[0])


def _address(a: npt.NDArray[Any]) -> int:
    address: int = a.__array_interface__["data"][0]
    return address


def _conform(value: Any, size: int, dtypes: tuple[str, ...], what: str) -> npt.NDArray[Any]:
    a: npt.NDArray[Any] = np.asarray(value)
    if a.shape != (size, size):
        raise DataError(f"{what} is {a.shape}, expected ({size}, {size}); read the patch at its native size")
    if a.dtype.name in dtypes and a.flags.c_contiguous and a.dtype.isnative and a.flags.aligned:
        return a
    return np.ascontiguousarray(a, dtype=np.uint16 if a.dtype.name == "uint16" else np.float32)


def pack(
    batch: Sequence[Arrays],
    bands: Sequence[str],
    mask: bool,
    names: Sequence[str] | None = None,
    *,
    native_sizes: Sequence[int] | None = None,
    mask_size: int = 120,
) -> NativeBatch:
    """Check the arrays of every sample and collect their addresses. Any numeric dtype is accepted
    (uint16 kept, others converted to float32); shapes must be the bands' native sizes (``native_sizes``
    in px, one per band; default: BigEarthNet's, :attr:`worldclass.data.sensors.Band.size`), reference
    maps ``mask_size`` px. ``names`` (one per sample, e.g. the patch id) appear in error messages."""
    sizes = list(native_sizes) if native_sizes is not None else [BANDS[b].size for b in bands]
    n = len(batch)
    addresses = np.empty((n, len(bands)), np.int64)
    kinds = np.empty((n, len(bands)), np.int64)
    masks = np.empty(n, np.int64) if mask else None
    keep: list[Any] = []
    for i, sample in enumerate(batch):
        where = names[i] if names is not None else f"sample {i}"
        for c, b in enumerate(bands):
            if b not in sample:
                raise DataError(f"{where}: band {b} missing (has {sorted(sample)}); read it from the source")
            a = _conform(sample[b], sizes[c], ("uint16", "float32"), f"{where}: band {b}")
            keep.append(a)
            addresses[i, c] = _address(a)
            kinds[i, c] = KIND_U16 if a.dtype == np.uint16 else KIND_F32
        if masks is not None:
            m = sample.get("reference_map")
            if m is None:
                raise DataError(f"{where}: reference map missing; v2 sources provide it")
            if np.asarray(m).dtype != np.uint16:
                raise DataError(f"{where}: reference map has dtype {m.dtype}, expected uint16 CLC codes")
            m = _conform(m, mask_size, ("uint16",), f"{where}: reference map")
            keep.append(m)
            masks[i] = _address(m)
    return NativeBatch(addresses, kinds, masks, list(batch), keep)


class BufferPool:
    """Hands out tensors on recycled memory; a block returns when its last tensor/view is freed.

    Keeps at most ``keep`` free blocks per size. Safe with threads and after fork (state is per process).
    """

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self._pid = -1
        self._lock = threading.RLock()  # re-entrant: a garbage collection inside may run _give_back
        self._free: dict[int, list[npt.NDArray[np.uint8]]] = {}

    def _state(self) -> None:
        if self._pid != os.getpid():  # a forked child starts with an empty pool and a fresh lock
            self._pid, self._lock, self._free = os.getpid(), threading.RLock(), {}

    def take(self, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised tensor of ``shape`` and ``dtype`` (float32 / int64 / ...)."""
        np_dtype = torch.empty((), dtype=dtype).numpy().dtype
        shared = handover.take(tuple(shape), np_dtype)  # DataLoader worker: a reusable shared slot
        if shared is not None:
            return shared
        nbytes = math.prod(shape) * np_dtype.itemsize
        self._state()
        with self._lock:
            blocks = self._free.get(nbytes)
            block = blocks.pop() if blocks else None
        if block is None:
            block = np.empty(nbytes, np.uint8)
        view = block.view(np_dtype).reshape(tuple(shape))
        weakref.finalize(view, self._give_back, block, os.getpid())
        return torch.from_numpy(view)

    def _give_back(self, block: npt.NDArray[np.uint8], pid: int) -> None:
        if pid != os.getpid():
            return
        with self._lock:
            blocks = self._free.setdefault(block.nbytes, [])
            if len(blocks) < self.keep:
                blocks.append(block)


POOL = BufferPool()

_EXECUTOR: tuple[int, int, ThreadPoolExecutor] | None = None


def run_split(kernel: Callable[..., None], n: int, *args: Any) -> None:
    """Call ``kernel(*args, lo, hi)`` over ``range(n)`` split across ``torch.get_num_threads()`` threads
    (the kernels release the GIL). DataLoader workers run with one thread, so they call it inline."""
    global _EXECUTOR
    threads = max(1, min(torch.get_num_threads(), n, 8))
    if threads == 1:
        kernel(*args, 0, n)
        return
    if _EXECUTOR is None or _EXECUTOR[0] != os.getpid() or _EXECUTOR[1] != threads:
        if _EXECUTOR is not None and _EXECUTOR[0] == os.getpid():  # thread count changed: retire the old pool
            _EXECUTOR[2].shutdown(wait=False)
        _EXECUTOR = (os.getpid(), threads, ThreadPoolExecutor(threads - 1, thread_name_prefix="worldclass"))
    bounds = [n * k // threads for k in range(threads + 1)]
    futures = [_EXECUTOR[2].submit(kernel, *args, bounds[k], bounds[k + 1]) for k in range(threads - 1)]
    kernel(*args, bounds[-2], bounds[-1])
    for f in futures:
        f.result()
