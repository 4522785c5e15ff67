"""Frame-field guided polygons: direction coding, walls along the field (also at non-right angles), cut
corners dropped where the field says so, shared walls kept, and ``polygonize --frame-field``."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.features import rasterize, shapes
from rasterio.transform import from_origin
from shapely import affinity
from shapely.geometry import Polygon, box

from worldclass.data.synth.footprints import footprint_scene
from worldclass.data.vector import pixel_to_map, read_polygons
from worldclass.mapping.frame_field import (
    FrameField,
    encode_field,
    field_path_for,
    frame_directions,
    frame_regularize,
)
from worldclass.mapping.regularize import regularize, regularize_coverage
from worldclass.metrics.polygons import polygon_metrics


def _outline(poly: Polygon, n: int = 96) -> Polygon:
    """The raw 4-connected pixel outline of ``poly`` rendered on an n x n grid."""
    mask = rasterize([(poly, 1)], out_shape=(n, n), dtype="uint8")
    parts = [shapely.geometry.shape(g) for g, _ in shapes(mask, mask=mask == 1, connectivity=4)]
    return max(parts, key=lambda g: g.area)


def analytic_field(polys: list[Polygon], n: int) -> FrameField:
    """Per pixel: the direction of the nearest true wall and its normal; edge 1 within 2 px of a wall."""
    yy, xx = np.mgrid[0:n, 0:n] + 0.5
    pts = shapely.points(xx.ravel(), yy.ravel())
    segs, angles = [], []
    for p in polys:
        c = np.asarray(p.exterior.coords)
        for a, b in itertools.pairwise(c):
            segs.append(shapely.LineString([a, b]))
            angles.append(np.mod(np.arctan2(b[1] - a[1], b[0] - a[0]), np.pi))
    d = np.stack([shapely.distance(pts, s) for s in segs])
    u = np.asarray(angles)[d.argmin(0)].reshape(n, n)
    edge = (d.min(0) < 2).reshape(n, n).astype(float)
    return FrameField(u, np.mod(u + np.pi / 2, np.pi), edge)


def _vertices(g: Polygon) -> int:
    return len(g.exterior.coords) - 1


def _metrics(pred: Polygon, true: Polygon) -> dict[str, float]:
    return polygon_metrics(np.array([pred]), np.array([true]), step=1.0)


def test_directions_survive_the_coefficients_and_the_raster() -> None:
    rng = np.random.default_rng(0)
    tu, tv = rng.uniform(0, np.pi, 500), rng.uniform(0, np.pi, 500)
    u, v = np.exp(1j * tu), np.exp(1j * tv)
    c0, c2 = u**2 * v**2, -(u**2 + v**2)
    du, dv = frame_directions(c0, c2)

    def close(a: np.ndarray, b: np.ndarray, tol: float) -> np.ndarray:
        d = np.mod(a - b, np.pi)
        return np.minimum(d, np.pi - d) < tol

    same = (close(du, tu, 1e-6) & close(dv, tv, 1e-6)) | (close(du, tv, 1e-6) & close(dv, tu, 1e-6))
    assert same.all()
    c = np.stack([c0.real, c0.imag, c2.real, c2.imag]).reshape(4, 20, 25)
    bands = encode_field(np.full((20, 25), 0.5), c)
    back = FrameField.from_raster(bands)
    step = np.pi / 250
    ok = (close(back.u.ravel(), du, step) & close(back.v.ravel(), dv, step)) | (
        close(back.u.ravel(), dv, step) & close(back.v.ravel(), du, step)
    )
    assert ok.all() and np.allclose(back.edge, 127 / 254)
    assert field_path_for("maps/scene.tif") == "maps/scene.field.tif"


def test_rotated_rectangle_comes_back_as_four_right_angles() -> None:
    true = affinity.rotate(box(22, 30, 74, 62), 25, origin="centroid")
    raw = _outline(true)
    out = frame_regularize(raw, analytic_field([true], 96))
    assert out is not None and _vertices(out) == 4
    m = _metrics(out, true)
    assert m["iou"] > 0.95 and m["mta"] < 5


@pytest.mark.parametrize(
    "true",
    [
        Polygon([(20, 30), (70, 30), (82, 65), (32, 65)]),  # parallelogram
        Polygon([(20, 30), (78, 30), (66, 68), (32, 68)]),  # trapezoid
        Polygon([(20, 25), (66, 25), (76, 35), (76, 70), (20, 70)]),  # chamfered corner
    ],
    ids=["parallelogram", "trapezoid", "chamfered"],
)
def test_walls_follow_the_field_where_the_right_angle_rule_cannot(true: Polygon) -> None:
    true = affinity.rotate(true, 17, origin="centroid")
    raw = _outline(true)
    learned = frame_regularize(raw, analytic_field([true], 96))
    assert learned is not None and _vertices(learned) == _vertices(true)
    ours, rule = _metrics(learned, true), _metrics(regularize(raw), true)
    assert ours["iou"] > 0.96 and ours["c_iou"] > rule["c_iou"] + 0.02
    assert ours["mta"] < rule["mta"]
    if _vertices(true) == 4:  # the chamfer's short wall depends on where the outline's corners fall
        assert ours["mta"] < 5 < rule["mta"]


def test_a_cut_corner_goes_where_the_field_has_a_right_angle() -> None:
    """A predicted mask with a bevelled corner: the field (two walls) drops the bevel; outline alone keeps it."""
    x0, y0, x1, y1 = 20, 25, 76, 70
    true = affinity.rotate(box(x0, y0, x1, y1), 20, origin=(48, 48))
    bevel = Polygon([(x0, y0), (x1 - 6, y0), (x1, y0 + 6), (x1, y1), (x0, y1)])  # 6 px legs, 8.5 px cut
    blurred = affinity.rotate(bevel, 20, origin=(48, 48))
    raw = _outline(blurred)
    field = analytic_field([true], 96)
    with_field = frame_regularize(raw, field)
    without = frame_regularize(raw, None)
    assert with_field is not None and without is not None
    assert _vertices(with_field) == 4 and _vertices(without) == 5
    assert _metrics(with_field, true)["iou"] > _metrics(without, true)["iou"]


def test_two_buildings_keep_their_shared_wall_with_the_field() -> None:
    a = affinity.rotate(box(20, 30, 48, 60), 20, origin=(48, 45))
    b = affinity.rotate(box(48, 30, 78, 60), 20, origin=(48, 45))
    mask = rasterize([(a, 1), (b, 2)], out_shape=(96, 96), dtype="uint8")
    geoms, values = [], []
    for g, v in shapes(mask, connectivity=4):
        geoms.append(shapely.geometry.shape(g))
        values.append(int(v))
    arr = np.array(geoms, dtype=object)
    out = regularize_coverage(arr, np.asarray(values) > 0, analytic_field([a, b], 96))
    ia, ib = values.index(1), values.index(2)
    shared = shapely.intersection(out[ia], out[ib])
    assert shapely.area(shared) < 1e-6 and shapely.length(shared) > 25  # one wall, no overlap
    assert _vertices(out[ia]) <= 8 and _vertices(out[ib]) <= 8  # squared; small repairs at the wall's ends
    assert shapely.union_all(out).area == pytest.approx(96 * 96, abs=1e-6)  # no gaps, no overlaps


def _write_map(path: Path, labels: np.ndarray, field: np.ndarray | None) -> None:
    prof = dict(
        driver="GTiff",
        height=labels.shape[0],
        width=labels.shape[1],
        dtype="uint8",
        crs="EPSG:32633",
        transform=from_origin(500000, 5000000, 0.3, 0.3),
        nodata=255,
    )
    with rasterio.open(path, "w", count=1, **prof) as dst:
        dst.write(labels, 1)
        dst.update_tags(classes=json.dumps(["background", "building"]))
    if field is not None:
        with rasterio.open(field_path_for(str(path)), "w", count=3, **prof) as dst:
            dst.write(field)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "worldclass", *args], capture_output=True, text=True)


def test_polygonize_with_a_frame_field(tmp_path: Path) -> None:
    _, labels, polys = footprint_scene(3, 256, 64, kinds=("parallelogram", "trapezoid", "chamfered"))
    ff = analytic_field(polys, 256)
    u, v = np.exp(1j * ff.u), np.exp(1j * ff.v)
    c = np.stack(
        [(u * u * v * v).real, (u * u * v * v).imag, (-(u * u + v * v)).real, (-(u * u + v * v)).imag]
    )
    _write_map(tmp_path / "map.tif", labels, encode_field(ff.edge, c))
    field = field_path_for(str(tmp_path / "map.tif"))
    common = ["--min-area", "2", "--chunk", "128", "--workers", "2"]
    r = _cli(
        "polygonize", str(tmp_path / "map.tif"), "--out", str(tmp_path / "rule.gpkg"), "--regularize", *common
    )
    assert r.returncode == 0, r.stderr
    r = _cli(
        "polygonize",
        str(tmp_path / "map.tif"),
        "--out",
        str(tmp_path / "ff.gpkg"),
        "--frame-field",
        field,
        *common,
    )
    assert r.returncode == 0, r.stderr
    ref = pixel_to_map(np.array(polys, dtype=object), from_origin(500000, 5000000, 0.3, 0.3))
    rule = polygon_metrics(read_polygons(tmp_path / "rule.gpkg")[0], ref, step=0.3)
    learned = polygon_metrics(read_polygons(tmp_path / "ff.gpkg")[0], ref, step=0.3)
    assert learned["matched"] == len(polys) == 16
    assert learned["c_iou"] > rule["c_iou"] + 0.05 and learned["iou"] > rule["iou"]


def test_polygonize_refuses_a_field_of_another_grid(tmp_path: Path) -> None:
    labels = np.zeros((128, 128), np.uint8)
    labels[40:80, 40:90] = 1
    _write_map(tmp_path / "map.tif", labels, None)
    _write_map(tmp_path / "other.tif", np.zeros((64, 64), np.uint8), np.zeros((3, 64, 64), np.uint8))
    r = _cli(
        "polygonize",
        str(tmp_path / "map.tif"),
        "--out",
        str(tmp_path / "p.gpkg"),
        "--frame-field",
        str(tmp_path / "other.field.tif"),
    )
    assert r.returncode == 2 and "other.field.tif" in r.stderr and "grid" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "p.gpkg").exists()
    r = _cli(
        "polygonize",
        str(tmp_path / "map.tif"),
        "--out",
        str(tmp_path / "p.gpkg"),
        "--frame-field",
        str(tmp_path / "none.tif"),
    )
    assert r.returncode == 2 and "none.tif" in r.stderr and "worldclass map" in r.stderr


def test_the_field_decides_between_candidate_outlines() -> None:
    """field_misfit measures the angle to the field; guided_choice prefers the outline the field supports."""
    from worldclass.mapping.frame_field import field_misfit, guided_choice

    true = affinity.rotate(box(22, 30, 74, 62), 25, origin="centroid")
    turned = affinity.rotate(true, 10, origin="centroid")  # same area, walls 10° off the field
    field = analytic_field([true], 96)
    assert field_misfit(true, field) < np.radians(1)
    assert field_misfit(turned, field) == pytest.approx(np.radians(10), abs=np.radians(2))
    raw = _outline(true)
    assert guided_choice(raw, [turned, None, true], field) is true
    assert guided_choice(raw, [None], field) is None
    # a round outline fits two turned squares equally well: the field alone decides
    disk = shapely.Point(48, 48).buffer(20, quad_segs=64)
    square = affinity.rotate(box(32, 32, 64, 64), 25, origin=(48, 48))
    other = affinity.rotate(square, 45, origin=(48, 48))
    assert guided_choice(disk, [other, square], field) is square
    assert guided_choice(disk, [square, other], analytic_field([other], 96)) is other
