"""The misalignment simulator: smooth fields of the requested size that are invertible within tolerance,
objects moved by field + shift, omitted and spurious objects reported, all seeded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import CRS

from worldclass.data.misalign import (
    LayerSpec,
    displacement_field,
    invert_points,
    misalign,
    misalign_layer,
    sample_field,
)
from worldclass.errors import LabelError


def test_fields_have_the_requested_size_and_are_smooth() -> None:
    f = displacement_field((256, 320), amplitude=4.0, scale=64.0, seed=1)
    assert f.shape == (2, 256, 320) and f.dtype == np.float32
    assert np.allclose(f.reshape(2, -1).std(1), 4.0, rtol=0.25)
    grad = np.abs(np.diff(f, axis=2)).max()
    assert grad < 0.5  # per pixel: far below 1, so x -> x + f(x) folds nowhere
    assert not np.array_equal(f, displacement_field((256, 320), amplitude=4.0, scale=64.0, seed=2))
    np.testing.assert_array_equal(f, displacement_field((256, 320), amplitude=4.0, scale=64.0, seed=1))


def test_fields_are_invertible_within_tolerance() -> None:
    f = displacement_field((200, 200), amplitude=5.0, scale=48.0, seed=3)
    rng = np.random.default_rng(0)
    p = rng.uniform(20, 180, (500, 2))
    y = p + sample_field(f, p)
    back = invert_points(f, y)
    assert np.abs(back - p).max() < 0.05


def test_misalign_moves_drops_and_invents_objects_and_keeps_the_truth() -> None:
    rng = np.random.default_rng(1)
    geoms = np.array(
        [shapely.box(x, y, x + 12, y + 10) for x, y in rng.uniform(10, 230, (80, 2))], dtype=object
    )
    m = misalign(
        geoms, (256, 256), amplitude=3.0, scale=64, object_shift=1.0, p_omit=0.1, p_spurious=0.1, seed=4
    )
    kept = m.source[m.source >= 0]
    assert 2 <= len(m.omitted) <= 20 and set(kept).isdisjoint(m.omitted)
    assert len(kept) + len(m.omitted) == len(geoms)
    assert 1 <= (m.source == -1).sum() <= 20
    for g, i in zip(m.geoms, m.source, strict=True):
        assert g.is_valid
        if i < 0:
            continue
        c0 = np.asarray(geoms[i].centroid.coords)
        expected = c0 + sample_field(m.displacement, c0) + m.shifts[i]
        assert np.abs(np.asarray(g.centroid.coords) - expected).max() < 0.3  # smooth field: ~rigid move
    ious = [
        shapely.intersection(g, geoms[i]).area / shapely.union(g, geoms[i]).area
        for g, i in zip(m.geoms, m.source, strict=True)
        if i >= 0
    ]
    assert 0.2 < np.mean(ious) < 0.95  # visibly misaligned, still overlapping


def test_misalign_layer_moves_only_the_named_classes_per_scene_seeded(tmp_path: Path) -> None:
    """Buildings move by field + offset of their scene (different per scene), other classes stay exactly,
    the CRS is the scenes', the same spec writes the same map."""
    from worldclass.data.synth.aerial import AERIAL_CLASSES, synth_scenes
    from worldclass.data.vector import read_polygons

    root = synth_scenes(tmp_path / "s", size=256, scenes=2, seed=3)
    images = sorted((root / "images").glob("*.tif"))
    spec = LayerSpec(amplitude=0.0, max_offset=4.0, object_shift=0.0, p_omit=0.0, p_spurious=0.0, seed=1)
    stats = misalign_layer(images, root / "labels.gpkg", tmp_path / "m.gpkg", AERIAL_CLASSES, spec)
    g0, c0, crs0 = read_polygons(root / "labels.gpkg")
    g1, c1, crs1 = read_polygons(tmp_path / "m.gpkg")
    assert crs1 is not None and CRS.from_user_input(crs1) == CRS.from_user_input(crs0)
    b0, b1 = c0["class"] == 1, c1["class"] == 1
    assert sorted(shapely.to_wkb(g0[~b0])) == sorted(shapely.to_wkb(g1[~b1]))  # roads, water...: untouched
    assert b0.sum() == b1.sum() > 4
    offsets = [s["offset_px"] for s in stats["scenes"]]
    assert offsets[0] != offsets[1] and all(max(map(abs, o)) <= 4 for o in offsets)
    for img, off in zip(images, offsets, strict=True):
        with rasterio.open(img) as src:
            box, gsd = shapely.box(*src.bounds), src.transform.a
        before = shapely.get_coordinates(g0[b0 & shapely.intersects(g0, box)])
        after = shapely.get_coordinates(g1[b1 & shapely.intersects(g1, box)])
        # constant offset (x right, y down in pixels) -> map units (y up)
        np.testing.assert_allclose(
            after - before, np.tile([off[0] * gsd, -off[1] * gsd], (len(after), 1)), atol=1e-3 * gsd
        )
    misalign_layer(images, root / "labels.gpkg", tmp_path / "m2.gpkg", AERIAL_CLASSES, spec)
    assert shapely.to_wkb(read_polygons(tmp_path / "m2.gpkg")[0]).tolist() == shapely.to_wkb(g1).tolist()
    with pytest.raises(LabelError, match="not among"):
        misalign_layer(
            images, root / "labels.gpkg", tmp_path / "x.gpkg", AERIAL_CLASSES, LayerSpec(classes=("roof",))
        )


def test_misalign_layer_omits_and_invents_buildings(tmp_path: Path) -> None:
    from worldclass.data.synth.aerial import AERIAL_CLASSES, synth_scenes
    from worldclass.data.vector import read_polygons

    root = synth_scenes(tmp_path / "s", size=384, scenes=1, seed=4)
    spec = LayerSpec(p_omit=0.3, p_spurious=0.2, seed=2)
    stats = misalign_layer(
        sorted((root / "images").glob("*.tif")),
        root / "labels.gpkg",
        tmp_path / "m.gpkg",
        AERIAL_CLASSES,
        spec,
    )
    (s,) = stats["scenes"]
    n0 = int((read_polygons(root / "labels.gpkg")[1]["class"] == 1).sum())
    n1 = int((read_polygons(tmp_path / "m.gpkg")[1]["class"] == 1).sum())
    assert s["omitted"] >= 1 and s["spurious"] >= 1
    assert n1 == n0 - s["omitted"] + s["spurious"] and s["moved"] == n0 - s["omitted"]
