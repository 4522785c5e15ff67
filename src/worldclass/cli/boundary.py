"""The CLI's one error boundary: every way a command can end becomes an exit code and at most one line.

| what ended the command                       | exit | stderr                                              |
|----------------------------------------------|------|-----------------------------------------------------|
| success                                      | 0    | (progress only)                                     |
| usage error (missing argument, bad option)   | 2    | the short usage message                             |
| ``WorldclassError``                          | its  | ``error: <message naming the file and the fix>``    |
| ``OSError`` (permissions, full disk, port)   | 1    | ``error: <path>: <reason>; <fix>``                  |
| library error a user can cause (LMDB, Arrow, | 1    | ``error: <library>: <message>; <fix>``              |
| GDAL, faiss, Lightning configuration)        |      |                                                     |
| Ctrl-C / SIGTERM                             | 130 / 143 | ``interrupted: <the command's resume hint>``   |
| anything else (a bug in worldclass)          | 70   | one line + the file the traceback was written to    |

``--debug`` (anywhere on the command line) or ``WORLDCLASS_DEBUG=1`` re-raises, so the full traceback
shows. SIGTERM is turned into the same clean shutdown as Ctrl-C (``finally`` blocks run, worker pools are
stopped), so a killed job leaves no orphans and no half-written output.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

BUG_EXIT = 70  # EX_SOFTWARE
_received: list[int] = []

#: What a user does after an interrupt, per command (the first words of the command line).
RESUME_HINTS: dict[str, str] = {
    "train": "continue it with the same command plus --resume (last.ckpt holds the last finished epoch)",
    "experiment": "re-run the same command; finished runs are kept and skipped",
    "encode": "re-run the same command to resume; encoded patches are kept",
    "embed": "re-run the same command to resume; finished chunks are kept",
    "map": "re-run the same command; the previous output, if any, is unchanged",
    "polygonize": "re-run the same command; the previous output, if any, is unchanged",
    "serve": "stopped",
    "fl": "continue it with the same command plus --resume (fl_state.pt holds the last finished round)",
}
QUIET_LOGGERS = ("rasterio", "tifffile", "pyogrio", "fiona")
DEFAULT_HINT = "nothing was changed; re-run the same command"

_ERRNO_FIX: dict[int, str] = {
    errno.EACCES: "choose a location you may write (or read), or fix its permissions",
    errno.EPERM: "choose a location you may write (or read), or fix its permissions",
    errno.EROFS: "the file system is read-only; choose a writable location",
    errno.ENOSPC: "the disk is full; free space or choose another location (nothing was replaced)",
    errno.EDQUOT: "the disk quota is exhausted; free space or choose another location",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a file stands where a folder is expected; choose another path",
    errno.EISDIR: "a folder stands where a file is expected; choose another path",
    errno.EEXIST: "it already exists; remove it or choose another path",
    errno.EADDRINUSE: "the port is taken; pick another with --port",
    errno.EADDRNOTAVAIL: "this machine has no such address; use --host 127.0.0.1",
    errno.EMFILE: "too many open files; raise `ulimit -n` or use fewer --workers",
    errno.ENOMEM: "out of memory; use a smaller --batch-size or fewer --workers",
    errno.EIO: "the device reported an I/O error; check the disk",
    errno.EINVAL: "the file system does not support this; choose another location",
    errno.EFBIG: "the file grew past the size this file system or `ulimit -f` allows; free space or "
    "choose another location (nothing was replaced)",
}

# (module prefix of the exception class, name for the message, fix)
_LIBRARY_ERRORS: tuple[tuple[str, str, str], ...] = (
    ("lmdb", "LMDB store", "the store is damaged or held by another process; re-run `worldclass encode`"),
    ("pyarrow", "Parquet/Arrow table", "the table is damaged or not a worldclass table; recreate it"),
    ("rasterio", "raster", "check that the file is a readable GeoTIFF"),
    ("pyogrio", "vector layer", "check that the file is a readable GeoPackage/GeoJSON"),
    ("safetensors", "tensor file", "the file is damaged; recreate it"),
    ("yaml", "YAML config", "fix the YAML syntax at the position given"),
    ("lightning", "Lightning", "fix the trainer section of the config"),
)


def _hint(argv: list[str]) -> str:
    words = [a for a in argv if not a.startswith("-")]
    return RESUME_HINTS.get(words[0], DEFAULT_HINT) if words else DEFAULT_HINT


def describe_os_error(exc: OSError) -> str:
    """``<path>: <reason>; <fix>`` for an OS error (the path is the one the OS named, if any)."""
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    reason = exc.strerror or str(exc) or type(exc).__name__
    fix = _ERRNO_FIX.get(exc.errno or -1, "")
    where = " -> ".join(paths)
    return f"{where + ': ' if where else ''}{reason}{'; ' + fix if fix else ''}"


def describe_library_error(exc: BaseException) -> str | None:
    """One line for an error a third-party library raised on user input, or None if it is not one."""
    module = type(exc).__module__ or ""
    text = " ".join(str(exc).split())[:500] or type(exc).__name__
    for prefix, what, fix in _LIBRARY_ERRORS:
        if module == prefix or module.startswith(prefix + "."):
            return f"{what}: {text}; {fix}"
    if isinstance(exc, RuntimeError) and ("faiss" in text or ("Error in " in text and ".cpp" in text)):
        return f"faiss index: {text}; the index is damaged or the parameters are invalid; rebuild it"
    if isinstance(exc, MemoryError):
        return "out of memory; use a smaller --batch-size, --tile or fewer --workers"
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(exc, BrokenProcessPool):
        return "a worker process died (out of memory or killed); re-run with fewer --workers"
    return None


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def _unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """After an interrupt, stay quiet about clean-up noise, and re-deliver an interrupt that landed where
    Python can only ignore it (an at-fork handler, a ``__del__``): the command must still stop."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        import _thread
        import threading

        signum = _received[-1] if _received else signal.SIGINT  # raised again in the main thread once
        timer = threading.Timer(0.1, _thread.interrupt_main, args=(signum,))  # this hook has returned
        timer.daemon = True
        timer.start()
        return
    if not _received:
        sys.__unraisablehook__(unraisable)


