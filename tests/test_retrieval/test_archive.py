"""Compressed archives: a codec trained on generated patches compresses a store into bitstreams + hash
codes (resumable, checksummed), decompresses to GeoTIFFs of the right bands, dtype and grid above a
stated PSNR floor, and is searched on its codes exactly as a Hamming search done by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lmdb
import numpy as np
import pytest
import rasterio

from worldclass.data.bigearthnet.sources import lmdb_forget, lmdb_open
from worldclass.errors import ConfigError, CorruptFileError, IncompleteStoreError
from worldclass.retrieval.archive import Archive, CodeIndex, CompressJob, archive_retrieval_eval
from worldclass.retrieval.decompress import decompress

#: PSNR floor (dB, peak = each band's range over the compared patches) of the short run below, and its
#: least gain over the trivial codec that stores each band's mean (about 14 dB on these patches).
PSNR_FLOOR = 20.0
GAIN_DB = 2.5


@pytest.fixture(scope="module")
def codec_ckpt(learn_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldclass.tasks import load_config
    from worldclass.training import train

    out = tmp_path_factory.mktemp("codec")
    cfg = load_config(
        None,
        [
            "task=codec",
            f"data.root={learn_store}",
            "data.sensors=[s2]",
            "data.bands=s2-10",
            "data.batch_size=16",
            "data.num_workers=0",
            "model.latent=16",
            "model.hidden=32",
            "model.hash_bits=32",
            "codec.target_bpp=2.0",
            "optim.max_epochs=12",
            "optim.warmup_steps=2",
            "optim.lr=0.005",
            "trainer.progress=false",
            f"trainer.out={out}",
        ],
    )
    return train(cfg).best_checkpoint


def _compress(store: Path, ckpt: Path, out: Path, **kw: object) -> CompressJob:
    with CompressJob(store, ckpt, out, **kw) as job:  # type: ignore[arg-type]
        job.run_local(job.prepare(), 0)
        job.finalize()
    return job


@pytest.fixture(scope="module")
def archive(learn_store: Path, codec_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wca") / "learn.wca"
    _compress(learn_store, codec_ckpt, out, chunk=40)
    return out


def test_round_trip_bands_dtype_grid_and_quality(archive: Path, learn_store: Path, tmp_path: Path) -> None:
    a = Archive(archive)
    info = a.info
    assert info["bpp"] == pytest.approx(8 * info["bytes"]["bitstreams"] / (len(a.ids) * 120 * 120))
    assert info["source_bytes"] > 20 * (info["bytes"]["bitstreams"] + info["bytes"]["codes"])
    some = a.ids[:40]
    result = decompress(archive, tmp_path / "dec", ids=some)
    quality = result["quality"]
    assert result["written"] == 40 and quality["compared"] == 40
    assert quality["psnr_mean"] > PSNR_FLOOR, quality
    assert quality["psnr_mean"] > quality["psnr_mean_predictor"] + GAIN_DB, quality
    from worldclass.data.open import open_source

    table = open_source(learn_store).table()
    row = table.column("patch_id").to_pylist().index(some[0])
    with rasterio.open(tmp_path / "dec" / f"{some[0]}.tif") as src:
        assert src.dtypes == ("uint16",) * 10 and src.shape == (120, 120)
        assert (
            list(src.descriptions)
            == info["bands"]
            == ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
        )
        assert src.crs.to_string() == table.column("crs")[row].as_py()
        assert src.transform.c + 600 == table.column("x")[row].as_py()
    again = decompress(archive, tmp_path / "dec", ids=some, compare=False)  # a rerun skips what exists
    assert again["skipped_existing"] == 40 and again["written"] == 0


def test_code_search_equals_hamming_by_hand_and_beats_random(archive: Path) -> None:
    a = Archive(archive)
    bits = np.unpackbits(a.codes, axis=1).astype(int)
    q = 5
    hamming = (bits != bits[q]).sum(1)
    dist, idx = CodeIndex(a).search(a.codes[q : q + 1], 10)
    assert dist[0].tolist() == sorted(hamming.tolist())[:10]
    assert all(hamming[i] == d for i, d in zip(idx[0], dist[0], strict=True))
    hit = CodeIndex(a).by_id(a.ids[q], 5)
    assert a.ids[q] not in [h["patch_id"] for h in hit["results"]] and len(hit["results"]) == 5
    result = archive_retrieval_eval(archive)
    assert result["directions"]["codes→codes"]["map"] > result["random"]["map"]


def test_compress_resumes_refuses_foreign_archives_and_finds_damage(
    learn_store: Path, codec_ckpt: Path, archive: Path, v2_store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "part.wca"
    with CompressJob(learn_store, codec_ckpt, out, chunk=40) as job:  # stopped after one chunk
        todo = job.prepare()
        job.record(todo[0], job.run_unit(todo[0]))
    with pytest.raises(IncompleteStoreError):
        Archive(out)
    job = _compress(learn_store, codec_ckpt, out, chunk=40)
    assert job.result.skipped == 40 and job.result.encoded == len(job.ids) - 40
    with lmdb_open(out).begin() as ta, lmdb_open(archive).begin() as tb:
        assert [(k, v) for k, v in ta.cursor() if k[:2] in (b"b/", b"h/")] == [
            (k, v) for k, v in tb.cursor() if k[:2] in (b"b/", b"h/")
        ]
    with pytest.raises(ConfigError, match="another store or checkpoint"):
        _compress(v2_store, codec_ckpt, out)
    victim = Archive(out).ids[3]
    lmdb_forget(out)
    env = lmdb.open(str(out), map_size=1 << 30)
    with env.begin(write=True) as txn:
        value = bytearray(txn.get(f"b/{victim}".encode()))
        value[0] ^= 0xFF
        txn.put(f"b/{victim}".encode(), bytes(value))
    env.close()
    with pytest.raises(CorruptFileError, match=victim):
        Archive(out).streams([victim])


def test_cli_compress_search_eval_decompress(learn_store: Path, codec_ckpt: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "worldclass", *args], capture_output=True, text=True, timeout=300
        )

    out = tmp_path / "a.wca"
    r = run(
        "compress",
        str(learn_store),
        "--checkpoint",
        str(codec_ckpt),
        "--out",
        str(out),
        "--workers",
        "2",
        "--chunk",
        "50",
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["complete"] and summary["ratio"] > 20 and summary["bytes_per_patch"] < 4000
    pid = Archive(out).ids[0]
    r = run("search", str(out), "--id", pid, "-k", "3", "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)["results"]) == 3
    r = run("retrieval-eval", str(out), "--json")
    assert r.returncode == 0 and "codes→codes" in json.loads(r.stdout)["a.wca"]["directions"]
    (tmp_path / "ids.txt").write_text(pid + "\n")
    r = run("decompress", str(out), "--out", str(tmp_path / "d"), "--ids", str(tmp_path / "ids.txt"))
    assert r.returncode == 0 and json.loads(r.stdout)["written"] == 1
    r = run(
        "compress",
        str(learn_store),
        "--checkpoint",
        str(tmp_path / "nope.ckpt"),
        "--out",
        str(tmp_path / "x"),
    )
    assert (
        r.returncode == 2
        and "nope.ckpt: checkpoint not found" in r.stderr
        and len(r.stderr.strip().splitlines()) == 1
    )
