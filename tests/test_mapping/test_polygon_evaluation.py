"""``polygon-metrics`` compares the same classes on both sides: predicted buildings against reference
buildings, not against every reference polygon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

from worldclass.data.vector import write_polygons
from worldclass.errors import ConfigError
from worldclass.mapping.polygon_evaluation import compare_polygon_files
from worldclass.metrics.polygons import polygon_metrics

CRS = "EPSG:32633"


def _files(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    buildings = np.array([shapely.box(x, 0, x + 10, 10) for x in (0, 30, 60)], dtype=object)
    roads = np.array([shapely.box(0, 20, 100, 25), shapely.box(0, 40, 100, 45)], dtype=object)
    pred = tmp_path / "pred.gpkg"
    shifted = np.array([shapely.affinity.translate(g, 1, 0) for g in buildings], dtype=object)
    write_polygons(
        pred,
        shifted,
        {"class_id": np.ones(3, np.int32), "class_name": np.array(["building"] * 3, dtype=object)},
        crs=CRS,
    )
    ref = tmp_path / "ref.gpkg"
    geoms = np.concatenate([buildings, roads])
    write_polygons(ref, geoms, {"class": np.array([1, 1, 1, 2, 2], np.int32)}, crs=CRS)
    return pred, ref, shifted, buildings


def test_default_compares_matching_classes(tmp_path: Path) -> None:
    pred, ref, shifted, buildings = _files(tmp_path)
    m = compare_polygon_files(pred, ref)
    expected = polygon_metrics(shifted, buildings)
    assert m["iou"] == pytest.approx(expected["iou"]) and m["iou"] == pytest.approx(9 / 11)
    assert m["c_iou"] == pytest.approx(expected["c_iou"])
    assert m["reference"] == 3 and m["reference_classes"] == ["1"] and m["classes"] == ["building"]
    with pytest.raises(ConfigError, match="no polygon of classes"):
        compare_polygon_files(pred, ref, reference_classes=["9"])
    with pytest.raises(ConfigError, match="holds"):
        compare_polygon_files(pred, ref, classes=["road"])
    with pytest.raises(ConfigError, match="step"):
        compare_polygon_files(pred, ref, step=-1)


def test_cli_selects_classes(tmp_path: Path) -> None:
    pred, ref, *_ = _files(tmp_path)
    run = [sys.executable, "-m", "worldclass", "polygon-metrics", str(pred), str(ref), "--json"]
    r = subprocess.run(run, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["iou"] == pytest.approx(9 / 11)
    r = subprocess.run([*run, "--reference-classes", "1,2"], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["iou"] < 0.5  # roads counted as missed buildings


def test_wgs84_geojson_gives_the_utm_numbers(tmp_path: Path) -> None:
    """The same polygons as GPKG in UTM 33N and as GeoJSON (written in WGS84) give the same metrics."""
    rng = np.random.default_rng(0)
    x0, y0 = 480_000.0, 5_330_000.0
    ref = np.array(
        [shapely.box(x0 + x, y0 + y, x0 + x + 14, y0 + y + 9) for x in range(0, 300, 40) for y in (0, 50)],
        dtype=object,
    )
    pred = np.array(
        [shapely.affinity.rotate(shapely.affinity.translate(g, *rng.uniform(-2, 2, 2)), 4) for g in ref],
        dtype=object,
    )
    fields = {"class_name": np.array(["building"] * len(ref), dtype=object)}
    scores = {"score": rng.uniform(0, 1, len(ref))}
    for suffix in ("gpkg", "geojson"):
        write_polygons(tmp_path / f"pred.{suffix}", pred, fields | scores, crs=CRS)
        write_polygons(tmp_path / f"ref.{suffix}", ref, fields, crs=CRS)
    utm = compare_polygon_files(tmp_path / "pred.gpkg", tmp_path / "ref.gpkg", step=1.0)
    wgs = compare_polygon_files(tmp_path / "pred.geojson", tmp_path / "ref.geojson", step=1.0)
    assert "EPSG:32633" in utm["crs"] and "EPSG:32633" in wgs["crs"] and "reprojected" in wgs["crs"]
    assert wgs["ranked_by"] == "score"
    for key in ("iou", "ap", "ap50", "pair_iou", "boundary_iou", "c_iou", "polis", "mta"):
        assert wgs[key] == pytest.approx(utm[key], rel=0.01), key
    assert 0.5 < utm["polis"] < 3  # metres, not degrees
