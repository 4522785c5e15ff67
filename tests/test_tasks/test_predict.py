"""``worldclass predict``: the same patch scored from the store, from its official band files and from a
multi-band GeoTIFF gives the same scores; thresholds decide the labels; ids are kept in full."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio

from test_reliability.harness import run_cli
from worldclass.errors import ConfigError
from worldclass.models.checkpoint import checkpoint_meta
from worldclass.tasks.classification.predict import predict


def _patch_files(v2_root: Path, dst: Path, n: int = 3) -> list[str]:
    """Copy the S2 and S1 band files of ``n`` patches into one folder per patch (a user's patch folder)."""
    meta = pq.read_table(v2_root / "metadata.parquet").to_pylist()
    ids = []
    for row in meta[:n]:
        pid, s1 = row["patch_id"], row["s1_name"]
        folder = dst / pid
        folder.mkdir(parents=True)
        for f in [
            *v2_root.glob(f"BigEarthNet-S2/*/{pid}/*.tif"),
            *v2_root.glob(f"BigEarthNet-S1/*/{s1}/*.tif"),
        ]:
            shutil.copy(f, folder / f.name)
        ids.append(pid)
    return ids


def _as_multiband(folder: Path, bands: list[str], dst: Path) -> Path:
    """One float32 GeoTIFF with the model's bands at 10 m (120 px), band descriptions = band names."""
    from worldclass.data.patch_files import read_patch
    from worldclass.data.transforms import PatchTransform

    native = read_patch([folder], bands)
    # no normalisation: the raw values, resampled exactly as the training path does
    arr = PatchTransform(bands, normalize="none")([native])[0].numpy()
    dst.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": 120, "height": 120, "count": len(bands), "dtype": "float32"}
    with rasterio.open(dst, "w", **profile) as out:
        out.write(arr)
        for i, b in enumerate(bands, 1):
            out.set_band_description(i, b)
    return dst


def _rows(path: str | Path) -> dict[str, dict]:  # type: ignore[type-arg]
    rows = pq.read_table(path).to_pylist()
    return {r["patch_id"]: r for r in rows}


def test_files_and_geotiffs_score_like_the_store(
    cls_checkpoint: Path, v2_root: Path, v2_store: Path, tmp_path: Path
) -> None:
    meta = checkpoint_meta(cls_checkpoint)
    ids = _patch_files(v2_root, tmp_path / "patches")
    whole = pq.read_table(predict(cls_checkpoint, [v2_store], tmp_path / "store.parquet")["out"])
    store_ids = whole.column("patch_id").to_pylist()
    assert len(store_ids) == len(set(store_ids)) and min(map(len, store_ids)) > 30  # full ids
    ref = {i: r for i, r in _rows(tmp_path / "store.parquet").items() if i in ids}
    assert len(ref) >= 2
    files = _rows(predict(cls_checkpoint, [tmp_path / "patches"], tmp_path / "f.parquet")["out"])
    tif = [_as_multiband(tmp_path / "patches" / i, meta.bands, tmp_path / "tifs" / f"{i}.tif") for i in ref]
    tifs = _rows(predict(cls_checkpoint, tif, tmp_path / "t.parquet")["out"])
    for i, want in ref.items():
        got_f = np.array([files[i][c] for c in meta.classes])
        got_t = np.array([tifs[i][c] for c in meta.classes])
        expect = np.array([want[c] for c in meta.classes])
        np.testing.assert_allclose(got_f, expect, atol=1e-5)
        np.testing.assert_allclose(got_t, expect, atol=1e-5)
        assert files[i]["source"].endswith(i) and tifs[i]["source"].endswith(f"{i}.tif")
    info = json.loads(pq.read_schema(tmp_path / "f.parquet").metadata[b"worldclass"])
    assert info["classes"] == meta.classes and info["bands"] == meta.bands


def test_labels_follow_the_thresholds(cls_checkpoint: Path, v2_store: Path, tmp_path: Path) -> None:
    meta = checkpoint_meta(cls_checkpoint)
    rows = pq.read_table(
        predict(cls_checkpoint, [v2_store], tmp_path / "a.parquet", split="test")["out"]
    ).to_pylist()
    scores = np.array([[r[c] for c in meta.classes] for r in rows])
    for row, s in zip(rows, scores, strict=True):
        want = [meta.classes[j] for j in np.argsort(-s, kind="stable") if s[j] >= 0.5]
        assert row["labels"] == want and row["top_label"] == meta.classes[int(s.argmax())]
    # per-class thresholds from a file: every class just above its maximum score -> no labels at all
    thr = {c: float(min(0.999, s + 1e-3)) for c, s in zip(meta.classes, scores.max(0), strict=True)}
    (tmp_path / "thr.json").write_text(json.dumps(thr))
    none = predict(
        cls_checkpoint,
        [v2_store],
        tmp_path / "b.parquet",
        split="test",
        thresholds=str(tmp_path / "thr.json"),
    )
    assert none["label_counts"] == {}
    low = predict(cls_checkpoint, [v2_store], tmp_path / "c.parquet", split="test", thresholds=0.01)
    assert sum(low["label_counts"].values()) > sum(len(r["labels"]) for r in rows)
    tuned = predict(cls_checkpoint, [v2_store], tmp_path / "d.parquet", split="test", thresholds="tuned")
    assert tuned["thresholds"].startswith("tuned on the validation split")


def test_evaluate_writes_the_thresholds_predict_reuses(cls_checkpoint: Path, tmp_path: Path) -> None:
    from worldclass.tasks.classification.evaluate import evaluate

    evaluate(cls_checkpoint, split="test", out=tmp_path / "eval", tune=True, report=False)
    thr = json.loads((tmp_path / "eval" / "thresholds.json").read_text())
    assert list(thr) == checkpoint_meta(cls_checkpoint).classes and len(set(thr.values())) > 1


def test_predict_cli_errors_are_one_line(
    cls_checkpoint: Path, ssl_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "three.tif"
    with rasterio.open(bad, "w", driver="GTiff", width=8, height=8, count=3, dtype="uint16") as f:
        f.write(np.zeros((3, 8, 8), np.uint16))
    r = run_cli(["predict", str(cls_checkpoint), str(bad), "--out", str(tmp_path / "p.parquet")], capsys)
    assert r.code == 2 and "3 bands without band names" in r.err and "Traceback" not in r.err
    r = run_cli(["predict", str(ssl_checkpoint), str(bad), "--out", str(tmp_path / "p.parquet")], capsys)
    assert r.code == 2 and "worldclass embed" in r.err
    r = run_cli(["predict", str(cls_checkpoint), str(tmp_path / "nope")], capsys)
    assert r.code == 2 and "nope: not found" in r.err
    with pytest.raises(ConfigError, match="between 0 and 1"):
        predict(cls_checkpoint, [bad], tmp_path / "x.parquet", thresholds=1.5)
    assert not (tmp_path / "p.parquet").exists()
