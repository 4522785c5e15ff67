"""Benchmark submissions from class maps: ISPRS colours matched by class name, CrowdAI COCO results that
pycocotools reads and scores, refusals; and mapping a scene without CRS on its pixel grid."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.features import rasterize

from worldclass.data.isprs import ISPRS_CLASSES, ISPRS_TABLE
from worldclass.errors import ConfigError, DataError
from worldclass.mapping.submission import benchmark_submission, coco_instances
from worldclass.mapping.writer import MapWriter


def _map(path: Path, classes: np.ndarray, names: list[str], *, crs: bool = False) -> Path:
    profile = {"height": classes.shape[0], "width": classes.shape[1], "crs": "EPSG:32633" if crs else None}
    profile["transform"] = (
        rasterio.Affine(0.05, 0, 368000, 0, -0.05, 5812000) if crs else rasterio.Affine.identity()
    )
    with MapWriter(path, profile, names) as w:
        probs = np.eye(len(names), dtype=np.float32)[classes].transpose(2, 0, 1)
        w.write(
            rasterio.windows.Window(0, 0, classes.shape[1], classes.shape[0]),
            probs,
            np.ones(classes.shape, bool),
        )
    return path


def test_isprs_submission_colours_follow_class_names_not_indices(tmp_path: Path) -> None:
    truth = np.zeros((40, 50), np.int64)
    truth[5:20, 5:25] = 1  # building
    truth[25:35, 30:45] = 4  # car
    truth[:, 46:] = 5  # clutter
    permuted = list(reversed(ISPRS_CLASSES))  # a model trained with another class order
    as_permuted = np.array([permuted.index(c) for c in ISPRS_CLASSES])[truth]
    _map(tmp_path / "maps" / "top_mosaic_09cm_area2.tif", truth, list(ISPRS_CLASSES))
    _map(tmp_path / "maps" / "top_potsdam_2_13_RGB.tif", as_permuted, permuted, crs=True)
    files = benchmark_submission("vaihingen", [tmp_path / "maps"], tmp_path / "sub")
    names = sorted(p.name for p in files)
    assert names == ["submission.zip", "top_mosaic_09cm_area2_class.tif", "top_potsdam_2_13_class.tif"]
    for name in names[1:]:
        with rasterio.open(tmp_path / "sub" / name) as src:
            assert src.count == 3 and src.dtypes[0] == "uint8"
            np.testing.assert_array_equal(ISPRS_TABLE.decode(src.read(), name), truth)
    with zipfile.ZipFile(tmp_path / "sub" / "submission.zip") as z:
        assert sorted(z.namelist()) == names[1:]
    _map(tmp_path / "bad" / "top_mosaic_09cm_area4.tif", truth.clip(0, 1), ["background", "building"])
    with pytest.raises(ConfigError, match=r"area4.tif: classes \['background'\] are not ISPRS classes"):
        benchmark_submission("potsdam", [tmp_path / "bad"], tmp_path / "sub2")
    _map(tmp_path / "odd" / "scene.tif", truth, list(ISPRS_CLASSES))
    with pytest.raises(ConfigError, match="not named like an ISPRS tile"):
        benchmark_submission("vaihingen", [tmp_path / "odd"], tmp_path / "sub3")
    with pytest.raises(ConfigError, match="'massachusetts-roads' has no official submission format"):
        benchmark_submission("massachusetts-roads", [tmp_path / "maps"], tmp_path / "sub4")


def test_coco_submission_is_read_and_scored_by_pycocotools(tmp_path: Path) -> None:
    from shapely.geometry import box

    from helpers import pycocotools_stats

    images, anns = [], []
    for iid, rects in ((7, [(10, 10, 40, 30), (60, 50, 90, 95)]), (8, [(5, 70, 25, 99)]), (9, [])):
        polys = [box(*r) for r in rects]
        cls = (
            rasterize([(p, 1) for p in polys], out_shape=(100, 100), dtype="uint8")
            if polys
            else np.zeros((100, 100), np.uint8)
        )
        _map(tmp_path / "maps" / f"{iid:012d}.tif", cls.astype(np.int64), ["background", "building"])
        images.append({"id": iid, "file_name": f"{iid:012d}.jpg", "width": 100, "height": 100})
        for p in polys:
            ring = list(np.asarray(p.exterior.coords).ravel())
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": iid,
                    "category_id": 100,
                    "segmentation": [ring],
                    "area": p.area,
                    "bbox": [0, 0, 1, 1],
                    "iscrowd": 0,
                }
            )
    (sub,) = benchmark_submission("crowdai", [tmp_path / "maps"], tmp_path / "sub")
    results = json.loads(sub.read_text())
    assert len(results) == 3 and {r["category_id"] for r in results} == {100}
    assert all(r["segmentation"][0][:2] == r["segmentation"][0][-2:] for r in results)  # closed rings
    stats = pycocotools_stats(tmp_path, images, anns, results)
    assert stats[0] > 0.95 and stats[8] > 0.95  # perfect maps -> AP and AR ~ 1


def test_coco_instances_score_by_probability_and_drop_holes() -> None:
    cls = np.zeros((20, 20), np.uint8)
    cls[2:12, 2:12] = 1
    cls[5:8, 5:8] = 0  # a courtyard
    cls[15:18, 15:19] = 1
    prob = np.where(cls == 1, 0.9, 0.1).astype(np.float32)
    prob[15:18, 15:19] = 0.6
    inst = sorted(coco_instances(cls, prob, 1), key=lambda d: -d["area"])
    assert [round(d["score"], 2) for d in inst] == [0.9, 0.6]
    assert inst[0]["area"] == 91 and inst[0]["bbox"] == [2.0, 2.0, 10.0, 10.0]
    assert len(inst[0]["segmentation"]) == 1  # outer ring only


def test_scenes_without_crs_are_mapped_on_their_pixel_grid_when_asked(tmp_path: Path) -> None:
    from tests.test_mapping.test_engine import pointwise_predictor, write_scene

    from worldclass.mapping.polygonize import polygonize
    from worldclass.mapping.whole_scene import map_scenes

    img = np.random.default_rng(0).integers(0, 255, (3, 48, 64), dtype=np.uint8)
    scene = write_scene(tmp_path / "tile.tif", img, crs=None)
    pred = pointwise_predictor()
    with pytest.raises(DataError, match=r"has no CRS.*--pixel-grid"):
        map_scenes(pred, [scene], tmp_path / "refused.tif")
    [res] = map_scenes(pred, [scene], tmp_path / "map.tif", tile=32, overlap=8, pixel_grid=True)
    with rasterio.open(res.out) as src:
        assert src.crs is None and src.tags()["pixel_grid"] == "1"
    polygonize(res.out, tmp_path / "polys.gpkg")
    import pyogrio

    info = pyogrio.read_info(tmp_path / "polys.gpkg", layer="polygons")
    assert info["crs"] is None and info["features"] > 0
    assert info["total_bounds"] == pytest.approx((500000.0, 4999976.0, 500032.0, 5000000.0))  # the grid


def test_benchmark_colours_reach_the_cog_and_both_qgis_styles(tmp_path: Path) -> None:
    from worldclass.mapping.polygonize import polygonize

    truth = np.zeros((64, 64), np.int64)
    truth[10:40, 10:40] = 1
    truth[45:60, 5:20] = 4
    path = tmp_path / "m.tif"
    profile = {"height": 64, "width": 64, "crs": "EPSG:32633"}
    profile["transform"] = rasterio.Affine(0.5, 0, 500000, 0, -0.5, 5000000)
    colours = [tuple(c) for c in ISPRS_TABLE.colours[:6]]
    with MapWriter(path, profile, list(ISPRS_CLASSES), colours=colours) as w:  # type: ignore[arg-type]
        probs = np.eye(6, dtype=np.float32)[truth].transpose(2, 0, 1)
        w.write(rasterio.windows.Window(0, 0, 64, 64), probs, np.ones((64, 64), bool))
    with rasterio.open(path) as src:
        cmap = src.colormap(1)
        assert cmap[1][:3] == (0, 0, 255) and cmap[4][:3] == (255, 255, 0) and cmap[5][:3] == (255, 0, 0)
    qml = path.with_suffix(".qml").read_text()
    assert 'color="#0000ff" alpha="255" label="building"' in qml
    polygonize(path, tmp_path / "p.gpkg")
    vqml = (tmp_path / "p.qml").read_text()
    assert 'value="0,0,255,150"' in vqml and 'value="255,255,0,150"' in vqml
