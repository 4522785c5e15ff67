"""Atomic writes: the new content goes to a temporary name in the target's folder, is flushed to disk,
then renamed over the target (``os.replace``, atomic on POSIX). A failure at any point (full disk,
permissions, Ctrl-C) removes the temporary file and leaves the previous file byte-identical.

Temporary names are ``.<name>.<pid>.tmp`` (hidden, next to the target, so the rename never crosses a
file system); a stale one from a killed run is overwritten by the next. A symbolic link is followed (the
file it points to is replaced, the link stays); a special file (``/dev/null``, ``/dev/stdout``, a FIFO) is
written in place, never replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for any writer (rasterio, pyarrow, zipfile); on success it
    is synced and renamed to ``path``, on any exception (also KeyboardInterrupt) it is removed. The
    parent folder is created. A folder written at the temporary path replaces a previous folder."""
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    if target.exists() and not (target.is_file() or target.is_dir()):  # a device or pipe: write into it
        yield target
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(target)
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_file():
            _fsync(tmp)
        if tmp.is_dir() and target.is_dir():
            old = target.with_name(f".{target.name}.{os.getpid()}.old")
            os.replace(target, old)
            os.replace(tmp, target)
            _remove(old)
        else:
            os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        if exc.filename is None:  # e.g. Arrow's write errors: say which output failed
            exc.filename = str(target)
        raise
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open(path, mode)`` whose content appears at ``path`` only when the block ends without error."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes whole files; mode {mode!r} is not a write mode")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json_atomic(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 1) -> None:
    """Replace ``path`` with ``obj`` as JSON atomically (NaN written as ``NaN``, as Python reads it)."""
    write_text_atomic(path, json.dumps(obj, indent=indent, allow_nan=True) + "\n")


def _remove(path: Path) -> None:
    import shutil

    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file (identifies the exact weights or index an artefact was made with)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
