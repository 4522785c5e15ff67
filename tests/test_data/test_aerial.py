"""Synthetic aerial scenes, the Inria layout and splits, scene windows with raster or vector labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window

from worldclass.data.inria import INRIA_CLASSES, InriaAerial, inria_scenes, parse_name
from worldclass.data.nomenclature import IGNORE_INDEX
from worldclass.data.scene_access import band_statistics
from worldclass.data.scenes import Scene, SceneDataset, read_window
from worldclass.data.synth.aerial import AERIAL_CLASSES, INRIA_TEST, INRIA_TRAIN, render_block, write_scene
from worldclass.errors import LabelError, MissingFileError


def test_render_is_independent_of_block_layout() -> None:
    rgb, lab = render_block(5, 0, 0, 300, 260)
    rgb2, lab2 = render_block(5, 100, 37, 150, 200)
    np.testing.assert_array_equal(lab[100:250, 37:237], lab2)
    np.testing.assert_array_equal(rgb[:, 100:250, 37:237], rgb2)
    counts = np.bincount(lab.ravel(), minlength=5)
    assert (counts[:3] > 0).all()  # background, buildings and roads present


def test_inria_layout_names_and_splits(inria_root: Path) -> None:
    train_imgs = sorted(p.name for p in (inria_root / "train" / "images").iterdir())
    assert "tyrol-w3.tif" in train_imgs and len(train_imgs) == 30
    assert sorted(p.name for p in (inria_root / "train" / "gt").iterdir()) == train_imgs
    assert {parse_name(p.name)[0] for p in (inria_root / "test" / "images").iterdir()} == set(INRIA_TEST)
    assert parse_name("tyrol-w12.tif") == ("tyrol-w", 12)
    val, train = inria_scenes(inria_root, "val"), inria_scenes(inria_root, "train")
    assert len(val) == 25 and len(train) == 5 and {s.group for s in val} == set(INRIA_TRAIN)
    assert all(parse_name(s.image.name)[1] <= 5 for s in val)
    with rasterio.open(inria_root / "train" / "gt" / "austin1.tif") as gt, rasterio.open(val[0].image) as img:
        assert set(np.unique(gt.read(1))) <= {0, 255} and gt.count == 1
        assert img.count == 3 and img.dtypes[0] == "uint8" and img.crs is not None
    test = inria_scenes(inria_root.parent, "test")  # the parent folder works too
    assert all(s.labels is None for s in test)


def test_inria_dataset_samples(inria_root: Path) -> None:
    torch.manual_seed(0)
    ds = InriaAerial(inria_root, "train", size=128, samples_per_epoch=6)
    s = ds[0]
    assert s["image"].shape == (3, 128, 128) and s["image"].dtype == torch.float32
    assert s["mask"].dtype == torch.int64 and set(s["mask"].unique().tolist()) <= {0, 1}
    assert len(ds) == 6 and ds.classes == INRIA_CLASSES
    val = InriaAerial(inria_root, "val", size=128)
    assert len(val) == 25 * 4  # 256 px tiles -> 2 x 2 grid windows each
    a, b = val[3], val[3]
    assert torch.equal(a["image"], b["image"])  # grid windows are deterministic


def test_vector_labels_match_raster_labels(scenes_root: Path) -> None:
    img = scenes_root / "images" / "scene1.tif"
    raster = Scene(img, labels=scenes_root / "labels" / "scene1.tif")
    vector = Scene(img, vector=scenes_root / "labels.gpkg")
    win = Window(50, 70, 200, 150)  # type: ignore[call-arg]
    _, m1 = read_window(raster, win, AERIAL_CLASSES)
    _, m2 = read_window(vector, win, AERIAL_CLASSES)
    assert m1 is not None and m2 is not None
    assert (m1 == m2).mean() > 0.999


def test_vector_labels_in_another_crs_and_bad_classes(scenes_root: Path, tmp_path: Path) -> None:
    from worldclass.data.vector import read_polygons, reproject, write_polygons

    geoms, cols, crs = read_polygons(scenes_root / "labels.gpkg")
    write_polygons(tmp_path / "wgs84.gpkg", reproject(geoms, crs, "EPSG:4326"), cols, crs="EPSG:4326")
    img = scenes_root / "images" / "scene1.tif"
    win = Window(0, 0, 200, 200)  # type: ignore[call-arg]
    _, m1 = read_window(Scene(img, labels=scenes_root / "labels" / "scene1.tif"), win, AERIAL_CLASSES)
    _, m2 = read_window(Scene(img, vector=tmp_path / "wgs84.gpkg"), win, AERIAL_CLASSES)
    assert (m1 == m2).mean() > 0.99
    names = np.array([AERIAL_CLASSES[c] for c in cols["class"]], dtype=object)
    names[0] = "parking lot"
    write_polygons(tmp_path / "named.gpkg", geoms, {"class": names}, crs=crs)
    with pytest.raises(LabelError, match=r"unknown class 'parking lot'"):
        read_window(Scene(img, vector=tmp_path / "named.gpkg"), win, AERIAL_CLASSES)
    with pytest.raises(MissingFileError, match=r"nothing\.gpkg"):
        read_window(Scene(img, vector=tmp_path / "nothing.gpkg"), win, AERIAL_CLASSES)


def test_scene_dataset_pads_small_scenes_and_statistics(tmp_path: Path) -> None:
    write_scene(tmp_path / "small.tif", 40, 50, seed=3, labels=tmp_path / "small_labels.tif")
    scene = Scene(tmp_path / "small.tif", labels=tmp_path / "small_labels.tif")
    mean, std = band_statistics([scene])
    with rasterio.open(scene.image) as src:
        raw = src.read().reshape(3, -1) / 255
    np.testing.assert_allclose(mean, raw.mean(1), rtol=1e-6)
    np.testing.assert_allclose(std, raw.std(1), rtol=1e-5)
    ds = SceneDataset([scene], AERIAL_CLASSES, size=64, mode="grid", mean=mean, std=std)
    s = ds[0]
    assert s["image"].shape == (3, 64, 64) and (s["mask"][40:] == IGNORE_INDEX).all()
    assert abs(float(s["image"][:, :40, :50].mean())) < 0.5


def test_grid_windows_count_every_labelled_pixel_once(tmp_path: Path) -> None:
    """150 x 100 px at 64 px: the last window of each axis is shifted inside; the pixels it shares with
    its neighbour are ignore there, so the labelled pixels of all windows are the scene's, once each."""
    write_scene(tmp_path / "s.tif", 150, 100, seed=4, labels=tmp_path / "s_labels.tif")
    scene = Scene(tmp_path / "s.tif", labels=tmp_path / "s_labels.tif")
    ds = SceneDataset([scene], AERIAL_CLASSES, size=64, mode="grid")
    counted = np.zeros((150, 100), int)
    for k, (_, win) in enumerate(ds.windows):
        m = ds[k]["mask"].numpy()
        counted[win.toslices()] += m != IGNORE_INDEX
    with rasterio.open(tmp_path / "s_labels.tif") as src:
        labelled = src.read(1) < len(AERIAL_CLASSES)
    np.testing.assert_array_equal(counted, labelled.astype(int))


