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


def test_matching_is_one_to_one_and_optimal() -> None:
    # two predictions overlap one reference; greedy per prediction would pair both with it
    ref = np.array([shapely.box(0, 0, 10, 10)], dtype=object)
    pred = np.array([shapely.box(0, 0, 10, 9), shapely.box(0, 0, 10, 8)], dtype=object)
    m = polygon_metrics(pred, ref)
    assert m["matched"] == 1 and m["precision"] == 0.5 and m["recall"] == 1
    assert m["pair_iou"] == pytest.approx(0.9)  # the better of the two
    # a chain where the greedy choice (first prediction takes its best reference) loses a pair
    from worldclass.metrics.polygons import match_one_to_one

    i, j = np.array([0, 0, 1]), np.array([0, 1, 0])
    iou = np.array([0.9, 0.85, 0.8])
    pairs = match_one_to_one(i, j, iou)
    assert pairs == [(0, 1, 0.85), (1, 0, 0.8)]


def test_boundary_iou_penalises_outline_errors_more_than_mask_iou() -> None:
    from worldclass.metrics.polygons import boundary_iou

    ref = shapely.box(0, 0, 40, 40)
    pred = shapely.box(1.5, 0, 41.5, 40)
    mask_iou = pred.intersection(ref).area / pred.union(ref).area
    b = boundary_iou(pred, ref, 2.0)
    assert b < mask_iou - 0.2 and boundary_iou(ref, ref, 2.0) == 1
    m = polygon_metrics(np.array([pred], dtype=object), np.array([ref], dtype=object), boundary_width=2.0)
    assert m["boundary_iou"] == pytest.approx(b)


def test_c_iou_and_n_ratio_are_per_pair() -> None:
    # one exact pair and one pair with a doubled vertex count: C-IoU mean of 1 and 1 * (1 - 4/12)
    a, b = shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10)
    b8 = shapely.Polygon([(20, 0), (25, 0), (30, 0), (30, 5), (30, 10), (25, 10), (20, 10), (20, 5)])
    m = polygon_metrics(np.array([a, b8], dtype=object), np.array([a, b], dtype=object))
    assert m["c_iou"] == pytest.approx((1 + (1 - 4 / 12)) / 2)
    assert m["n_ratio"] == pytest.approx(1.5) and m["n_ratio_total"] == pytest.approx(12 / 8)
