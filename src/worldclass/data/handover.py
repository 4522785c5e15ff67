"""Zero-copy hand-over of batch tensors from DataLoader worker processes to the main process.

PyTorch moves every tensor a worker returns into a *fresh* shared-memory segment (allocate, page-fault,
copy) and the main process maps it anew: for 14-band 120 px batches that costs more than producing
them. Here each worker keeps a few **slots** per buffer size in one file under ``/dev/shm``, written
once and reused:

- in a worker, :meth:`worldclass.data.native.BufferPool.take` hands out a tensor on a free slot;
- :func:`worldclass.data.collate.collate` replaces such a tensor by a :class:`SlotRef` (a few bytes to
  pickle) and marks the slot as handed over;
- the main process maps the file once and rebuilds the tensor on the slot; when the last tensor/view
  of it is freed there, the slot's flag byte is cleared and the worker may write it again.

A slot is only rewritten after the main process released it, so batches a user keeps stay valid; when all
slots are in use (or ``/dev/shm`` is missing or full) the worker falls back to ordinary memory and
PyTorch's own transfer. The main process removes the file's name as soon as it has mapped it, and unmaps it once the worker has
exited and no tensor uses it; a worker removes its file when it exits without handing anything over.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets
import threading
import weakref
from dataclasses import dataclass
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any

import numpy as np
import torch

SHM_DIR = Path("/dev/shm")
SLOTS = 4  # per buffer size and worker: prefetched batches (2 by default) + the one in use + one spare
MAX_RINGS = 4  # buffer sizes per worker (images, masks, a smaller last batch, ...)
_HEADER = mmap.PAGESIZE  # flag bytes (one per slot) live in the first page


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class _Ring:
    """Worker side: ``SLOTS`` slots of ``slot_bytes`` in one shared file; byte k of the header is 1 while
    slot k is in use (by this worker or by the main process)."""

    def __init__(self, slot_bytes: int) -> None:
        self.slot_bytes = slot_bytes
        self.path = str(SHM_DIR / f"worldclass-{os.getpid()}-{secrets.token_hex(6)}")
        size = _HEADER + SLOTS * slot_bytes
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)  # reserve the space now: a full /dev/shm must not SIGBUS later
            self.mm = mmap.mmap(fd, size)
        except OSError:
            _unlink(self.path)
            raise
        finally:
            os.close(fd)
        self.handed: set[int] = set()
        self.addresses = {
            np.frombuffer(self.mm, np.uint8, 1, _HEADER + k * slot_bytes).__array_interface__["data"][0]: k
            for k in range(SLOTS)
        }
        Finalize(self, _unlink, args=(self.path,), exitpriority=10)

    def take(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> torch.Tensor | None:
        for k in range(SLOTS):
            if self.mm[k] == 0:
                self.mm[k] = 1
                count = int(np.prod(shape))
                view = np.frombuffer(self.mm, dtype, count, _HEADER + k * self.slot_bytes).reshape(shape)
                weakref.finalize(view, self._release, k)
                return torch.from_numpy(view)
        return None

    def _release(self, k: int) -> None:
        """The worker's own tensor died: free the slot unless it went to the main process."""
        if k in self.handed:
            self.handed.discard(k)
        else:
            self.mm[k] = 0


@dataclass(frozen=True)
class SlotRef:
    """Pickled in place of a slot tensor; unpickles to a tensor on the same slot in the main process."""

    path: str
    slot: int
    slot_bytes: int
    shape: tuple[int, ...]
    dtype: str

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _attach, (self.path, self.slot, self.slot_bytes, self.shape, self.dtype)


