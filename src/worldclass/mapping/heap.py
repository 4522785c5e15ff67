"""Keep the host heap from growing over a long scene run (glibc only; a no-op elsewhere).

glibc raises its mmap threshold each time a large mmapped block is freed (up to 32 MiB), after which
the network's per-batch activations (tens to hundreds of MiB, freed every batch and in two threads)
come from the fragmenting heap arenas and the process's RSS creeps up with the number of batches:
measured +130 MiB from 0.01 to 0.05 Gpx with a fixed batch. Pinning the threshold (128 KiB, the glibc
default) and the trim threshold returns every large buffer to the OS when it is freed, so peak memory
is set by one batch, not by the scene size.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_THRESHOLD = 128 * 1024
_done = False


def bound_heap() -> bool:
    """Pin glibc's mmap and trim thresholds once per process; True when applied."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or no libc: nothing to pin
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _THRESHOLD))
    return _done
