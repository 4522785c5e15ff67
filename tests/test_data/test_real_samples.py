"""The real BigEarthNet v1 patches (bigearthnet-encoder 0.3.0 sdist, CDLA-Permissive-1.0)."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from worldclass.data import BigEarthNet
from worldclass.data.encode import encode
from worldclass.data.nomenclature import CLASSES19, CLASSES43

S2 = [
    "S2A_MSIL2A_20170617T113321_36_85",
    "S2A_MSIL2A_20170617T113321_4_55",
    "S2A_MSIL2A_20171221T112501_56_35",
]


def test_files_have_official_dtypes_sizes_and_crs(real_v1: Path) -> None:
    with rasterio.open(real_v1 / "BigEarthNet-v1.0" / S2[0] / f"{S2[0]}_B05.tif") as ds:
        assert ds.dtypes[0] == "uint16" and ds.shape == (60, 60) and ds.crs.to_epsg() == 32629
    s1 = "S1A_IW_GRDH_1SDV_20170617T064724_29UPU_36_85"
    with rasterio.open(real_v1 / "BigEarthNet-S1-v1.0" / s1 / f"{s1}_VV.tif") as ds:
        assert ds.dtypes[0] == "float32" and ds.shape == (120, 120)


def test_s2_s1_pairing_labels_and_both_nomenclatures(real_v1: Path) -> None:
    ds = BigEarthNet(real_v1, split="all", sensors=("s2", "s1"), num_classes=19)
    assert ds.patch_ids == S2
    assert ds.s1_names[0] == "S1A_IW_GRDH_1SDV_20170617T064724_29UPU_36_85"
    s = ds[0]
    assert s["image"].shape == (14, 120, 120) and s["image"].dtype == torch.float32
    # Non-irrigated arable land + Pastures -> Arable land (2), Pastures (4) in the original order
    assert torch.nonzero(s["label"]).ravel().tolist() == [2, 4]
    ds43 = BigEarthNet(real_v1, split="all", sensors=("s2",), num_classes=43)
    names = [CLASSES43[i] for i in torch.nonzero(ds43[2]["label"]).ravel().tolist()]
    assert names == [
        "Complex cultivation patterns",
        "Land principally occupied by agriculture, with significant areas of natural vegetation",
        "Broad-leaved forest",
        "Transitional woodland/shrub",
    ]
    names19 = [CLASSES19[i] for i in torch.nonzero(ds[2]["label"]).ravel().tolist()]
    assert names19 == [
        "Complex cultivation patterns",
        "Land principally occupied by agriculture, with significant areas of natural vegetation",
        "Broad-leaved forest",
        "Transitional woodland, shrub",
    ]


def test_real_values_are_plausible_reflectance_and_db(real_v1: Path) -> None:
    ds = BigEarthNet(real_v1, split="all", sensors=("s2", "s1"), normalize="none")
    img = ds[1]["image"].numpy()
    b = {name: img[i] for i, name in enumerate(ds.bands)}
    ndvi = (b["B08"] - b["B04"]) / (b["B08"] + b["B04"])
    assert np.median(ndvi) > 0.5  # a pasture patch in June
    assert -30 < np.median(b["VH"]) < np.median(b["VV"]) < 0


def test_store_gives_identical_tensors(real_v1: Path, tmp_path: Path) -> None:
    result = encode(real_v1, tmp_path / "store", workers=0)
    assert result.complete and result.encoded == 3
    a = BigEarthNet(real_v1, split="all", sensors=("s2", "s1"), num_classes=43)
    b = BigEarthNet(tmp_path / "store", split="all", sensors=("s2", "s1"), num_classes=43)
    for i in range(3):
        assert torch.equal(a[i]["image"], b[i]["image"]) and torch.equal(a[i]["label"], b[i]["label"])
    table = b.table.to_pydict()
    assert table["tile"] == ["29UPU", "29UPU", "29SND"] and table["crs"][0] == "EPSG:32629"
    assert table["x"][1] == pytest.approx(604800 + 600)


def test_s1_only_root_uses_s1_names(real_v1: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(real_v1 / "BigEarthNet-S1-v1.0", tmp_path / "BigEarthNet-S1-v1.0")
    ds = BigEarthNet(tmp_path, split="all", sensors=("s1",))
    assert len(ds) == 6 and ds[0]["image"].shape == (2, 120, 120)


@pytest.mark.parametrize("pair_column", [True, False])
def test_s1_only_v1_root_keeps_official_splits_and_snow_cloud_lists(
    v1_root: Path, tmp_path: Path, pair_column: bool
) -> None:
    """The CSVs name S2 patches; an S1-only root applies them through the CSVs' second column or, when
    the CSVs have one column, the S1 JSONs' ``corresponding_s2_patch``."""
    import shutil

    from worldclass.data.bigearthnet import naming
    from worldclass.data.open import open_source

    root = tmp_path / "s1only"
    shutil.copytree(v1_root / naming.V1_S1_DIR, root / naming.V1_S1_DIR)
    for f in v1_root.glob("*.csv"):
        lines = f.read_text().splitlines()
        (root / f.name).write_text("".join(f"{ln if pair_column else ln.split(',')[0]}\n" for ln in lines))
    both = open_source(v1_root).table().to_pydict()
    split_of = dict(zip(both["s1_name"], both["split"], strict=True))
    s2_snow, s1_snow = both["patch_id"][3], both["s1_name"][3]
    s2_cloud, s1_cloud = both["patch_id"][5], both["s1_name"][5]
    (root / naming.V1_SNOW_CSV).write_text(f"{s2_snow}\n")
    (root / naming.V1_CLOUD_CSV).write_text(f"{s2_cloud}\n")
    only = open_source(root).table().to_pydict()
    assert sorted(only["patch_id"]) == sorted(split_of)
    assert dict(zip(only["patch_id"], only["split"], strict=True)) == split_of
    assert {v for v in split_of.values()} >= {"train", "validation", "test"}
    flagged = {p for p, sn in zip(only["patch_id"], only["snow"], strict=True) if sn}
    clouded = {p for p, cl in zip(only["patch_id"], only["cloud"], strict=True) if cl}
    assert (flagged, clouded) == ({s1_snow}, {s1_cloud})
    ds = BigEarthNet(root, split="train", sensors=("s1",))
    expected = {p for p, sp in split_of.items() if sp == "train"} - {s1_snow, s1_cloud}
    assert set(ds.patch_ids) == expected


def test_split_csvs_that_name_no_patch_are_an_error_saying_so(v1_root: Path, tmp_path: Path) -> None:
    import shutil

    from worldclass.data.bigearthnet import naming
    from worldclass.errors import DataError

    root = tmp_path / "other"
    shutil.copytree(v1_root / naming.V1_S2_DIR, root / naming.V1_S2_DIR)
    (root / "bigearthnet-train.csv").write_text("S2A_MSIL2A_20990101T000000_1_1\n")
    with pytest.raises(DataError, match="name none of the patches"):
        BigEarthNet(root, split="train")