def _nearest_colour_accuracy(style: str) -> float:
    """Class mean colours from one scene, each pixel of another scene labelled by the nearest mean."""
    a_rgb, a_lab = render_block(1, 0, 0, 720, 720, style)
    b_rgb, b_lab = render_block(2, 0, 0, 720, 720, style)
    means = np.stack([a_rgb[:, a_lab == c].mean(1) for c in range(len(AERIAL_CLASSES))])
    x = b_rgb.reshape(3, -1).T.astype(np.float32)
    pred = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), 1)
    return float((pred == b_lab.ravel()).mean())


def test_hard_scenes_defeat_a_nearest_colour_rule_and_stay_block_independent() -> None:
    assert _nearest_colour_accuracy("plain") > 0.85  # the rule works where each class has one colour
    assert _nearest_colour_accuracy("hard") < 0.70
    rgb, lab = render_block(5, 0, 0, 300, 260, "hard")
    rgb2, lab2 = render_block(5, 100, 37, 150, 200, "hard")
    np.testing.assert_array_equal(rgb[:, 100:250, 37:237], rgb2)
    np.testing.assert_array_equal(lab[100:250, 37:237], lab2)
    plain_rgb, plain_lab = render_block(5, 0, 0, 300, 260)
    np.testing.assert_array_equal(lab, plain_lab)  # same scene content, only its look differs
    assert np.abs(rgb.astype(int) - plain_rgb).mean() > 10


def test_unknown_style_is_refused(tmp_path: Path) -> None:
    from worldclass.errors import ConfigError

    with pytest.raises(ConfigError, match="style 'neon'"):
        write_scene(tmp_path / "s.tif", 64, 64, style="neon")
