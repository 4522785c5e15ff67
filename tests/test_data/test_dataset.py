from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from worldclass.data import BigEarthNet
from worldclass.data.collate import collate
from worldclass.data.nomenclature import IGNORE_INDEX, clc_lut
from worldclass.errors import ConfigError, DataError


@pytest.mark.parametrize("num_classes", [19, 43])
def test_every_source_gives_the_same_tensors(
    v2_root: Path, v2_store: Path, rico_lmdb: Path, num_classes: int
) -> None:
    kw = {"split": "test", "sensors": ("s2", "s1"), "num_classes": num_classes}
    a, b, c = BigEarthNet(v2_root, **kw), BigEarthNet(v2_store, **kw), BigEarthNet(rico_lmdb, **kw)
    assert a.patch_ids == b.patch_ids == c.patch_ids and len(a) > 0
    for i in range(len(a)):
        sa, sb, sc = a[i], b[i], c[i]
        for key in ("image", "label", "mask"):
            assert torch.equal(sa[key], sb[key]) and torch.equal(sa[key], sc[key]), key


def test_sample_contract(v2_store: Path) -> None:
    ds = BigEarthNet(v2_store, split="train", sensors=("s2", "s1"), bands="s2-10+s1")
    s = ds[0]
    assert ds.bands == ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "VV", "VH")
    assert s["image"].shape == (12, 120, 120) and s["image"].dtype == torch.float32
    assert s["label"].shape == (19,) and s["label"].dtype == torch.float32 and s["label"].sum() >= 1
    assert s["mask"].shape == (120, 120) and s["mask"].dtype == torch.int64
    assert set(s["mask"].unique().tolist()) <= set(range(19)) | {IGNORE_INDEX}
    assert len(ds.classes) == 19 and isinstance(s["patch_id"], str)


def test_labels_match_reference_maps(v2_root: Path) -> None:
    """19-class labels from metadata.parquet equal the classes present in each reference map."""
    ds = BigEarthNet(v2_root, split="all", sensors=("s2",), num_classes=19)
    lut = clc_lut(19)
    for i in range(len(ds)):
        codes = ds.source.read(ds.patch_ids[i], None, (), True)["reference_map"]
        present = set(np.unique(lut[codes]).tolist()) - {IGNORE_INDEX}
        assert present == set(torch.nonzero(ds[i]["label"]).ravel().tolist())


def test_splits_alias_snow_cloud_and_override(v2_root: Path, tmp_path: Path) -> None:
    val = BigEarthNet(v2_root, split="val")
    assert val.split == "validation" and len(val) == len(BigEarthNet(v2_root, split="validation"))
    meta = pq.read_table(v2_root / "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
    clear = sum(len(BigEarthNet(v2_root, split=s)) for s in ("train", "validation", "test"))
    every = sum(
        len(BigEarthNet(v2_root, split=s, include_snow_cloud=True)) for s in ("train", "validation", "test")
    )
    assert meta.num_rows > 0 and every == clear + meta.num_rows
    ids = BigEarthNet(v2_root, split="all").patch_ids
    import pyarrow as pa

    pq.write_table(pa.table({"patch_id": ids[:5], "split": ["test"] * 5}), tmp_path / "s.parquet")
    assert BigEarthNet(v2_root, split="test", splits=tmp_path / "s.parquet").patch_ids == ids[:5]


def test_v1_store_and_raw_agree_and_exclude_snow(v1_root: Path, v1_store: Path) -> None:
    a = BigEarthNet(v1_root, split="train", sensors=("s2", "s1"), num_classes=43)
    b = BigEarthNet(v1_store, split="train", sensors=("s2", "s1"), num_classes=43)
    assert a.patch_ids == b.patch_ids
    assert torch.equal(a[0]["image"], b[0]["image"]) and torch.equal(a[0]["label"], b[0]["label"])
    assert "mask" not in a[0]
    snow = (v1_root / "patches_with_seasonal_snow.csv").read_text().split()
    assert not set(snow) & set(BigEarthNet(v1_store, split="all").patch_ids)


def test_dataloader_workers_and_several_datasets(v2_store: Path) -> None:
    train = BigEarthNet(v2_store, split="train", sensors=("s2", "s1"))
    val = BigEarthNet(v2_store, split="validation", sensors=("s2", "s1"))
    expected = train[0]["image"]
    for ds in (train, val):
        loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate)
        n = sum(len(b["patch_id"]) for b in loader)
        assert n == len(ds)
    first = next(iter(DataLoader(train, batch_size=3, num_workers=2, collate_fn=collate)))
    assert first["image"].shape == (3, 14, 120, 120) and torch.equal(first["image"][0], expected)


