"""The misalignment simulator: smooth fields of the requested size that are invertible within tolerance,
objects moved by field + shift, omitted and spurious objects reported, all seeded."""

from __future__ import annotations

import numpy as np
import shapely

from worldclass.data.misalign import displacement_field, invert_points, misalign, sample_field


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
