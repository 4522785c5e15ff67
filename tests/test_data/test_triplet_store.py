"""SEN12MS/DFC2020 triplet stores: the same splits, windows, statistics and evaluation as the archive,
bit for bit; resumable, verified encoding; damaged or foreign stores refused in one line; `worldclass
stats` band statistics equal a direct computation and feed `data.statistics`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lmdb
import numpy as np
import pytest
import rasterio
import torch

from worldclass.config import DataConfig
from worldclass.data.bigearthnet.sources import lmdb_forget, lmdb_open
from worldclass.data.landcover_stats import landcover_statistics
from worldclass.data.sen12ms import DFC2020, SEN12MS, dfc2020_split, sen12ms_split
from worldclass.data.store import patch_key
from worldclass.data.triplet_store import TripletEncodeJob, is_triplet_store
from worldclass.data.verify import verify_store
from worldclass.datasets import get_dataset
from worldclass.errors import ConfigError, CorruptFileError, DataError, IncompleteStoreError, LabelError


def _encode(root: Path, out: Path, **kw: object) -> TripletEncodeJob:
    with TripletEncodeJob(root, out, **kw) as job:  # type: ignore[arg-type]
        job.run_local(job.prepare(), 0)
        job.finalize()
    return job


@pytest.fixture(scope="module")
def stores(sen12ms_root: Path, dfc_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("triplet-stores")
    _encode(sen12ms_root, out / "s12.store", chunk=5)
    _encode(dfc_root, out / "dfc.store")
    return {"sen12ms": out / "s12.store", "dfc2020": out / "dfc.store"}


def _samples(root: Path, dataset: str, split: str) -> list[dict[str, object]]:
    ds = get_dataset(dataset)
    data = DataConfig(root=str(root), dataset=dataset, patch_size=64, samples_per_epoch=12, bands="s2+s1")
    opened = ds.open(data, split)
    torch.manual_seed(3)
    return [opened[i] for i in range(len(opened))]


@pytest.mark.parametrize("dataset", ["sen12ms", "dfc2020"])
def test_store_gives_the_archives_splits_windows_and_statistics(
    dataset: str, sen12ms_root: Path, dfc_root: Path, stores: dict[str, Path]
) -> None:
    root, store = (sen12ms_root, stores["sen12ms"]) if dataset == "sen12ms" else (dfc_root, stores["dfc2020"])
    assert is_triplet_store(store) and not is_triplet_store(root)
    pick = sen12ms_split if dataset == "sen12ms" else dfc2020_split
    for split in ("train", "val", "test"):
        files, stored = pick(root, split), pick(store, split)
        assert [(t.id, t.group, t.release) for t in files] == [(t.id, t.group, t.release) for t in stored]
    ds = get_dataset(dataset)
    cfg = {"dataset": dataset, "patch_size": 64, "bands": "s2+s1"}
    assert ds.preprocessing(DataConfig(root=str(root), **cfg)) == ds.preprocessing(  # type: ignore[arg-type]
        DataConfig(root=str(store), **cfg)  # type: ignore[arg-type]
    )
    for split in ("train", "val"):  # random D4 windows under one seed, then the grid
        a, b = _samples(root, dataset, split), _samples(store, dataset, split)
        assert len(a) == len(b) > 0
        for x, y in zip(a, b, strict=True):
            assert x["scene"] == y["scene"] and x["group"] == y["group"]
            assert torch.equal(x["image"], y["image"]) and torch.equal(x["mask"], y["mask"])  # type: ignore[arg-type]
    cls = SEN12MS if dataset == "sen12ms" else DFC2020
    f, s = cls(root, "test", bands=["VH", "B8A", "B02"]), cls(store, "test", bands=["VH", "B8A", "B02"])
    assert [f[i]["id"] for i in range(len(f))] == [s[i]["id"] for i in range(len(s))]
    assert torch.equal(f[0]["image"], s[0]["image"]) and torch.equal(f[0]["mask"], s[0]["mask"])  # type: ignore[arg-type]


def test_stored_values_are_the_files_bytes(dfc_root: Path, stores: dict[str, Path]) -> None:
    from worldclass.data.store import safetensors_views

    t = dfc2020_split(dfc_root, "test")[2]
    with lmdb_open(stores["dfc2020"]).begin() as txn:
        arrays = {k: np.array(v) for k, v in safetensors_views(txn.get(patch_key(t.id))).items()}
    with rasterio.open(t.s2) as s2, rasterio.open(t.s1) as s1, rasterio.open(t.label) as lab:
        for name, want in (("s2", s2.read()), ("s1", s1.read()), ("label", lab.read(1))):
            assert arrays[name].dtype == want.dtype
            np.testing.assert_array_equal(arrays[name], want)


def test_encode_resumes_and_refuses_bad_files(dfc_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "DFC2020"
    shutil.copytree(dfc_root, root)
    out = tmp_path / "part.store"
    with TripletEncodeJob(root, out, chunk=4) as job:  # stopped after the first chunk
        todo = job.prepare()
        job.record(todo[0], job.run_unit(todo[0]))
    with pytest.raises(IncompleteStoreError):
        DFC2020(out, "train")
    job = _encode(root, out, chunk=4)
    assert (job.result.skipped, job.result.encoded) == (4, 14) and job.result.complete
    whole = _encode(root, tmp_path / "whole.store")
    with lmdb_open(out).begin() as ta, lmdb_open(tmp_path / "whole.store").begin() as tb:
        assert [(k, v) for k, v in ta.cursor() if k.startswith(b"p/")] == [
            (k, v) for k, v in tb.cursor() if k.startswith(b"p/")
        ]
    assert whole.result.encoded == 18
    # a 12-band S2 file: named, the store stays incomplete, --allow-missing completes without it
    bad = sorted((root / "ROIs0000_test" / "s2_0").glob("*.tif"))[0]
    with rasterio.open(bad) as src:
        profile, pixels = src.profile, src.read()
    with rasterio.open(bad, "w", **{**profile, "count": 12}) as dst:
        dst.write(pixels[:12])
    with pytest.raises(IncompleteStoreError, match="could not be encoded") as err:
        _encode(root, tmp_path / "bad.store")
    assert (
        bad.name in str(err.value)
        and "12 band(s)" in (tmp_path / "bad.store" / "encode-problems.txt").read_text()
    )
    job = _encode(root, tmp_path / "bad.store", allow_missing=True)
    assert job.result.complete and len(dfc2020_split(tmp_path / "bad.store", "test")) == 5


def test_damaged_store_is_found_refused_and_repaired(dfc_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "dfc.store"
    _encode(dfc_root, out)
    victim = dfc2020_split(out, "train")[0].id
    lmdb_forget(out)
    env = lmdb.open(str(out), map_size=1 << 30)
    with env.begin(write=True) as txn:
        value = bytearray(txn.get(patch_key(victim)))
        value[-100] ^= 0xFF  # one flipped byte in the label
        txn.put(patch_key(victim), bytes(value))
    env.close()
    with pytest.raises(CorruptFileError, match="fails its checksum"):
        verify_store(out)
    ds = get_dataset("dfc2020")
    with pytest.raises(CorruptFileError, match=victim):
        for scene in ds.scenes(DataConfig(root=str(out), dataset="dfc2020"), "train"):
            from rasterio.windows import Window

            from worldclass.data.scenes import read_window

            read_window(scene, Window(0, 0, 8, 8), ["x"])
    with pytest.raises(IncompleteStoreError, match="re-run `worldclass encode"):
        verify_store(out, repair=True)
    job = _encode(dfc_root, out)  # re-encodes exactly the dropped triplet
    assert (job.result.encoded, job.result.skipped) == (1, 17)
    assert verify_store(out).damaged == {}


def test_foreign_uses_and_labels_outside_the_scheme_are_one_line(
    dfc_root: Path, stores: dict[str, Path], tmp_path: Path
) -> None:
    from worldclass.data.open import open_source

    with pytest.raises(ConfigError, match=r"data\.dataset=sen12ms or dfc2020"):
        open_source(stores["dfc2020"])
    with pytest.raises(ConfigError, match=r"set data\.dataset=dfc2020"):
        SEN12MS(stores["dfc2020"], "train")
    root = tmp_path / "DFC2020"
    shutil.copytree(dfc_root, root)
    t = dfc2020_split(root, "train")[0]
    with rasterio.open(t.label) as src:
        profile, lab = src.profile, src.read()
    lab[0, 5, 7] = 11  # not a DFC value
    with rasterio.open(t.label, "w", **profile) as dst:
        dst.write(lab)
    store = tmp_path / "x.store"
    _encode(root, store)
    with pytest.raises(
        LabelError, match=r"x\.store/ROIs0000_validation_s2_0_p\d+\.tif: label value 11 at row 5, col 7"
    ):
        DFC2020(store, "train")[0]


def test_stats_band_statistics_are_exact_and_feed_data_statistics(
    dfc_root: Path, stores: dict[str, Path], tmp_path: Path
) -> None:
    found = landcover_statistics(stores["dfc2020"])
    same = landcover_statistics(dfc_root)
    assert found["splits"] == same["splits"] and found["band_statistics"] == same["band_statistics"]
    train = dfc2020_split(dfc_root, "train")
    pixels, counts = [], np.zeros(11, np.int64)
    for t in train:
        with rasterio.open(t.s2) as s2, rasterio.open(t.s1) as s1, rasterio.open(t.label) as lab:
            pixels.append(np.concatenate([s2.read(), s1.read()]).reshape(15, -1).astype(np.float64))
            counts += np.bincount(lab.read(1).ravel(), minlength=11)
    a = np.concatenate(pixels, 1)
    stats = found["band_statistics"]["bands"]
    np.testing.assert_allclose(
        [stats["B8A"]["mean"], stats["VH"]["std"]], [a[8].mean(), a[14].std()], rtol=1e-9
    )
    split = found["splits"]["train"]
    assert list(split["pixels"].values()) == counts[1:].tolist() and split["ignored"] == counts[0]
    assert split["patches"] == len(train) and found["splits"]["test"]["patches"] == 6
    # the JSON is a data.statistics file: picked by band name in the run's own band order
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(found))
    data = DataConfig(root=str(stores["dfc2020"]), dataset="dfc2020", bands="s2-rgb", statistics=str(path))
    pre = get_dataset("dfc2020").preprocessing(data)
    assert pre["mean"] == [stats[b]["mean"] for b in ("B04", "B03", "B02")]
    assert pre["std"] == [stats[b]["std"] for b in ("B04", "B03", "B02")]
    path.write_text("{}")
    with pytest.raises(DataError, match="no band statistics in it"):
        get_dataset("dfc2020").preprocessing(data)


def test_evaluation_from_the_store_equals_evaluation_from_the_files(
    dfc_root: Path, stores: dict[str, Path], tmp_path: Path
) -> None:
    from worldclass.tasks import load_config
    from worldclass.tasks.segmentation.evaluate import evaluate_segmentation
    from worldclass.training import train

    cfg = load_config(
        None,
        [
            "task=segmentation",
            "data.dataset=dfc2020",
            f"data.root={stores['dfc2020']}",  # trained from the store
            "data.bands=s2-10+s1",
            "data.patch_size=64",
            "data.samples_per_epoch=8",
            "data.batch_size=4",
            "data.num_workers=0",
            "model.encoder=resnet18",
            "optim.max_epochs=1",
            "optim.limit_val_batches=1",
            "trainer.progress=false",
            f"trainer.out={tmp_path / 'run'}",
        ],
    )
    ckpt = train(cfg).best_checkpoint
    a = evaluate_segmentation(ckpt, data=dfc_root, split="test", tile=128)
    b = evaluate_segmentation(ckpt, data=stores["dfc2020"], split="test", tile=128)
    same = json.dumps(a["overall"], sort_keys=True) == json.dumps(b["overall"], sort_keys=True)  # NaN too
    assert same and a["overall"]["pixels"] > 0.9 * 6 * 256 * 256
