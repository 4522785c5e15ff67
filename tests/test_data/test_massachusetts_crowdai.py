"""Massachusetts (original and Kaggle-mirror layouts, white no-data) and CrowdAI (COCO polygons: rings,
clipping, category 100, union semantics as pycocotools; mismatched files refused) readers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from worldclass.data.crowdai import annotation_geometry, crowdai_scenes, read_coco
from worldclass.data.massachusetts import massachusetts_scenes
from worldclass.data.nomenclature import IGNORE_INDEX
from worldclass.data.scenes import read_labels
from worldclass.data.synth.crowdai import synth_crowdai
from worldclass.data.synth.massachusetts import render_suburb, synth_massachusetts
from worldclass.errors import CorruptFileError, DataError, LabelError, MissingFileError


@pytest.fixture(scope="module")
def roads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_massachusetts(tmp_path_factory.mktemp("mr"), "roads", counts=(3, 1, 1), size=128, seed=2)


@pytest.fixture(scope="module")
def crowdai(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_crowdai(tmp_path_factory.mktemp("ca") / "crowdai", counts=(6, 3))


def test_massachusetts_original_layout_splits_and_no_data(roads: Path) -> None:
    train = massachusetts_scenes(roads.parent, "train", "mass_roads")  # the parent of mass_roads works too
    assert len(train) == 3 and all(s.image.suffix == ".tiff" and s.labels.suffix == ".tif" for s in train)  # type: ignore[union-attr]
    assert all(s.image.stem.endswith("_15") for s in train)
    assert [s.group for s in massachusetts_scenes(roads, "val", "mass_roads")] == ["val"]  # 'valid' on disk
    hit = 0
    for s in train + massachusetts_scenes(roads, "test", "mass_roads"):
        with rasterio.open(s.image) as src:
            img = src.read()
        with rasterio.open(s.labels) as src:  # type: ignore[arg-type]
            raw = src.read(1)
        assert set(np.unique(raw)) <= {0, 255}
        lab = read_labels(s, Window(0, 0, 128, 128), ["background", "road"])
        assert lab is not None
        white = (img == 255).all(0)
        assert (lab[white] == IGNORE_INDEX).all()
        np.testing.assert_array_equal(lab[~white], (raw[~white] > 0).astype(np.uint8))
        hit += int(white.any())
    assert hit, "no tile with a white no-data region was generated"


def test_massachusetts_kaggle_mirror_and_missing_label(roads: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    for split, name in (("train", "train"), ("valid", "val"), ("test", "test")):
        shutil.copytree(roads / split / "sat", mirror / "tiff" / name)
        shutil.copytree(roads / split / "map", mirror / "tiff" / f"{name}_labels")
    assert len(massachusetts_scenes(mirror, "train", "mass_roads")) == 3
    assert len(massachusetts_scenes(mirror, "val", "mass_roads")) == 1
    next((mirror / "tiff" / "test_labels").iterdir()).unlink()
    with pytest.raises(MissingFileError, match=r"label map missing for .*_15.tiff"):
        massachusetts_scenes(mirror, "test", "mass_roads")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingFileError, match=r"point data.root at the mass_buildings folder"):
        massachusetts_scenes(tmp_path / "empty", "train", "mass_buildings")


def test_road_labels_are_centre_lines_not_the_visible_asphalt() -> None:
    rgb, road, building = render_suburb(5, 256)
    asphalt_like = (np.abs(rgb.astype(int) - rgb[:, road == 1].mean(1)[:, None, None]).max(0) < 25) & (
        road == 0
    )
    assert asphalt_like.sum() > 0.3 * road.sum()  # grey houses, lots and wider asphalt look like road
    assert not (road.astype(bool) & building.astype(bool)).any()


def test_coco_rings_rasterise_to_the_expected_masks(tmp_path: Path) -> None:
    square = [[1, 1, 4, 1, 4, 4, 1, 4, 1, 1]]  # closed ring, pixel units
    g = annotation_geometry(square, 6, 6, "a")
    assert g.area == 9 and len(g.exterior.coords) == 5
    from rasterio.features import rasterize

    mask = rasterize([(g, 1)], out_shape=(6, 6), dtype="uint8")
    want = np.zeros((6, 6), np.uint8)
    want[1:4, 1:4] = 1
    np.testing.assert_array_equal(mask, want)
    outside = annotation_geometry([[-3, -2, 2, -2, 2, 2, -3, 2, -3, -2]], 6, 6, "b")  # clipped to the tile
    assert outside.bounds == (0.0, 0.0, 2.0, 2.0)
    two = annotation_geometry([square[0], [3, 3, 5, 3, 5, 5, 3, 5, 3, 3]], 6, 6, "c")
    assert two.area == 9 + 4 - 1  # rings united, as pycocotools rasterises them
    with pytest.raises(CorruptFileError, match="odd number"):
        annotation_geometry([[1, 2, 3]], 6, 6, "d")
    with pytest.raises(CorruptFileError, match="RLE"):
        annotation_geometry({"counts": "x", "size": [6, 6]}, 6, 6, "e")


def test_crowdai_reader_matches_pycocotools_masks(crowdai: Path) -> None:
    from pycocotools.coco import COCO

    images = read_coco(crowdai, "val")
    assert [im.path.name for im in images] == sorted(p.name for p in (crowdai / "val" / "images").iterdir())
    coco = COCO(str(crowdai / "val" / "annotation.json"))
    assert coco.getCatIds() == [100]
    scenes = crowdai_scenes(crowdai, "val")
    agree = []
    for im, scene in zip(images, scenes, strict=True):
        ours = read_labels(scene, Window(0, 0, 300, 300), ["background", "building"])
        theirs = np.zeros((300, 300), np.uint8)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[im.id])):
            theirs |= coco.annToMask(ann)
        assert ours is not None
        if theirs.any():
            agree.append((ours & theirs).sum() / (ours | theirs).sum())
    assert agree and min(agree) > 0.95
    small = read_coco(crowdai, "train", "annotation-small.json")
    assert 0 < len(small) < len(read_coco(crowdai, "train"))


def test_crowdai_bad_inputs_name_the_file(crowdai: Path, tmp_path: Path) -> None:
    root = tmp_path / "c"
    shutil.copytree(crowdai, root)
    ann = root / "val" / "annotation.json"
    doc = json.loads(ann.read_text())
    shutil.copy(root / "train" / "annotation.json", ann)  # train annotations beside val images
    with pytest.raises(DataError, match=r"annotation.json: .* images are not in .*train vs val"):
        read_coco(root, "val")
    bad = dict(
        doc, annotations=[*doc["annotations"], {**doc["annotations"][0], "id": 999, "image_id": 12345}]
    )
    ann.write_text(json.dumps(bad))
    with pytest.raises(DataError, match="annotation 999 refers to image_id 12345"):
        read_coco(root, "val")
    ann.write_text(json.dumps(dict(doc, categories=[{"id": 1, "name": "building"}])))
    with pytest.raises(LabelError, match="no category id 100"):
        read_coco(root, "val")
    ann.write_text('{"images": [')
    with pytest.raises(CorruptFileError, match="not valid JSON"):
        read_coco(root, "val")
    with pytest.raises(MissingFileError, match=r"annotation-big.json: annotation file not found"):
        read_coco(root, "val", "annotation-big.json")


def test_crowdai_leakage_report_finds_the_val_tiles_copied_from_train(crowdai: Path, tmp_path: Path) -> None:
    from PIL import Image

    from worldclass.data.crowdai import crowdai_leakage
    from worldclass.data.duplicates import phash

    report = crowdai_leakage(crowdai)
    val = sorted((crowdai / "val" / "images").iterdir())
    train_hashes = {phash(p) for p in (crowdai / "train" / "images").iterdir()}
    copied = [p.name for p in val if phash(p) in train_hashes]
    assert report["images"] == {"train": 6, "val": 3}
    assert report["pairs"]["val in train"]["examples"] == copied and len(copied) == 1  # val tile 1 of 3
    # a re-encoded, slightly brightened copy is not identical, but within a few bits
    img = np.asarray(Image.open(val[0]).convert("RGB")).astype(int)
    Image.fromarray(np.clip(img + 6, 0, 255).astype(np.uint8)).save(tmp_path / "near.jpg", quality=70)
    assert bin(phash(val[0]) ^ phash(tmp_path / "near.jpg")).count("1") <= 4
    other = next(p for p in val if p.name not in copied and p != val[0])
    assert bin(phash(val[0]) ^ phash(other)).count("1") > 10  # different tiles are far apart


def test_open_raster_handles_are_bounded(crowdai: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from worldclass.data import scenes as scenes_mod

    monkeypatch.setattr(scenes_mod._Handles, "MAX_OPEN", 4)
    monkeypatch.setattr(scenes_mod, "_HANDLES", scenes_mod._Handles())
    tiles = crowdai_scenes(crowdai, "train") + crowdai_scenes(crowdai, "val")
    first = [scenes_mod.read_window(s, Window(0, 0, 300, 300), ["background", "building"])[0] for s in tiles]
    assert len(scenes_mod._HANDLES.rasters) == 4  # many tiles, few open files
    again = [scenes_mod.read_window(s, Window(0, 0, 300, 300), ["background", "building"])[0] for s in tiles]
    assert all((a == b).all() for a, b in zip(first, again, strict=True))  # closed ones reopen