def test_collate_is_zero_copy_for_getitems(v2_store: Path) -> None:
    ds = BigEarthNet(v2_store, split="train")
    samples = ds.__getitems__([0, 1, 2])
    batch = collate(samples)
    assert batch["image"].data_ptr() == samples[0]["image"].data_ptr()
    other = collate([ds[0], ds[1]])  # separate tensors are stacked
    assert torch.equal(other["image"][1], samples[1]["image"])


def test_bad_arguments(v2_store: Path, v1_store: Path) -> None:
    with pytest.raises(ConfigError, match="sensors"):
        BigEarthNet(v2_store, sensors=("s3",))
    with pytest.raises(ConfigError, match="split"):
        BigEarthNet(v2_store, split="training")
    with pytest.raises(ConfigError, match="reference maps"):
        BigEarthNet(v1_store, return_mask=True)
    with pytest.raises(DataError, match="does not exist"):
        BigEarthNet(v2_store.parent / "nothing")


def test_snow_cloud_parquet_without_flag_columns_is_refused(v2_copy: Path) -> None:
    """Without the flag columns nothing says which patches are snow or cloud; earlier releases then marked
    every patch of the file as snow. Refused, naming the file."""
    import pyarrow.parquet as pq

    from worldclass.errors import DataError

    path = v2_copy / "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
    table = pq.read_table(path)
    assert table.num_rows > 0
    flags = [c for c in table.column_names if c.startswith("contains_")]
    pq.write_table(table.drop_columns(flags), path)
    with pytest.raises(DataError, match="neither contains_seasonal_snow nor contains_cloud_or_shadow"):
        BigEarthNet(v2_copy, split="train")
    # the official file with its flags: only flagged patches are excluded
    pq.write_table(table, path)
    flagged = {
        p
        for p, s, c in zip(*(table.column(k).to_pylist() for k in ("patch_id", *flags)), strict=True)
        if s or c
    }
    assert not flagged & set(BigEarthNet(v2_copy, split="all").patch_ids)


def test_43_class_labels_of_a_raw_v2_root_are_read_once(v2_root: Path) -> None:
    """reBEN's 43-class labels come from the reference maps: the first labels() reads every map, later
    calls (samplers, DCW, statistics call it every epoch) read none, and the values do not change."""
    ds = BigEarthNet(v2_root, split="train", num_classes=43)
    reads: list[str] = []
    read = ds.source.read

    def counting(pid, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(pid)
        return read(pid, *args, **kwargs)

    ds.source.read = counting  # type: ignore[method-assign]
    first = ds.labels()
    assert len(reads) == len(ds)
    second = ds.labels()
    assert len(reads) == len(ds) and np.array_equal(first, second)
    assert first.shape == (len(ds), 43) and first.sum() > 0


def test_rico_lmdb_without_s1_or_maps_reads_what_it_holds(rico_s2_only: Path, v2_root: Path) -> None:
    """rico-hdl writes S1 and reference-map keys only when given those folders: such an LMDB reads as S2
    with labels from the metadata (the same tensors as the official root), and asking it for S1 is one
    clear error."""
    from worldclass.errors import DataError

    ds = BigEarthNet(rico_s2_only, split="train", sensors=("s2",))
    assert ds.source.sensors == ("s2",) and not ds.source.has_mask and not ds.return_mask
    ref = BigEarthNet(v2_root, split="train", sensors=("s2",), return_mask=False)
    batch = ds.__getitems__([0, 1, 2])
    expected = ref.__getitems__([0, 1, 2])
    for a, b in zip(batch, expected, strict=True):
        assert a["patch_id"] == b["patch_id"] and torch.equal(a["image"], b["image"])
        assert torch.equal(a["label"], b["label"]) and "mask" not in a
    with pytest.raises(DataError, match=r"has no \['s1'\] data"):
        BigEarthNet(rico_s2_only, split="train", sensors=("s2", "s1"))
