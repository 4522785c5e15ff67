"""Worker process pools tied to their parent: workers ignore Ctrl-C (the parent decides), die when the
parent dies on any signal (Linux ``PR_SET_PDEATHSIG``; elsewhere they notice a changed parent), and an
interrupted or failing ``with`` block kills them at once instead of waiting for running tasks.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

_PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def tie_to_parent(parent: int | None, started: Any = None) -> None:
    """Worker initializer: ignore SIGINT, be killed with the parent (``parent``: its pid, None when a
    fork server stands between them); then wait at the ``started`` barrier, if any, for the other workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    if started is not None:
        started.wait()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM for the ``with`` block (they are recorded) and deliver them after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    saved = {sig: signal.signal(sig, lambda signum, frame: pending.append(signum)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:  # None: set outside Python, cannot be restored from here
                signal.signal(sig, handler)
        if pending:
            signal.raise_signal(pending[0])


@contextlib.contextmanager
def process_pool(workers: int, start_method: str = "spawn") -> Iterator[ProcessPoolExecutor]:
    """A ``ProcessPoolExecutor`` of ``workers`` processes (``start_method`` spawn/fork/forkserver) whose
    workers are tied to this process; on any exception (also KeyboardInterrupt from Ctrl-C or SIGTERM)
    pending tasks are cancelled and the workers terminated before the exception propagates."""
    with _signals_held():
        context = get_context(start_method)
        barrier = context.Barrier(workers, timeout=120)
        pool = ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=tie_to_parent,
            initargs=(None if start_method == "forkserver" else os.getpid(), barrier),
        )
        # start every worker now (none runs a task before all passed the barrier): a worker interrupted
        # while it starts would print a traceback from its bootstrap
        try:
            for started in [pool.submit(os.getpid) for _ in range(workers)]:
                started.result()
        except BaseException:  # a worker that could not start (BrokenProcessPool): stop the others
            terminate(pool)
            raise
    try:
        yield pool
    except BaseException:
        terminate(pool)
        raise
    pool.shutdown(wait=True)


def terminate(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool``'s workers now and cancel its pending tasks. The workers are killed first (SIGKILL:
    their work is redone on resume): closing the pool's pipes before would make a worker that is still
    starting print an EOFError traceback."""
    processes = list(getattr(pool, "_processes", {}).values())  # no public handle before Python 3.14
    for p in processes:
        with contextlib.suppress(Exception):
            p.kill()
    with contextlib.suppress(Exception):
        pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        with contextlib.suppress(Exception):
            p.join(5)
