"""SEN12MS and DFC2020 readers on generated archives in the official layouts: pairing, band order by
name, the IGBP -> DFC table, the ignore index, split lists, and one-line errors for bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from worldclass.data.sen12ms import (
    DFC2020,
    IGBP_TO_DFC,
    S2_BANDS,
    SEN12MS,
    dfc2020_split,
    dfc_lut,
    sen12ms_split,
    sen12ms_triplets,
)
from worldclass.errors import ConfigError, DataError, LabelError, MissingFileError


def test_layout_dtypes_and_grids_are_the_official_ones(sen12ms_root: Path, dfc_root: Path) -> None:
    t = sen12ms_split(sen12ms_root, "train")[0]
    assert t.s2.parent.name.startswith("s2_") and t.s2.parent.parent.name.startswith("ROIs")
    assert t.s1.name == t.s2.name.replace("_s2_", "_s1_") and t.label.name == t.s2.name.replace(
        "_s2_", "_lc_"
    )
    for path, count, dtype in ((t.s2, 13, "uint16"), (t.s1, 2, "float32"), (t.label, 4, "uint16")):
        with rasterio.open(path) as src:
            assert (src.count, src.dtypes[0], src.shape) == (count, dtype, (256, 256))
            assert 32600 < src.crs.to_epsg() < 32661 and src.res == (10.0, 10.0)  # UTM north, 10 m
    d = dfc2020_split(dfc_root, "validation")[0]
    assert d.s2.parent.name == "s2_validation" and d.label.parent.name == "dfc_validation"
    assert d.label.name.startswith("ROIs0000_validation_dfc_0_p")


def test_bands_are_read_by_name_from_their_own_file(dfc_root: Path) -> None:
    ds = DFC2020(dfc_root, "validation", bands=["VH", "B8A", "B02", "B10"], mean=[0.0] * 4, std=[1.0] * 4)
    sample = ds[3]
    t = ds.triplets[3]
    with rasterio.open(t.s2) as s2, rasterio.open(t.s1) as s1:
        want = np.stack([s1.read(2), s2.read(9), s2.read(2), s2.read(11)]).astype(np.float32)
    assert sample["bands"] == ["VH", "B8A", "B02", "B10"] and sample["id"] == t.s2.name
    np.testing.assert_array_equal(sample["image"].numpy(), want)
    assert S2_BANDS.index("B8A") == 8 and S2_BANDS.index("B10") == 10  # B8A after B08, B10 kept (L1C)


def test_igbp_table_ignore_index_and_no_savanna_scheme(sen12ms_root: Path) -> None:
    lut = dfc_lut("dfc", "igbp")
    assert list(lut[1:18]) == list(IGBP_TO_DFC[1:] - 1) and lut[0] == 255
    assert [int(lut[v]) for v in (1, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16, 17)] == [
        0,
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        5,
        7,
        8,
        9,
    ]
    no_sav = dfc_lut("dfc-no-savanna", "igbp")
    assert (
        no_sav[8] == no_sav[9] == 255 and no_sav[10] == 2 and no_sav[17] == 8
    )  # classes after Savanna shift
    dfc = dfc_lut("dfc", "dfc")
    assert dfc[0] == 255 and list(dfc[1:11]) == list(range(10))
    with pytest.raises(ConfigError, match="label_scheme"):
        dfc_lut("igbp17", "dfc")
    ds = SEN12MS(sen12ms_root, "train", bands="s1")
    t = ds.triplets[0]
    with rasterio.open(t.label) as src:
        igbp = src.read(1)
    assert np.array_equal(ds[0]["mask"].numpy(), lut[igbp].astype(np.int64))


def test_dfc_no_data_is_ignored_and_foreign_values_are_refused(dfc_root: Path, tmp_path: Path) -> None:
    ds = DFC2020(dfc_root, "validation", bands="s1")
    k = [t.id for t in ds.triplets].index("ROIs0000_validation_s2_0_p5.tif")  # every fifth: a no-data strip
    with rasterio.open(ds.triplets[k].label) as src:
        raw = src.read(1)
    mask = ds[k]["mask"].numpy()
    assert (
        (raw == 0).any() and (mask[raw == 0] == 255).all() and np.array_equal(mask[raw > 0], raw[raw > 0] - 1)
    )
    root = tmp_path / "DFC2020"
    shutil.copytree(dfc_root, root)
    bad = sorted((root / "ROIs0000_validation" / "dfc_validation").glob("*.tif"))[0]
    with rasterio.open(bad, "r+") as dst:
        a = dst.read()
        a[0, 7, 9] = 11
        dst.write(a)
    broken = DFC2020(root, "validation", bands="s1")
    index = [t.label for t in broken.triplets].index(bad)
    with pytest.raises(LabelError, match=rf"{bad.name}: label value 11 at row 7, col 9"):
        broken[index]


def test_splits_follow_the_lists_and_hold_out_whole_scenes(sen12ms_root: Path, dfc_root: Path) -> None:
    listed = set((sen12ms_root / "test_list.txt").read_text().split())
    test = sen12ms_split(sen12ms_root, "test")
    assert {t.id for t in test} == listed
    train, val = sen12ms_split(sen12ms_root, "train", 0.5), sen12ms_split(sen12ms_root, "val", 0.5)
    assert train and val and not {t.group for t in train} & {t.group for t in val}  # scene-grouped
    assert not {t.id for t in train + val} & listed
    everything, notes = sen12ms_triplets(sen12ms_root)
    assert len(everything) == len(train) + len(val) + len(test)
    assert not any("_146_p202" in t.id for t in everything) and "broken triplet" in notes[0]
    release = {t.id for t in dfc2020_split(dfc_root, "validation")}
    a, b = dfc2020_split(dfc_root, "train"), dfc2020_split(dfc_root, "val")
    assert {t.id for t in a} | {t.id for t in b} == release and not {t.id for t in a} & {t.id for t in b}
    assert len(dfc2020_split(dfc_root, "test")) == 6
    assert [t.id for t in a] == [t.id for t in dfc2020_split(dfc_root, "train")]  # stable


@pytest.mark.parametrize("defect", ["missing_s1", "s2_12_bands", "s1_wrong_size", "no_list"])
def test_bad_files_stop_with_one_line_naming_them(sen12ms_root: Path, tmp_path: Path, defect: str) -> None:
    root = tmp_path / "SEN12MS"
    shutil.copytree(sen12ms_root, root)
    t = sen12ms_split(root, "train")[0]
    if defect == "missing_s1":
        t.s1.unlink()
        with pytest.raises(MissingFileError, match=rf"{t.s1.name}: S1 partner missing; unpack"):
            sen12ms_split(root, "train")
        return
    if defect == "no_list":
        (root / "train_list.txt").unlink()
        with pytest.raises(MissingFileError, match=r"train_list\.txt: split list missing"):
            sen12ms_split(root, "train")
        return
    target = t.s2 if defect == "s2_12_bands" else t.s1
    with rasterio.open(target) as src:
        profile, data = src.profile, src.read()
    if defect == "s2_12_bands":
        profile["count"], data = 12, data[:12]
    else:
        profile["height"], data = 200, data[:, :200]
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(data)
    want = "12 band\\(s\\), S2 files hold 13" if defect == "s2_12_bands" else "200 x 256 px"
    with pytest.raises(DataError, match=rf"{target.name}: {want}"):
        SEN12MS(root, "train", bands="s2-10+s1")


def test_generator_s1_is_not_a_copy_of_s2_and_seasons_differ(sen12ms_root: Path) -> None:
    from worldclass.data.synth.sen12ms import render

    everything, _ = sen12ms_triplets(sen12ms_root)
    corr = []
    for t in everything:
        with rasterio.open(t.s2) as s2, rasterio.open(t.s1) as s1:
            b08, vv = s2.read(8).astype(float), s1.read(1).astype(float)
        corr.append(abs(np.corrcoef(b08.ravel(), vv.ravel())[0, 1]))
    assert max(corr) < 0.9  # S1 has its own speckle and backscatter, not S2's pixels
    forest = np.zeros((64, 64), np.int64)  # one class, two seasons, same scene gain
    gain = np.ones(13)
    summer, s1_summer = render(np.random.default_rng(0), forest, "summer", gain)
    winter, s1_winter = render(np.random.default_rng(0), forest, "winter", gain)
    assert np.median(summer[7]) > 1.5 * np.median(winter[7])  # B08: leaves on / off
    assert np.median(s1_summer[0]) > np.median(s1_winter[0]) + 1  # frozen, drier soil in winter
    texture = np.corrcoef(summer[7].ravel().astype(float), s1_summer[0].ravel())[0, 1]
    assert 0.05 < texture < 0.9  # the ground structure is shared, the speckle is not


def test_validation_holds_out_at_least_one_scene_and_keeps_one() -> None:
    from worldclass.data.sen12ms import held_out

    assert len(held_out(["a", "b"], 0.0)) == 1 and len(held_out(["a", "b"], 1.0)) == 1
    many = [f"s{i}" for i in range(200)]
    share = len(held_out(many, 0.2)) / 200
    assert 0.1 < share < 0.3 and held_out(many, 0.2) <= held_out([*many, "x", "y"], 0.2) | {
        "x",
        "y",
    }  # stable
    assert held_out(["only"], 0.5) <= {"only"}
