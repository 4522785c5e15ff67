import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
import torch

from worldclass.data import BigEarthNet
from worldclass.data.bigearthnet import naming
from worldclass.data.encode import encode
from worldclass.data.store import read_info
from worldclass.errors import CorruptFileError, DataError, IncompleteStoreError, LabelError, MissingFileError


def _first(root: Path) -> tuple[str, str]:
    t = pq.read_table(root / naming.V2_METADATA).to_pydict()
    return t["patch_id"][0], t["s1_name"][0]


def test_parallel_encode_matches_serial(v2_root: Path, v2_store: Path, tmp_path: Path) -> None:
    res = encode(v2_root, tmp_path / "par", workers=2)
    assert res.complete and res.encoded == res.total and not res.problems
    a = BigEarthNet(tmp_path / "par", split="all", include_snow_cloud=True, num_classes=43)
    b = BigEarthNet(v2_store, split="all", include_snow_cloud=True, num_classes=43)
    assert a.patch_ids == b.patch_ids
    assert torch.equal(a[5]["image"], b[5]["image"]) and np.array_equal(a.labels(), b.labels())


def test_missing_band_is_reported_then_resume_completes(v2_copy: Path, tmp_path: Path) -> None:
    pid, _ = _first(v2_copy)
    band = naming.v2_band_path(v2_copy, pid, "B8A")
    moved = tmp_path / "B8A.tif"
    shutil.move(band, moved)
    store = tmp_path / "store"
    with pytest.raises(IncompleteStoreError, match=pid):
        encode(v2_copy, store, workers=0)
    info = read_info(store)
    assert info["complete"] is False and info["missing"] == [pid]
    assert pid in (store / "encode-problems.txt").read_text()
    with pytest.raises(IncompleteStoreError, match="incomplete"):
        BigEarthNet(store)  # never looks complete
    shutil.move(moved, band)
    res = encode(v2_copy, store, workers=0)  # resume: only the missing patch is encoded
    assert res.complete and res.encoded == 1 and res.skipped == res.total - 1


def test_allow_missing_completes_without_the_patch(v2_copy: Path, tmp_path: Path) -> None:
    pid, s1 = _first(v2_copy)
    naming.v2_s1_band_path(v2_copy, s1, "VH").unlink()
    res = encode(v2_copy, tmp_path / "store", workers=0, allow_missing=True)
    assert res.complete and list(res.problems) == [pid]
    ds = BigEarthNet(tmp_path / "store", split="all", include_snow_cloud=True)
    assert pid not in ds.patch_ids and read_info(tmp_path / "store")["missing"] == [pid]


@pytest.mark.parametrize("defect", ["wrong_size", "wrong_dtype", "corrupt"])
def test_bad_rasters_give_one_clear_message(v2_copy: Path, defect: str) -> None:
    pid, _ = _first(v2_copy)
    path = naming.v2_band_path(v2_copy, pid, "B02")
    if defect == "corrupt":
        path.write_bytes(b"II*\x00garbage")
        expected: type[Exception] = CorruptFileError
        match = "not a readable GeoTIFF"
    else:
        arr = np.zeros((60, 60), np.uint16) if defect == "wrong_size" else np.zeros((120, 120), np.float32)
        with rasterio.open(
            path, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype=arr.dtype.name
        ) as ds:
            ds.write(arr, 1)
        expected, match = (
            CorruptFileError,
            "expected 120x120" if defect == "wrong_size" else "expected uint16",
        )
    ds = BigEarthNet(v2_copy, split="all", include_snow_cloud=True)
    with pytest.raises(expected, match=match) as err:
        ds[ds.patch_ids.index(pid)]
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_metadata_problems(v2_copy: Path) -> None:
    t = pq.read_table(v2_copy / naming.V2_METADATA)
    pq.write_table(t.drop_columns(["s1_name"]), v2_copy / naming.V2_METADATA)
    with pytest.raises(DataError, match=r"s1_name"):
        BigEarthNet(v2_copy)
    labels = t.column("labels").to_pylist()
    labels[0] = ["Arable lands"]
    pq.write_table(
        t.set_column(t.column_names.index("labels"), "labels", pa.array(labels)), v2_copy / naming.V2_METADATA
    )
    with pytest.raises(LabelError, match="Arable lands"):
        BigEarthNet(v2_copy, split="all")


def test_unknown_v1_label_and_missing_json(v1_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "v1"
    shutil.copytree(v1_root, root)
    name = sorted(p.name for p in (root / naming.V1_S2_DIR).iterdir())[0]
    jp = naming.v1_json_path(root, name)
    data = json.loads(jp.read_text())
    data["labels"] = ["Mars craters"]
    jp.write_text(json.dumps(data))
    with pytest.raises(IncompleteStoreError):
        encode(root, tmp_path / "s", workers=0)
    assert "Mars craters" in (tmp_path / "s" / "encode-problems.txt").read_text()
    jp.unlink()
    ds = BigEarthNet(root, split="all", sensors=("s2",))
    with pytest.raises(MissingFileError, match="label file is missing"):
        ds[ds.patch_ids.index(name)]


def test_empty_split_and_missing_archive(v2_copy: Path, tmp_path: Path) -> None:
    t = pq.read_table(v2_copy / naming.V2_METADATA)
    t = t.set_column(t.column_names.index("split"), "split", pa.array(["train"] * t.num_rows))
    pq.write_table(t, v2_copy / naming.V2_METADATA)
    with pytest.raises(DataError, match="empty"):
        BigEarthNet(v2_copy, split="test")
    with pytest.raises(MissingFileError, match="not a BigEarthNet root"):
        encode(tmp_path, tmp_path / "out")


@pytest.mark.parametrize("damage", ["truncated", "wrong_dtype", "wrong_shape"])
def test_final_verification_decodes_every_value(v2_copy: Path, tmp_path: Path, damage: str) -> None:
    """A stored value whose header parses but whose data is short, or whose band has the wrong dtype or
    shape, is caught before the store is marked complete, and the next run re-encodes it."""
    import lmdb
    from safetensors.numpy import load, save

    from worldclass.data.bigearthnet.sources import lmdb_forget
    from worldclass.data.store import patch_key

    store = tmp_path / "store"
    assert encode(v2_copy, store, workers=0).complete
    pid, _ = _first(v2_copy)
    before = BigEarthNet(store, split="all", include_snow_cloud=True)[0]["image"]
    lmdb_forget(store)
    env = lmdb.open(str(store), subdir=True, map_size=1 << 32)
    with env.begin(write=True) as txn:
        value = bytes(txn.get(patch_key(pid)))
        arrays = load(value)
        if damage == "truncated":
            bad = value[:-100]
        elif damage == "wrong_dtype":
            bad = save(arrays | {"B02": arrays["B02"].astype(np.int32)})
        else:
            bad = save(arrays | {"B05": arrays["B05"][:30]})
        txn.put(patch_key(pid), bad)
    env.close()
    with pytest.raises(IncompleteStoreError, match=pid):
        encode(v2_copy, store, workers=0)
    assert read_info(store)["complete"] is False
    problem = (store / "encode-problems.txt").read_text()
    assert {"truncated": "corrupt", "wrong_dtype": "dtype int32", "wrong_shape": "B05"}[damage] in problem
    res = encode(v2_copy, store, workers=0)
    assert res.complete and res.encoded == 1
    assert torch.equal(BigEarthNet(store, split="all", include_snow_cloud=True)[0]["image"], before)