class _Worker:
    """This worker process's rings, by slot size; disabled for good after the first failure."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.rings: dict[int, _Ring] = {}
        self.disabled = not SHM_DIR.is_dir()

    def take(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> torch.Tensor | None:
        nbytes = int(np.prod(shape)) * dtype.itemsize
        for size in sorted(b for b in self.rings if b >= nbytes):  # e.g. a smaller last batch fits too
            tensor = self.rings[size].take(shape, dtype)
            if tensor is not None:
                return tensor
        slot_bytes = -(-nbytes // mmap.PAGESIZE) * mmap.PAGESIZE
        if slot_bytes in self.rings or len(self.rings) >= MAX_RINGS:
            return None  # every fitting slot is in use: ordinary memory this time
        try:
            ring = self.rings[slot_bytes] = _Ring(slot_bytes)
        except OSError:
            self.disabled = True
            return None
        return ring.take(shape, dtype)

    def hand_over(self, tensor: torch.Tensor) -> SlotRef | None:
        address = tensor.data_ptr()
        for ring in self.rings.values():
            k = ring.addresses.get(address)
            if k is not None and tensor.is_contiguous() and ring.mm[k] == 1:
                ring.handed.add(k)
                dtype = str(tensor.numpy().dtype)
                return SlotRef(ring.path, k, ring.slot_bytes, tuple(tensor.shape), dtype)
        return None


_WORKER: _Worker | None = None


def _worker() -> _Worker | None:
    """This process's hand-over state when it is a DataLoader worker, else None."""
    global _WORKER
    if torch.utils.data.get_worker_info() is None:
        return None
    if _WORKER is None or _WORKER.pid != os.getpid():
        _WORKER = _Worker()
    return None if _WORKER.disabled else _WORKER


def take(shape: tuple[int, ...], dtype: np.dtype[Any]) -> torch.Tensor | None:
    """In a DataLoader worker: a tensor on a free shared slot, else None (use ordinary memory)."""
    w = _worker()
    return w.take(shape, dtype) if w is not None else None


def hand_over(tensor: torch.Tensor) -> torch.Tensor | SlotRef:
    """In a worker, a :class:`SlotRef` for a tensor on a slot (the slot now belongs to the main process);
    anything else is returned as it is."""
    w = _worker()
    ref = w.hand_over(tensor) if w is not None else None
    return ref if ref is not None else tensor


# ---- main-process side -------------------------------------------------------------------------------

_MAPS: dict[str, list[Any]] = {}  # path -> [mmap, live tensors, worker pid]
_LOCK = threading.RLock()  # re-entrant: a garbage collection inside may run _released in this thread


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _attach(path: str, slot: int, slot_bytes: int, shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    with _LOCK:
        entry = _MAPS.get(path)
        if entry is None:
            _sweep()
            fd = os.open(path, os.O_RDWR)
            try:
                entry = _MAPS[path] = [mmap.mmap(fd, 0), 0, int(Path(path).name.split("-")[1])]
            finally:
                os.close(fd)
            _unlink(path)  # both sides have it mapped: the name is no longer needed
        entry[1] += 1
    mm = entry[0]
    count = int(np.prod(shape))
    view = np.frombuffer(mm, np.dtype(dtype), count, _HEADER + slot * slot_bytes).reshape(shape)
    weakref.finalize(view, _released, path, slot)
    return torch.from_numpy(view)


def _released(path: str, slot: int) -> None:
    with _LOCK:
        entry = _MAPS[path]
        entry[0][slot] = 0  # the worker may write this slot again
        entry[1] -= 1
        if entry[1] == 0:
            _sweep()


def release_unused() -> None:
    """Unmap what exited workers left behind (also done automatically when slots are released)."""
    with _LOCK:
        _sweep()


def _sweep() -> None:
    """Unmap the slots of exited workers once no tensor uses them; remove slot files left by workers that
    were killed before handing anything over."""
    for path, (mm, live, pid) in list(_MAPS.items()):
        if live == 0 and not _alive(pid):
            try:
                mm.close()
            except BufferError:  # the last view is still being freed; a later sweep closes it
                continue
            _MAPS.pop(path, None)
    for f in SHM_DIR.glob("worldclass-*"):
        pid = f.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            _unlink(str(f))
