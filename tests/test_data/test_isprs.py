"""ISPRS Vaihingen / Potsdam readers on generated archives in the official layouts, the colour code,
the eroded reference, and the archives' known defects."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from worldclass.data.colour_labels import ColourTable
from worldclass.data.isprs import (
    ISPRS_CLASSES,
    ISPRS_COLOURS,
    ISPRS_TABLE,
    disc,
    erode_boundaries,
    eroded_window,
    potsdam_scenes,
    vaihingen_scenes,
)
from worldclass.data.nomenclature import IGNORE_INDEX
from worldclass.data.scenes import read_labels
from worldclass.data.synth.urban import render_urban, synth_potsdam, synth_vaihingen
from worldclass.errors import ConfigError, DataError, LabelError, MissingFileError


@pytest.fixture(scope="module")
def vaihingen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_vaihingen(tmp_path_factory.mktemp("vai") / "vaihingen", size=128)


@pytest.fixture(scope="module")
def potsdam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_potsdam(tmp_path_factory.mktemp("pot") / "potsdam", size=128)


def test_colour_code_is_the_benchmarks_and_decoding_refuses_other_colours(tmp_path: Path) -> None:
    assert dict(zip(ISPRS_CLASSES, ISPRS_COLOURS, strict=True)) == {
        "impervious surfaces": (255, 255, 255),
        "building": (0, 0, 255),
        "low vegetation": (0, 255, 255),
        "tree": (0, 255, 0),
        "car": (255, 255, 0),
        "clutter": (255, 0, 0),
    }
    labels = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    rgb = ISPRS_TABLE.encode(labels)
    assert tuple(rgb[:, 0, 1]) == (0, 0, 255)
    np.testing.assert_array_equal(ISPRS_TABLE.decode(rgb, "x.tif"), labels)
    black = np.zeros((3, 1, 1), np.uint8)
    assert ISPRS_TABLE.decode(black, "x.tif")[0, 0] == IGNORE_INDEX  # the eroded band
    rgb[:, 1, 2] = (254, 0, 0)  # anti-aliased clutter
    with pytest.raises(
        LabelError, match=r"x\.tif: 1 pixel\(s\) of colour \(254, 0, 0\) \(first at row 11, col 22\)"
    ):
        ISPRS_TABLE.decode(rgb, "x.tif", (10, 20))
    table = ColourTable.of([(1, 2, 3), (4, 5, 6)])
    np.testing.assert_array_equal(table.decode(np.array([[[4]], [[5]], [[6]]], np.uint8), "y"), [[1]])


def test_vaihingen_reader_splits_names_bands_and_quirks(vaihingen: Path) -> None:
    train = vaihingen_scenes(vaihingen, "train")
    assert [s.group for s in train] == ["area1", "area3", "area5", "area7"]  # 30 is validation
    assert [s.group for s in vaihingen_scenes(vaihingen, "val")] == ["area30"]
    test = vaihingen_scenes(vaihingen, "test")
    assert [s.group for s in test] == ["area2", "area4"]
    assert all(
        s.image.parent.name == "top" and s.image.name.startswith("top_mosaic_09cm_area") for s in train
    )
    assert all(s.labels is not None and s.labels.parent.name != "top" for s in train + test)
    assert all(s.eroded_labels is not None and s.eroded_labels.name.endswith("_noBoundary.tif") for s in test)
    assert (vaihingen / "ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE").glob("*area9_*")
    with rasterio.open(train[0].image) as src:  # IRRG uint8 without georeferencing, as distributed
        assert src.count == 3 and src.dtypes[0] == "uint8" and src.crs is None
        irrg = src.read().astype(float)
    lab = read_labels(train[0], Window(0, 0, irrg.shape[2], irrg.shape[1]), ISPRS_CLASSES)
    assert lab is not None
    ndvi = (irrg[0] - irrg[1]) / (irrg[0] + irrg[1] + 1)  # band 1 = NIR, band 2 = red
    veg = np.isin(lab, [2, 3])
    assert ndvi[veg].mean() > ndvi[lab == 0].mean() + 0.2
    with pytest.raises(ConfigError, match="split 'trian'"):
        vaihingen_scenes(vaihingen, "trian")


def test_vaihingen_missing_labels_and_size_mismatch_name_the_file(vaihingen: Path, tmp_path: Path) -> None:
    root = tmp_path / "v"
    shutil.copytree(vaihingen / "top", root / "top")
    with pytest.raises(MissingFileError, match=r"top_mosaic_09cm_area1.tif: no label .*gts_for_participants"):
        vaihingen_scenes(root, "train")
    assert [s.labels for s in vaihingen_scenes(root, "test")] == [None, None]  # test labels are optional
    (root / "gts").mkdir()
    for n in (1, 3, 5, 7):
        shutil.copy(vaihingen / "gts_for_participants" / f"top_mosaic_09cm_area{n}.tif", root / "gts")
    scene = next(s for s in vaihingen_scenes(root, "train") if s.group == "area3")
    h, w = scene.shape()
    with rasterio.open(scene.labels) as src:  # type: ignore[arg-type]
        rgb = src.read()
    with rasterio.open(
        scene.labels, "w", driver="GTiff", height=h - 1, width=w, count=3, dtype="uint8"
    ) as dst:  # type: ignore[arg-type]
        dst.write(rgb[:, : h - 1])
    with pytest.raises(DataError, match=rf"area3.tif: label is {h - 1}x{w} px but its image .* is {h}x{w}"):
        read_labels(scene, Window(0, 0, 8, 8), ISPRS_CLASSES)


def test_potsdam_reader_products_participants_labels_and_the_4_12_defect(
    potsdam: Path, tmp_path: Path
) -> None:
    train = potsdam_scenes(potsdam, "train")
    assert [s.group for s in train] == ["2_11", "3_10", "4_12"]  # 2_10 = val, 7_10 left out
    assert [s.group for s in potsdam_scenes(potsdam, "test")] == ["2_13", "3_13"]
    for product, count in (("RGB", 3), ("IRRG", 3), ("RGBIR", 4)):
        (scene,) = potsdam_scenes(potsdam, "val", product)
        assert scene.image.name == f"top_potsdam_2_10_{product}.tif"
        with rasterio.open(scene.image) as src:
            assert src.count == count and src.crs.to_epsg() == 32633 and abs(src.res[0] - 0.05) < 1e-9
    assert (potsdam / "1_DSM" / "dsm_potsdam_02_10.tif").is_file()  # zero-padded DSM ids
    t412 = next(s for s in train if s.group == "4_12")
    assert "participants" in str(t412.labels)  # the clean copy wins over 5_Labels_all's
    full = read_labels(t412, Window(0, 0, 128, 128), ISPRS_CLASSES)
    assert full is not None and full.max() <= 5
    only_all = tmp_path / "p"
    for sub in ("2_Ortho_RGB", "5_Labels_all"):
        shutil.copytree(potsdam / sub, only_all / sub)
    bad = next(s for s in potsdam_scenes(only_all, "train") if s.group == "4_12")
    with pytest.raises(LabelError, match=r"top_potsdam_4_12_label\.tif: .*5_Labels_for_participants"):
        read_labels(bad, Window(0, 0, 128, 128), ISPRS_CLASSES)
    with pytest.raises(ConfigError, match=r"data.product"):
        potsdam_scenes(potsdam, "train", "RGBN")


def test_erosion_matches_a_hand_computed_example() -> None:
    assert disc(1).sum() == 5 and disc(2).sum() == 13
    lab = np.zeros((5, 6), np.uint8)
    lab[:, 3:] = 1
    lab[4, 0] = 2  # a single pixel of another class in the corner
    want = np.array(
        [
            [0, 0, 255, 255, 1, 1],
            [0, 0, 255, 255, 1, 1],
            [0, 0, 255, 255, 1, 1],
            [255, 0, 255, 255, 1, 1],
            [255, 255, 255, 255, 1, 1],
        ],
        np.uint8,
    )
    np.testing.assert_array_equal(erode_boundaries(lab, 1), want)
    np.testing.assert_array_equal(erode_boundaries(lab, 0), lab)


def test_eroded_window_computed_by_blocks_equals_the_whole_tile(vaihingen: Path) -> None:
    from dataclasses import replace

    scene = replace(vaihingen_scenes(vaihingen, "train")[0], eroded_labels=None)
    h, w = scene.shape()
    whole = erode_boundaries(read_labels(scene, Window(0, 0, w, h), ISPRS_CLASSES), 3)  # type: ignore[arg-type]
    got = np.zeros_like(whole)
    for y in range(0, h, 40):
        for x in range(0, w, 40):
            win = Window(x, y, min(40, w - x), min(40, h - y))
            got[y : y + 40, x : x + 40] = eroded_window(scene, win, ISPRS_CLASSES, 3)
    np.testing.assert_array_equal(got, whole)
    assert 0.05 < (whole == IGNORE_INDEX).mean() < 0.6


def test_generated_scenes_defeat_a_per_pixel_colour_rule() -> None:
    """Nearest class-mean colour (fitted on one tile, applied to another) must not solve the scenes."""
    accs, roofs, seen = [], [], set()
    for seed in range(3):
        bands, dsm, lab = render_urban(1 + seed, 256, 256, px_per_m=5.0)
        bands2, _, lab2 = render_urban(10 + seed, 256, 256, px_per_m=5.0)
        x, x2 = bands.reshape(4, -1).T.astype(float), bands2.reshape(4, -1).T.astype(float)
        present = [k for k in range(6) if (lab == k).any()]
        means = np.stack([x[lab.ravel() == k].mean(0) for k in present])
        pred = np.asarray(present)[np.argmin(((x2[:, None] - means[None]) ** 2).sum(-1), 1)]
        accs.append((pred == lab2.ravel()).mean())
        roofs.append((pred[lab2.ravel() == 1] == 1).mean())
        if (lab == 1).any():
            assert dsm[lab == 1].mean() > dsm[lab == 0].mean() + 4  # heights separate roofs from streets
        seen |= set(np.unique(np.concatenate([lab, lab2])).tolist())
    assert seen == set(range(6))
    assert np.mean(accs) < 0.7 and np.mean(roofs) < 0.6, (accs, roofs)


def test_heights_are_stacked_as_a_last_band_without_touching_the_archive(
    vaihingen: Path, potsdam: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLDCLASS_CACHE", str(tmp_path / "cache"))
    before = sorted(p.name for p in vaihingen.rglob("*"))
    for scenes, kind, source in (
        (vaihingen_scenes(vaihingen, "train", "dsm"), "dsm", "dsm_09cm_matching_area1.tif"),
        (vaihingen_scenes(vaihingen, "train", "ndsm"), "ndsm", "dsm_09cm_matching_area1.jpg"),
        (
            potsdam_scenes(potsdam, "train", "IRRG", "ndsm"),
            "ndsm",
            "dsm_potsdam_02_11_normalized_lastools.jpg",
        ),
    ):
        s = scenes[0]
        assert s.image.suffix == ".vrt" and s.image.is_relative_to(tmp_path / "cache")
        with rasterio.open(s.image) as src:
            assert src.descriptions[-1] == kind and src.count == 4 and src.dtypes[0] == "float32"
            stacked = src.read()
        height = next(p for p in (vaihingen, potsdam) for p in p.rglob(source))
        with rasterio.open(height) as src:
            np.testing.assert_array_equal(stacked[-1], src.read(1).astype(np.float32))
        assert read_labels(s, Window(0, 0, 16, 16), ISPRS_CLASSES) is not None  # labels unchanged
    dsm = vaihingen_scenes(vaihingen, "val", "dsm")[0]
    with rasterio.open(dsm.image) as src:
        assert 240 < src.read(4).mean() < 300  # absolute heights (m), not the nDSM's dm above ground
    assert sorted(p.name for p in vaihingen.rglob("*")) == before  # the archive is untouched
    root = tmp_path / "noh"
    shutil.copytree(vaihingen / "top", root / "top")
    shutil.copytree(vaihingen / "gts_for_participants", root / "gts_for_participants")
    with pytest.raises(MissingFileError, match=r"area1.tif: no DSM for this tile .*data.heights none"):
        vaihingen_scenes(root, "train", "dsm")
    (root / "dsm").mkdir()
    with rasterio.open(
        root / "dsm" / "dsm_09cm_matching_area1.tif",
        "w",
        driver="GTiff",
        height=5,
        width=5,
        count=1,
        dtype="float32",
    ) as dst:
        dst.write(np.zeros((1, 5, 5), np.float32))
    with pytest.raises(
        DataError, match=r"dsm_09cm_matching_area1.tif: 5x5 px, but top_mosaic_09cm_area1.tif is"
    ):
        vaihingen_scenes(root, "train", "dsm")
    with pytest.raises(ConfigError, match=r"data\.heights"):
        vaihingen_scenes(root, "train", "lidar")
    with pytest.raises(ConfigError, match=r"data\.heights"):
        potsdam_scenes(potsdam, "train", "RGB", "lidar")
