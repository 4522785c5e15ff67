"""Polygon metrics on shapes with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from worldclass.metrics.polygons import max_tangent_angle, polis, polygon_metrics, vertex_count


def test_identical_sets_are_perfect() -> None:
    ref = np.array([shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 5)], dtype=object)
    m = polygon_metrics(ref, ref)
    assert m["iou"] == 1 and m["matched"] == 2 and m["polis"] == 0 and m["n_ratio"] == 1
    assert m["c_iou"] == 1 and m["mta"] == pytest.approx(0, abs=1e-6)


def test_shifted_square_values() -> None:
    ref = np.array([shapely.box(0, 0, 10, 10)], dtype=object)
    pred = np.array([shapely.box(1, 0, 11, 10)], dtype=object)
    m = polygon_metrics(pred, ref)
    assert m["iou"] == pytest.approx(90 / 110)
    # two of four vertices of each square lie 1 unit off the other's boundary, two lie on it
    assert polis(pred[0], ref[0]) == pytest.approx(0.5)
    assert m["polis"] == pytest.approx(0.5)


def test_vertex_counts_and_c_iou() -> None:
    ref = np.array([shapely.box(0, 0, 10, 10)], dtype=object)
    wobbly = shapely.Polygon([(0, 0), (5, 0.01), (10, 0), (10, 10), (5, 10.01), (0, 10)])
    assert vertex_count(np.array([wobbly], dtype=object)) == 6 and vertex_count(ref) == 4
    m = polygon_metrics(np.array([wobbly], dtype=object), ref)
    assert m["n_ratio"] == 1.5
    assert m["c_iou"] == pytest.approx(m["iou"] * (1 - 2 / 10))


def test_max_tangent_angle_of_rotated_square() -> None:
    ref = shapely.box(0, 0, 20, 20)
    rot = shapely.affinity.rotate(ref, 10, origin="center")
    assert max_tangent_angle(rot, ref, 1.0) == pytest.approx(10, abs=0.5)
    m = polygon_metrics(np.array([rot], dtype=object), np.array([ref], dtype=object), step=1.0)
    assert m["mta"] == pytest.approx(10, abs=0.5)
    # unmatched predictions are not scored by PoLiS
    far = np.array([shapely.box(100, 100, 110, 110)], dtype=object)
    assert np.isnan(polygon_metrics(far, np.array([ref], dtype=object))["polis"])
