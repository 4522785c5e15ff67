"""Retrieval metrics against hand-computed values."""

import numpy as np
import pytest

from worldclass.metrics.retrieval import recall_at_k, retrieval_metrics


def test_hand_computed_example() -> None:
    q = np.array([[1, 1, 0, 0]])
    r = np.array([[[1, 0, 0, 0], [0, 0, 1, 1], [1, 1, 1, 0]]])  # shared labels: 1, 0, 2
    m = retrieval_metrics(q, r)
    assert m["precision"] == pytest.approx((1 / 1 + 0 / 2 + 2 / 3) / 3)
    assert m["recall"] == pytest.approx((1 / 2 + 0 + 2 / 2) / 3)
    p, rc = m["precision"], m["recall"]
    assert m["f1"] == pytest.approx(2 * p * rc / (p + rc))
    # relevant at ranks 1 and 3: P@1 = 1, P@3 = 2/3 -> AP = (1 + 2/3) / 2
    assert m["map"] == pytest.approx((1 + 2 / 3) / 2)
    # ACG@1 = 1, ACG@3 = (1 + 0 + 2) / 3 = 1 -> weighted AP = (1 + 1) / 2
    assert m["wmap"] == pytest.approx(1.0)
    assert m["wmap_norm"] == pytest.approx(1.0 / 2)  # divided by the ideal |Y_q| = 2
    assert m["acg"] == pytest.approx(1.0) and m["hit_rate"] == 1.0


def test_perfect_and_useless_rankings() -> None:
    rng = np.random.default_rng(0)
    q = rng.random((20, 6)) < 0.4
    q[:, 0] = True
    perfect = retrieval_metrics(q, np.repeat(q[:, None], 5, 1))
    assert perfect["precision"] == pytest.approx(1) and perfect["recall"] == pytest.approx(1)
    assert perfect["map"] == pytest.approx(1) and perfect["wmap_norm"] == pytest.approx(1)
    assert perfect["wmap"] > 1  # the raw form counts shared labels
    disjoint = retrieval_metrics(q, np.repeat(~q[:, None], 5, 1))
    assert disjoint["f1"] == 0 and disjoint["map"] == 0 and disjoint["hit_rate"] == 0


def test_shapes_are_checked_and_recall_at_k() -> None:
    with pytest.raises(ValueError, match="shapes"):
        retrieval_metrics(np.zeros((2, 3)), np.zeros((2, 4, 4)))
    exact = np.array([[1, 2, 3], [4, 5, 6]])
    assert recall_at_k(np.array([[3, 2, 9], [4, -1, -1]]), exact) == pytest.approx(3 / 6)
