"""Atomic writes: the previous file survives every failure, the new one appears whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from worldclass.io import atomic_open, atomic_path, write_json_atomic, write_text_atomic


def _no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith((".tmp", ".old"))]


@pytest.mark.parametrize("fault", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_previous_file(tmp_path: Path, fault: BaseException) -> None:
    target = tmp_path / "splits.csv"
    target.write_text("patch_id,split\na,train\n")
    with pytest.raises(type(fault)), atomic_open(target) as f:
        f.write("patch_id,split\nb,te")  # cut mid-line, as a full disk would
        raise fault
    assert target.read_text() == "patch_id,split\na,train\n"
    assert _no_temporaries(tmp_path)


def test_success_replaces_and_creates_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "metrics.json"
    write_json_atomic(target, {"f1": float("nan")})
    assert target.read_text() == '{\n "f1": NaN\n}\n'
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n" and _no_temporaries(target.parent)


def test_a_folder_is_swapped_whole(tmp_path: Path) -> None:
    target = tmp_path / "index"
    target.mkdir()
    (target / "old.bin").write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.bin").write_bytes(b"half")
        raise RuntimeError("failed half-way")
    assert [p.name for p in target.iterdir()] == ["old.bin"]
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.bin").write_bytes(b"new")
    assert [p.name for p in target.iterdir()] == ["new.bin"] and _no_temporaries(tmp_path)


def test_links_are_followed_and_special_files_written_in_place(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_text_atomic(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    write_text_atomic("/dev/null", "discarded\n")  # never replaced by a regular file
    assert Path("/dev/null").is_char_device()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_text_atomic(fifo, "through the pipe\n")
        assert os.read(reader, 100) == b"through the pipe\n"
    finally:
        os.close(reader)
    assert fifo.is_fifo()
