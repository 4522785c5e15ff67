"""`worldclass align`: the windowed vertex mover puts every vertex where the predicted field says (a model
whose field is a known constant moves a shifted building layer back exactly, across window borders, in
another CRS, attributes and validity kept); the evaluation scores vertices and footprints against the
truth; bad inputs give one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
import torch

from helpers import constant_field_checkpoint
from worldclass.data.misalign import warp_raster
from worldclass.data.synth.aerial import synth_scenes
from worldclass.data.vector import read_polygons, reproject, write_polygons
from worldclass.errors import ConfigError, LabelError
from worldclass.mapping.align import align_vectors
from worldclass.models.align import correlation, warp


def test_warp_and_correlation_follow_the_field_convention() -> None:
    lab = np.zeros((40, 40), np.uint8)
    lab[10:20, 12:30] = 1
    fld = np.zeros((2, 40, 40), np.float32)
    fld[0], fld[1] = 3, -2  # the map draws image point p at p + (3, -2)
    drawn = warp_raster(lab, fld)
    assert drawn[8:18, 15:33].all() and drawn.sum() == lab.sum()
    back = warp(torch.from_numpy(drawn).float()[None, None], torch.from_numpy(fld)[None])[0, 0]
    assert torch.equal(back > 0.5, torch.from_numpy(lab.astype(bool)))
    dot = np.zeros((40, 40), np.uint8)
    dot[15, 20] = 1
    vol = correlation(
        torch.from_numpy(dot).float()[None, None],
        torch.from_numpy(warp_raster(dot, fld)).float()[None, None],
        3,
    )
    best = int(vol[0, :, 15, 20].argmax())  # the only match: (dx, dy) = (3, -2)
    assert (best % 7 - 3, best // 7 - 3) == (3, -2) and float(vol[0, best, 15, 20]) == 1.0


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_scenes(tmp_path_factory.mktemp("align"), size=400, scenes=1, seed=2)


def test_constant_field_moves_a_shifted_layer_back_exactly(scene: Path, tmp_path: Path) -> None:
    import rasterio

    geoms, cols, crs = read_polygons(scene / "labels.gpkg")
    keep = cols["class"] == 1
    buildings, classes = geoms[keep], cols["class"][keep]
    with rasterio.open(scene / "images" / "scene1.tif") as src:
        gsd = src.transform.a
    shifted = shapely.transform(buildings, lambda xy: xy + np.array([2.5 * gsd, 1.5 * gsd]))  # +2.5, -1.5 px
    moved_in = tmp_path / "osm.geojson"  # written in WGS84: the aligner works in the scene CRS and back
    write_polygons(
        moved_in,
        shifted,
        {"class": classes, "name": np.array([f"b{i}" for i in range(len(classes))])},
        crs=crs,
    )
    ckpt = constant_field_checkpoint(tmp_path / "const.ckpt", (2.5, -1.5))
    out = tmp_path / "aligned.geojson"
    summary = align_vectors(
        ckpt, scene / "images" / "scene1.tif", moved_in, out, tile=128, margin=32, device="cpu"
    )
    got, got_cols, got_crs = read_polygons(out)
    assert "4326" in str(got_crs) and list(got_cols["name"]) == [f"b{i}" for i in range(len(classes))]
    assert summary["valid"] and summary["polygons"] == len(buildings)
    assert summary["shift_px_mean"] == pytest.approx(np.hypot(2.5, 1.5), abs=1e-3)
    back = reproject(got, "EPSG:4326", crs)
    err = np.abs(shapely.get_coordinates(back) - shapely.get_coordinates(buildings)).max()
    assert err < 0.01 * gsd, err  # back where they belong (the shift was 2.9 px)
    iou = (
        shapely.union_all(back).intersection(shapely.union_all(buildings)).area
        / shapely.union_all(buildings).area
    )
    assert iou > 0.999


def test_evaluation_scores_vertices_and_footprints(scene: Path, tmp_path: Path) -> None:
    from worldclass.tasks.alignment.evaluate import evaluate_alignment

    exact = evaluate_alignment(
        constant_field_checkpoint(tmp_path / "zero.ckpt", (0.0, 0.0), scene), split="val"
    )
    assert exact["epe_before"] == 0 and exact["epe_after"] < 1e-4 and exact["within_1px_after"] == 1
    off = evaluate_alignment(constant_field_checkpoint(tmp_path / "two.ckpt", (2.0, 0.0), scene), split="val")
    assert off["epe_after"] == pytest.approx(2.0, abs=1e-3)
    assert off["within_after"]["1"] == 0 and off["within_after"]["3"] == 1
    assert off["iou_after"] < exact["iou_after"] == pytest.approx(1.0)


def test_bad_inputs_are_one_line(scene: Path, tmp_path: Path, cls_checkpoint: Path) -> None:
    ckpt = constant_field_checkpoint(tmp_path / "c.ckpt", (0.0, 0.0))
    image, labels = scene / "images" / "scene1.tif", scene / "labels.gpkg"
    with pytest.raises(ConfigError, match="not an alignment model"):
        align_vectors(cls_checkpoint, image, labels, tmp_path / "a.gpkg")
    with pytest.raises(LabelError, match="no column 'kind'"):
        align_vectors(ckpt, image, labels, tmp_path / "a.gpkg", class_column="kind")
    with pytest.raises(LabelError, match="--class 'tree'"):
        align_vectors(ckpt, image, labels, tmp_path / "a.gpkg", map_class="tree")
