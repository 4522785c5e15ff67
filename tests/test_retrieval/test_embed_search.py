"""Embedding real checkpoints (classifier, cross-sensor SSL, segmenter), resuming, searching by id and
by image, the retrieval protocol, and the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from worldclass.data.bigearthnet.naming import v2_band_path, v2_s1_band_path
from worldclass.data.dataset import BigEarthNet
from worldclass.errors import ConfigError, IncompleteStoreError, MissingFileError
from worldclass.metrics.retrieval import retrieval_metrics
from worldclass.retrieval import Embeddings, build_index
from worldclass.retrieval.embed_archive import embed
from worldclass.retrieval.evaluate import direction_name, retrieval_eval
from worldclass.retrieval.service import SearchService


class Stop(Exception):
    pass


def _patch_folders(v2_root: Path, v2_store: Path, i: int = 0) -> tuple[str, Path, Path]:
    ds = BigEarthNet(v2_store, split="all", sensors=("s2", "s1"))
    pid, s1 = ds.patch_ids[i], ds.s1_names[i]
    assert s1 is not None
    return pid, v2_band_path(v2_root, pid, "B02").parent, v2_s1_band_path(v2_root, s1, "VV").parent


def test_classifier_embeddings_resume_and_search(
    cls_checkpoint: Path, v2_store: Path, v2_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "emb"

    def interrupt(done: int, total: int) -> None:
        if done >= 16:
            raise Stop

    with pytest.raises(Stop):
        embed(cls_checkpoint, v2_store, out, chunk=8, progress=interrupt)
    assert len(list((out / "parts").glob("*.npz"))) == 2
    with pytest.raises(IncompleteStoreError, match="resume"):
        Embeddings.open(out)
    seen: list[int] = []
    embed(cls_checkpoint, v2_store, out, chunk=8, progress=lambda d, t: seen.append(d))
    emb = Embeddings.open(out)
    fresh = Embeddings.open(embed(cls_checkpoint, v2_store, tmp_path / "fresh", chunk=8))
    np.testing.assert_allclose(emb.vectors, fresh.vectors, atol=1e-5)
    assert emb.fingerprint == fresh.fingerprint and not (out / "parts").exists()
    ds = BigEarthNet(v2_store, split="all", sensors=("s2", "s1"))
    assert len(emb) == len(ds) and emb.info["sensors"] == ["s2+s1"] and emb.dim == 512  # resnet10t features
    assert np.allclose(np.linalg.norm(emb.vectors, axis=1), 1, atol=1e-5)
    assert np.array_equal(emb.multi_hot(), ds.labels() > 0) and emb.classes == list(ds.classes)

    build_index(out, tmp_path / "idx", "hnsw")
    service = SearchService(tmp_path / "idx")
    pid, s2_dir, s1_dir = _patch_folders(v2_root, v2_store, 3)
    by_id = service.by_id(pid, k=5)
    assert len(by_id["results"]) == 5 and pid not in [h["patch_id"] for h in by_id["results"]]
    # the official band files of the same patch find it first, with cosine ~1
    by_image = service.by_image([s2_dir, s1_dir], k=5)
    assert by_image["results"][0]["patch_id"] == pid and by_image["results"][0]["score"] > 0.999
    with pytest.raises(MissingFileError, match=r"lacks bands \['VV', 'VH'\]"):
        service.by_image([s2_dir], k=5)


def test_ssl_cross_sensor_protocol_and_search(
    ssl_embeddings: Path,
    ssl_checkpoint: Path,
    cls_checkpoint: Path,
    v2_store: Path,
    v2_root: Path,
    tmp_path: Path,
) -> None:
    res = retrieval_eval(ssl_embeddings, k=5)
    assert set(res["directions"]) == {"S2→S2", "S2→S1", "S1→S2", "S1→S1"}
    # every direction equals a brute-force cosine ranking of the stored vectors (validation -> test)
    emb = Embeddings.open(ssl_embeddings)
    for q_sensor, a_sensor in [("s2", "s2"), ("s2", "s1"), ("s1", "s2"), ("s1", "s1")]:
        q, a = emb.select(sensor=q_sensor, split="validation"), emb.select(sensor=a_sensor, split="test")
        top = np.argsort(-(emb.vectors[q] @ emb.vectors[a].T), axis=1, kind="stable")[:, :5]
        want = retrieval_metrics(emb.multi_hot(q), emb.multi_hot(a)[top])
        got = res["directions"][direction_name(q_sensor, a_sensor)]
        assert got["queries"] == len(q) and got["k"] == 5
        for key in ("precision", "recall", "map", "wmap_norm"):
            assert got[key] == pytest.approx(want[key], abs=1e-6), (q_sensor, a_sensor, key)
    assert 0 < res["random"]["precision"] < 1
    # an S2 archive searched with the S1 vector of a patch (stored: no recomputation)
    build_index(ssl_embeddings, tmp_path / "s2", "flat", sensor="s2")
    service = SearchService(tmp_path / "s2")
    pid, s2_dir, s1_dir = _patch_folders(v2_root, v2_store, 1)
    hits = service.by_id(pid, sensor="s1", k=4)["results"]
    assert {h["sensor"] for h in hits} == {"s2"} and len(hits) == 4
    # an uploaded S1 patch is recognised as S1 from its band files
    assert service.by_image([s1_dir], k=3)["query"]["sensor"] == "s1"
    with pytest.raises(ConfigError, match="not the model this index was built with"):
        SearchService(tmp_path / "s2", checkpoint=cls_checkpoint).by_image([s2_dir, s1_dir])
    # same plan: nothing to do; another model into the same folder: refused
    assert embed(ssl_checkpoint, v2_store, ssl_embeddings, chunk=16) == ssl_embeddings
    with pytest.raises(ConfigError, match="--overwrite"):
        embed(cls_checkpoint, v2_store, ssl_embeddings)


def test_segmentation_checkpoint_embeds_scene_windows(
    seg_checkpoint: Path, scenes_root: Path, tmp_path: Path
) -> None:
    emb = Embeddings.open(embed(seg_checkpoint, scenes_root, tmp_path / "emb", window=128))
    ids = emb.rows.column("patch_id").to_pylist()
    assert emb.info["sensors"] == ["image"] and len(ids) == len(set(ids)) and "@" in ids[0]
    assert set(emb.rows.column("split").to_pylist()) == {"train", "val"}
    assert emb.multi_hot().any(1).all()  # every window has at least one class covering >= 1 %
    idx = build_index(emb.path, tmp_path / "idx", "flat")
    assert idx.search(np.asarray(emb.vectors[:1]), 1)[1][0, 0] == 0


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worldclass", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_index_search_and_eval(ssl_embeddings: Path, v2_store: Path, tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    r = run(
        "index",
        "build",
        str(ssl_embeddings),
        "--out",
        str(idx),
        "--kind",
        "binary",
        "--bits",
        "32",
        "--sensor",
        "s2",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["kind"] == "binary"
    pid = BigEarthNet(v2_store, split="all", sensors=("s2", "s1")).patch_ids[0]
    r = run("search", str(idx), "--id", pid, "--sensor", "s2", "-k", "3", "--json")
    assert r.returncode == 0, r.stderr
    assert [h["rank"] for h in json.loads(r.stdout)["results"]] == [1, 2, 3]
    r = run("search", str(idx), "--id", pid, "-k", "3")
    assert r.returncode == 0 and "rank" in r.stdout
    r = run("retrieval-eval", str(ssl_embeddings), "-k", "5", "--out", str(tmp_path / "ev"))
    assert r.returncode == 0, r.stderr
    assert "S1→S2" in (tmp_path / "ev/results.csv").read_text()
    r = run("index", "info", str(idx))
    assert r.returncode == 0 and json.loads(r.stdout)["consistent"] is True
    for bad in (["search", str(idx)], ["search", str(tmp_path / "none"), "--id", "x"]):
        r = run(*bad)
        assert (
            r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
        )
        assert "Traceback" not in r.stderr
    for cmd in (["embed"], ["index", "build"], ["search"], ["retrieval-eval"], ["serve"]):
        r = run(*cmd, "--help")
        assert r.returncode == 0 and "Example: worldclass" in r.stdout
