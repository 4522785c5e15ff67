"""Inference needs no training loop: ``map``, ``embed``, ``index build``, ``search --image`` and ``serve``
run in processes where importing Lightning fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from worldclass.data.bigearthnet.naming import v2_band_path
from worldclass.data.dataset import BigEarthNet

BLOCK = """
import importlib.abc, sys
class NoLightning(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("lightning", "pytorch_lightning", "lightning_fabric"):
            raise ImportError(f"{name} is blocked in this test")
        return None
sys.meta_path.insert(0, NoLightning())
sys.argv = ["worldclass", *sys.argv[1:]]
from worldclass.cli import main
main()
"""


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", BLOCK, *args]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cmd(*args), capture_output=True, text=True, timeout=600)


def test_blocker_really_blocks() -> None:
    r = subprocess.run(
        [sys.executable, "-c", BLOCK.replace("from worldclass.cli import main\nmain()", "import lightning")],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "blocked" in r.stderr


def test_map_embed_search_and_serve_without_lightning(
    seg_checkpoint: Path,
    ssl_checkpoint: Path,
    scenes_root: Path,
    v2_store: Path,
    v2_root: Path,
    tmp_path: Path,
) -> None:
    scene = sorted((scenes_root / "images").glob("*.tif"))[0]
    r = _run("map", str(seg_checkpoint), str(scene), "--out", str(tmp_path / "map.tif"), "--tile", "128")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "map.tif").is_file()
    r = _run("embed", str(ssl_checkpoint), str(v2_store), "--out", str(tmp_path / "emb"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["sensors"] == ["s2", "s1"]
    r = _run(
        "index",
        "build",
        str(tmp_path / "emb"),
        "--kind",
        "flat",
        "--sensor",
        "s2",
        "--out",
        str(tmp_path / "idx"),
    )
    assert r.returncode == 0, r.stderr
    ds = BigEarthNet(v2_store, split="all", sensors=("s2", "s1"))
    pid, s1 = ds.patch_ids[2], ds.s1_names[2]
    assert s1 is not None
    s2_dir = v2_band_path(v2_root, pid, "B02").parent
    r = _run("search", str(tmp_path / "idx"), "--image", str(s2_dir), "-k", "3", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["patch_id"] == pid  # the patch's own files find it first
    port = 18000 + os.getpid() % 1000
    proc = subprocess.Popen(
        _cmd("serve", str(tmp_path / "idx"), "--port", str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        body = b""
        for _ in range(120):
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/search?id={pid}&k=2", timeout=10
                ) as resp:
                    body = resp.read()
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert len(json.loads(body)["results"]) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)
