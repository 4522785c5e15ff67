"""Ctrl-C (SIGINT) and SIGTERM sent to running `encode`, `embed` and `train` (the real executable, in a
child process): exit 130/143 with the command's resume hint and no traceback, no process left behind
(pool workers, DataLoader workers, the resource tracker), and a re-run completes with an output identical
to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from faults import train_config
from harness import Ctx


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc/<pid>/task/*/children)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            todo.extend(k for k in kids if k not in found)
            found.update(kids)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _interrupt(args: list[str], sig: int, ready: object, timeout: float = 120) -> tuple[int, str, set[int]]:
    """Start ``worldclass ARGS``, wait until ``ready(pid)`` holds, send ``sig``; returns (exit code,
    stderr, the descendants seen just before the signal)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "worldclass", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + timeout
    seen: set[int] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        seen |= _descendants(proc.pid)
        if ready(proc.pid):  # type: ignore[operator]
            seen |= _descendants(proc.pid)
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"finished before the signal: {proc.stderr.read() if proc.stderr else ''}"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err, seen


def _no_orphans(seen: set[int]) -> None:
    """None of ``seen`` still runs (workers notice their parent is gone within their poll interval)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in seen):
        time.sleep(0.1)
    assert not [p for p in seen if _alive(p)], "orphaned processes"


def _check_clean(code: int, err: str, seen: set[int], sig: int, hint: str) -> None:
    """Exit 128 + ``sig`` with ``hint``, no traceback, and none of ``seen`` still running."""
    assert code == 128 + sig, (code, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert f"interrupted: {hint}" in err, err
    _no_orphans(seen)


def _store_items(path: Path) -> dict[bytes, bytes]:
    """Every patch, metadata and checksum record of a store (the info record holds paths and counts)."""
    from worldclass.data.bigearthnet.sources import lmdb_forget, lmdb_open

    lmdb_forget(path)  # this process may hold a handle from before the re-run
    with lmdb_open(path).begin() as txn:
        return {bytes(k): bytes(v) for k, v in txn.cursor() if not k.startswith(b"__meta__/info")}


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"]
)
def test_encode_interrupted_then_resumed_equals_uninterrupted(
    sig: int, v2_root: Path, v2_store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "store"
    args = ["encode", str(v2_root), str(out), "--workers", "2"]
    code, err, seen = _interrupt(
        args, sig, lambda pid: (out / "data.mdb").exists() and len(_descendants(pid)) >= 2
    )
    assert len(seen) >= 2  # the pool's workers existed when the signal came
    if sig == signal.SIGKILL:  # nothing runs in the parent: the workers must still die with it
        assert code == -signal.SIGKILL
        _no_orphans(seen)
    else:
        _check_clean(code, err, seen, sig, "re-run the same command to resume")
    r = subprocess.run(
        [sys.executable, "-m", "worldclass", *args], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert _store_items(out) == _store_items(v2_store)


def test_embed_interrupted_then_rerun_equals_uninterrupted(
    ssl_checkpoint: Path, v2_store: Path, tmp_path: Path
) -> None:
    from worldclass.retrieval.embed_archive import embed

    out = tmp_path / "emb"
    args = [
        "embed",
        str(ssl_checkpoint),
        str(v2_store),
        "--out",
        str(out),
        "--workers",
        "2",
        "--batch-size",
        "8",
    ]
    code, err, seen = _interrupt(args, signal.SIGINT, lambda pid: len(_descendants(pid)) >= 2)
    _check_clean(code, err, seen, signal.SIGINT, "re-run the same command to resume")
    r = subprocess.run(
        [sys.executable, "-m", "worldclass", *args], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    once = embed(ssl_checkpoint, v2_store, tmp_path / "once", workers=0, batch_size=8)
    np.testing.assert_allclose(np.load(out / "vectors.npy"), np.load(once / "vectors.npy"), atol=1e-5, rtol=0)


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    from worldclass.models.checkpoint import read_checkpoint

    return {k: v for k, v in read_checkpoint(ckpt)["state_dict"].items() if v.is_floating_point()}


def test_train_sigterm_then_resume_equals_uninterrupted(
    request: pytest.FixtureRequest, v2_store: Path, tmp_path: Path
) -> None:
    from worldclass.tasks import load_config
    from worldclass.training import train

    ctx = Ctx(tmp_path, request)
    sections = {
        "data": {"num_workers": 2},
        "optim": {"max_epochs": 2, "limit_train_batches": 2, "patience": 10},
        "model": {"drop_rate": 0.2},
    }
    cfg = train_config(ctx, v2_store, tmp_path / "run", **sections)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    code, err, seen = _interrupt(["train", str(cfg)], signal.SIGTERM, lambda pid: last.exists())
    _check_clean(code, err, seen, signal.SIGTERM, "continue it with the same command plus --resume")
    r = subprocess.run(
        [sys.executable, "-m", "worldclass", "train", str(cfg), "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    console = r.stdout + r.stderr + err
    assert (
        "💡" not in console and "litlogger" not in console and "Warning" not in console
    )  # no framework noise
    once_cfg = train_config(ctx, v2_store, tmp_path / "once", **sections)
    full = _weights(train(load_config(once_cfg)).last_checkpoint)
    resumed = _weights(last)
    assert resumed.keys() == full.keys()
    for k in full:
        assert torch.allclose(resumed[k], full[k], atol=1e-6, rtol=0), k
