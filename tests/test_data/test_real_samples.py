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
