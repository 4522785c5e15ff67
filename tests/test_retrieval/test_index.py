"""Indexes on synthetic embedding sets: every kind, search by id, add, stale/mismatch errors, atomic rebuild."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from worldclass.errors import ConfigError, DataError
from worldclass.metrics.retrieval import recall_at_k
from worldclass.retrieval import (
    Embeddings,
    IndexParams,
    RetrievalIndex,
    add_to_index,
    build_index,
    write_embeddings,
)
from worldclass.retrieval.embeddings import l2_normalize

CLASSES = ["a", "b", "c", "d"]


def clustered(n: int, dim: int = 32, seed: int = 0, clusters: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(99).standard_normal((clusters, dim))
    c = rng.integers(0, clusters, n)
    return l2_normalize(centers[c] + 0.35 * rng.standard_normal((n, dim))), c


def make_set(path: Path, n: int = 400, seed: int = 0, prefix: str = "p", sha: str = "m1") -> Path:
    v, c = clustered(n, seed=seed)
    rows = pa.table(
        {
            "patch_id": [f"{prefix}{i}" for i in range(n)],
            "sensor": ["s2"] * n,
            "split": ["test" if i % 2 else "validation" for i in range(n)],
            "labels": [[CLASSES[k % 4], CLASSES[(k // 4) % 4]] for k in c],
        }
    )
    return write_embeddings(path, v, rows, {"model": {"sha256": sha}, "classes": CLASSES})


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq", "ivfsq", "binary"])
def test_kinds_search_close_to_exact(kind: str, tmp_path: Path) -> None:
    emb = Embeddings.open(make_set(tmp_path / "emb"))
    idx = build_index(emb.path, tmp_path / "idx", kind, params=IndexParams(bits=32, hash_steps=200))
    assert len(idx) == 400 and idx.info["metric"] == ("hamming" if kind == "binary" else "cosine")
    q = np.asarray(emb.vectors[:50])
    exact = np.argsort(-(q @ np.asarray(emb.vectors).T), 1)[:, :10]
    scores, found = idx.search(q, 10)
    assert found.shape == (50, 10) and np.all(np.diff(scores, axis=1) <= 1e-5)
    need = {"flat": 1.0, "hnsw": 0.95, "ivfpq": 0.5, "ivfsq": 0.9, "binary": 0.3}[kind]
    assert recall_at_k(found, exact) >= need
    if kind == "flat":
        assert np.array_equal(found[:, 0], np.arange(50))  # each vector finds itself first
    hit = idx.results(scores, found)[0][0]
    assert {"rank", "patch_id", "sensor", "score", "labels"} <= set(hit) and hit["labels"]


def test_trained_hash_codes_beat_random_hyperplanes(tmp_path: Path) -> None:
    """Semantic precision (top-10 from the query's cluster) of 16-bit codes: trained head > SimHash start."""
    emb = Embeddings.open(make_set(tmp_path / "emb", n=600))
    _, cluster = clustered(600)
    precision = {}
    for steps in (0, 400):
        idx = build_index(
            emb.path, tmp_path / f"b{steps}", "binary", params=IndexParams(bits=16, hash_steps=steps)
        )
        found = idx.search(np.asarray(emb.vectors[:100]), 11)[1][:, 1:]
        precision[steps] = float((cluster[found] == cluster[:100, None]).mean())
    assert precision[400] > precision[0] > 0.5


def test_search_by_id_excludes_itself_and_split_filter(tmp_path: Path) -> None:
    emb = make_set(tmp_path / "emb")
    idx = build_index(emb, tmp_path / "idx", "flat", split="test")
    assert set(idx.rows.column("split").to_pylist()) == {"test"} and len(idx) == 200
    v = idx.vector_of("p1")
    _, found = idx.search(v, 5, exclude=[("p1", "s2")])
    ids = [idx.rows.column("patch_id")[i].as_py() for i in found[0]]
    assert "p1" not in ids and len(ids) == 5
    assert idx.vector_of("p0").shape == (1, 32)  # validation rows are found in the source embeddings
    with pytest.raises(ConfigError, match="not in the embedding set"):
        idx.vector_of("nope")
    with pytest.raises(ConfigError, match="dimension 7"):
        idx.search(np.ones((1, 7)), 3)


def test_add_keeps_existing_rows_and_refuses_other_models(tmp_path: Path) -> None:
    a = make_set(tmp_path / "a", n=100)
    b = make_set(tmp_path / "b", n=150, seed=1)  # p0..p99 again (same keys) + p100..p149 new
    for kind in ("hnsw", "ivfpq", "binary"):
        out = tmp_path / f"idx-{kind}"
        build_index(a, out, kind, params=IndexParams(bits=16, hash_steps=50))
        assert add_to_index(out, b) == 50
        idx = RetrievalIndex.open(out)
        ids = idx.rows.column("patch_id").to_pylist()
        assert len(idx) == 150 and ids[:100] == [f"p{i}" for i in range(100)] and ids[-1] == "p149"
        assert add_to_index(out, b) == 0
        assert idx.vector_of("p149").shape == (1, 32)
    other = make_set(tmp_path / "c", n=20, sha="m2")
    with pytest.raises(ConfigError, match="another model"):
        add_to_index(tmp_path / "idx-hnsw", other)


def test_stale_and_mismatched_indexes_give_clear_errors(tmp_path: Path) -> None:
    emb = make_set(tmp_path / "emb")
    out = tmp_path / "idx"
    build_index(emb, out, "hnsw")
    make_set(tmp_path / "emb", seed=5)  # the embeddings were recomputed after the build
    idx = RetrievalIndex.open(out)
    with pytest.raises(DataError, match=r"stale index.*index build"):
        idx.vector_of("p3")
    rows = pq.read_table(out / "rows.parquet")
    pq.write_table(rows.slice(0, 10), out / "rows.parquet")
    with pytest.raises(DataError, match=r"rows\.parquet: missing or changed.*checksum"):
        RetrievalIndex.open(out)
    info = json.loads((out / "index.json").read_text())
    good = (out / "index.faiss").read_bytes()
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0x01  # one bit inside the vectors: faiss would read it happily
    (out / "index.faiss").write_bytes(bytes(flipped))
    with pytest.raises(DataError, match=r"index\.faiss: missing or changed.*checksum"):
        RetrievalIndex.open(out)
    (out / "index.faiss").write_bytes(good)
    del info["sha256"]  # an index written before checksums: the structural checks still apply
    (out / "index.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match=r"holds 400 vectors but rows\.parquet 10"):
        RetrievalIndex.open(out)
    (out / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(DataError, match="corrupt index files"):
        RetrievalIndex.open(out)


def test_failed_rebuild_keeps_the_previous_index(tmp_path: Path) -> None:
    emb = make_set(tmp_path / "emb")
    out = tmp_path / "idx"
    build_index(emb, out, "flat")
    with pytest.raises(ConfigError, match="must divide"):
        build_index(emb, out, "ivfpq", params=IndexParams(pq_m=5))
    with pytest.raises(ConfigError, match="choose one of"):
        build_index(emb, out, "lsh")
    assert RetrievalIndex.open(out).kind == "flat" and len(RetrievalIndex.open(out)) == 400
    with pytest.raises(ConfigError, match="no rows with sensor=s1"):
        build_index(emb, out, "flat", sensor="s1")


def test_incomplete_or_foreign_embeddings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not an embedding set"):
        Embeddings.open(tmp_path)
    emb = make_set(tmp_path / "emb")
    info = (emb / "info.json").read_text()
    (emb / "info.json").write_text(info.replace('"complete": true', '"complete": false'))
    with pytest.raises(DataError, match=r"interrupted.*resume"):
        Embeddings.open(emb)
    (emb / "info.json").write_text(info)
    np.save(emb / "vectors.npy", np.zeros((3, 32), np.float32))
    with pytest.raises(DataError, match=r"does not match rows\.parquet"):
        Embeddings.open(emb)


@pytest.mark.parametrize(
    ("field", "value"), [("hnsw_m", 0), ("ef_search", 0), ("nprobe", -1), ("nlist", -3), ("bits", 0)]
)
def test_parameters_faiss_would_abort_on_are_refused(tmp_path: Path, field: str, value: int) -> None:
    """``--hnsw-m 0`` hit a faiss assertion (exit 134, the process gone); now one ConfigError."""
    from dataclasses import replace

    from worldclass.retrieval.index import IndexParams

    emb = make_set(tmp_path / "e", n=50)
    with pytest.raises(ConfigError, match=field.replace("_", "-")):
        build_index(emb, tmp_path / "idx", "hnsw", params=replace(IndexParams(), **{field: value}))
    assert not (tmp_path / "idx").exists()
