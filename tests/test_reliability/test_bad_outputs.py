"""Fault table, output side: folders that cannot be written (read-only, sysfs/procfs, a file where a folder
is expected), a full disk (``ulimit -f`` in a child process: writes fail with EFBIG exactly where a full
disk fails them with ENOSPC) and busy or foreign ports. One line naming the path and the reason, and the
previous output byte-identical."""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults import busy_port, class_map, good_file, index_of, train_config
from harness import Case, Ctx, check, run_cli

DENIED = r"(Permission denied|Operation not permitted|Read-only file system|No such file or directory)"


def _where(kind: str, ctx: Ctx, name: str) -> Path:
    """An output path that cannot be created: in a read-only folder, in /proc, or below a regular file."""
    if kind == "readonly":
        return ctx.readonly("ro") / name
    if kind == "proc":
        return Path("/proc/worldclass-test") / name
    good_file(ctx, "a-file", "not a folder\n")
    return ctx.tmp / "a-file" / name


def _cases() -> list[Case]:
    cases = []
    commands = {
        "splits": lambda c, o: ["splits", str(c.fx("v2_store")), "--out", str(o / "sp.csv")],
        "encode": lambda c, o: ["encode", str(c.fx("v2_root")), str(o / "store"), "--workers", "0"],
        "embed": lambda c, o: [
            "embed",
            str(c.fx("ssl_checkpoint")),
            str(c.fx("v2_store")),
            "--out",
            str(o / "e"),
        ],
        "index-build": lambda c, o: ["index", "build", str(c.fx("ssl_embeddings")), "--out", str(o / "idx")],
        "map": lambda c, o: [
            "map",
            str(c.fx("seg_checkpoint")),
            str(class_map(c.tmp / "scene.tif", bands=3)),
            "--out",
            str(o / "m.tif"),
        ],
        "polygonize": lambda c, o: [
            "polygonize",
            str(class_map(c.tmp / "map.tif", classes=["background", "building"])),
            "--out",
            str(o / "p.gpkg"),
            "--workers",
            "0",
        ],
        "inria-submission": lambda c, o: [
            "inria-submission",
            str(class_map(c.tmp / "austin1.tif", classes=["background", "building"])),
            "--out",
            str(o / "sub"),
        ],
        "retrieval-eval": lambda c, o: ["retrieval-eval", str(c.fx("ssl_embeddings")), "--out", str(o / "r")],
        "evaluate": lambda c, o: [
            "evaluate",
            str(c.fx("cls_checkpoint")),
            "--data",
            str(c.fx("v2_store")),
            "--out",
            str(o / "eval"),
        ],
        "train": lambda c, o: ["train", str(train_config(c, c.fx("v2_store"), o / "run"))],
        "synth-bigearthnet": lambda c, o: ["synth", "bigearthnet", str(o / "ben"), "--patches", "4"],
        "synth-aerial": lambda c, o: ["synth", "aerial", str(o / "aerial"), "--size", "128", "--tiles", "1"],
        "demo": lambda c, o: ["demo", "--out", str(o / "demo"), "--patches", "8", "--workers", "0"],
    }
    for kind in ("readonly", "proc", "file-as-folder"):
        for name, make in commands.items():
            if kind != "readonly" and name not in (
                "splits",
                "encode",
                "map",
                "train",
                "embed",
                "synth-aerial",
            ):
                continue  # every command meets the read-only folder; the other kinds on a sample

            def setup(ctx: Ctx, make=make, kind=kind) -> list[str]:  # type: ignore[no-untyped-def]
                return make(ctx, _where(kind, ctx, "out"))

            reason = r"(Not a directory|a file stands where a folder)" if kind == "file-as-folder" else DENIED
            cases.append(Case(f"{name}-{kind}", setup, 1, r"(/out|a-file|worldclass-).*" + reason))
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_unwritable_output_is_one_clean_line(
    case: Case, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check(case, request, tmp_path, capsys)


def test_busy_port_and_foreign_address(
    request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sock, port = busy_port()
    try:
        idx = index_of(Ctx(tmp_path, request))
        busy = run_cli(["serve", str(idx), "--port", str(port)], capsys)
    finally:
        sock.close()
    assert busy.code == 1 and busy.err.count("\n") == 1, busy.err
    assert busy.err.startswith("error: ") and "port" in busy.err and "--port" in busy.err
    foreign = run_cli(["serve", str(idx), "--host", "203.0.113.7", "--port", "0"], capsys)
    assert foreign.code == 1 and "--host 127.0.0.1" in foreign.err and "Traceback" not in foreign.err


def _limited(args: list[str], limit: int) -> subprocess.CompletedProcess[str]:
    """``worldclass ARGS`` in a child whose files may not grow past ``limit`` bytes (a full disk)."""

    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "worldclass", *args],
        capture_output=True,
        text=True,
        preexec_fn=preexec,
        env=env,
        timeout=300,
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("command", ["splits", "inria-submission", "map"])
def test_full_disk_keeps_the_previous_output(
    command: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    ctx = Ctx(tmp_path, request)
    if command == "splits":  # the previous good outputs are written in this process (no start-up cost)
        from worldclass.data.splits import make_splits

        target = tmp_path / "sp.csv"
        make_splits(ctx.fx("v2_store"), "geographic", out=target)
        args, limit = ["splits", str(ctx.fx("v2_store")), "--method", "random", "--out", str(target)], 600
    elif command == "inria-submission":
        from worldclass.mapping.inria_submission import write_inria_submission

        tile = class_map(tmp_path / "austin1.tif", classes=["background", "building"], size=512)
        target = tmp_path / "sub" / "submission.zip"
        write_inria_submission([tile], tmp_path / "sub")
        class_map(tile, classes=["background", "building"], size=1024, noise=True)  # does not fit
        args, limit = ["inria-submission", str(tile), "--out", str(tmp_path / "sub")], 3000
    else:
        from worldclass.mapping.predictor import load_predictor
        from worldclass.mapping.whole_scene import map_scenes

        scene = class_map(tmp_path / "scene.tif", bands=3, size=256)
        target = tmp_path / "m.tif"
        map_scenes(load_predictor(ctx.fx("seg_checkpoint"), device="cpu"), [scene], target, tile=128)
        args = ["map", str(ctx.fx("seg_checkpoint")), str(scene), "--out", str(target), "--tile", "128"]
        args, limit = [*args, "--probabilities"], 2000
    before = _sha(target)
    r = _limited(args, limit)
    assert r.returncode == 1, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "%|" not in ln and "━" not in ln]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    assert "free space" in lines[0] and ("nothing was replaced" in lines[0] or "unchanged" in lines[0])
    assert _sha(target) == before  # the previous output survived
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]  # no temporary left


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs (a really full disk: ENOSPC), where this runner may mount one; skipped elsewhere."""
    mount = tmp_path / "disk"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("this runner may not mount a tmpfs (the ulimit -f cases above cover full disks)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(disk: Path) -> None:
    with (disk / "filler").open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()


def test_a_really_full_disk(
    small_disk: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    from worldclass.data.splits import make_splits
    from worldclass.data.store import read_info

    ctx = Ctx(small_disk.parent, request)
    store = ctx.fx("v2_store")
    make_splits(store, "geographic", out=small_disk / "sp.csv")
    before = _sha(small_disk / "sp.csv")
    out = run_cli(["encode", str(ctx.fx("v2_root")), str(small_disk / "store"), "--workers", "0"], capsys)
    lines = [ln for ln in out.err.splitlines() if ln.strip() and "━" not in ln]
    assert out.code == 1 and len(lines) == 1 and "Traceback" not in out.err, out.err
    assert f"{small_disk / 'store'}: cannot write the store" in lines[0] and "re-run" in lines[0]
    assert not read_info(small_disk / "store").get("complete")  # never a complete-looking partial store
    _fill(small_disk)
    out = run_cli(["splits", str(store), "--method", "random", "--out", str(small_disk / "sp.csv")], capsys)
    assert out.code == 1 and out.err.count("\n") == 1, out.err
    assert str(small_disk / "sp.csv") in out.err and "the disk is full" in out.err
    assert _sha(small_disk / "sp.csv") == before
    assert not [p for p in small_disk.iterdir() if p.name.endswith(".tmp")]