def _write_traceback() -> str:
    path = os.path.join(tempfile.gettempdir(), f"worldclass-traceback-{int(time.time())}-{os.getpid()}.txt")
    try:
        with open(path, "w") as f:
            f.write(f"worldclass {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}")
    except OSError:
        return "(could not write the traceback; re-run with --debug)"
    return path


def _worker_message(message: str) -> str:
    """The user's one line of an error re-raised from a DataLoader worker (torch wraps it as "Caught X in
    DataLoader worker process N." + the worker's traceback; the original message is the last line)."""
    if not (message.startswith("Caught ") and "Original Traceback" in message):
        return message
    last = [line for line in message.splitlines() if line.strip()][-1]
    head, sep, rest = last.partition(": ")
    return rest if sep and head.startswith("worldclass.errors.") else last


def _fail(message: str, code: int) -> NoReturn:
    sys.stderr.flush()
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def run(command: Callable[[], object], argv: list[str]) -> NoReturn:
    """Run ``command`` (the typer app in non-standalone mode) for the words ``argv`` behind the boundary."""
    from worldclass.errors import WorldclassError

    debug = os.environ.get("WORLDCLASS_DEBUG", "") not in ("", "0")
    _received.clear()
    if not debug:  # GDAL/libtiff chatter precedes the one line that explains the failure: keep it out
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    if hasattr(signal, "SIGXFSZ"):  # a file-size limit: let write() fail with EFBIG, explained below
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler, None):
            signal.signal(sig, _on_signal)
    if not debug:
        sys.unraisablehook = _unraisable
    try:
        outcome = command()  # click returns an Exit's code in non-standalone mode
        if outcome == 130:  # typer turns KeyboardInterrupt into Exit(130)
            raise KeyboardInterrupt
    except WorldclassError as exc:
        if debug:
            raise
        _fail(_worker_message(str(exc)), exc.exit_code)
    except KeyboardInterrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal must not break the clean-up and exit
            signal.signal(sig, signal.SIG_IGN)
        if not _received:
            _received.append(signal.SIGINT)  # e.g. typer's Exit(130): silence the clean-up noise too
        code = 128 + (_received[-1] if _received else signal.SIGINT)
        print(f"\ninterrupted: {_hint(argv)}", file=sys.stderr)
        sys.exit(code)
    except BrokenPipeError:  # `worldclass ... | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(outcome if isinstance(outcome, int) else 0)
    except SystemExit:
        raise
    except OSError as exc:
        if debug:
            raise
        library = describe_library_error(exc) if exc.errno is None else None  # RasterioIOError is one
        _fail(library or describe_os_error(exc), 1)
    except Exception as exc:
        from worldclass.cli.usage import usage_outcome

        outcome = usage_outcome(exc)
        if outcome is not None:
            sys.exit(outcome)
        if debug:
            raise
        line = describe_library_error(exc)
        if line is not None:
            _fail(line, 1)
        where = _write_traceback()
        _fail(
            f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); this is a bug in "
            f"worldclass, please report it with the traceback written to {where}",
            BUG_EXIT,
        )
    sys.exit(outcome if isinstance(outcome, int) else 0)
