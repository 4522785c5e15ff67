"""Acquisition strategies on controlled pools where the right choice is known."""

from __future__ import annotations

import numpy as np
import pytest

from worldclass.errors import ConfigError
from worldclass.training.active.strategies import (
    STRATEGIES,
    bald,
    binary_entropy,
    coreset,
    fill_cost,
    kmeans,
    select,
    uncertainty,
)


def _clusters(sizes: list[int], seed: int = 0, spread: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(len(sizes), 8, dtype=np.float32) * 5
    x = np.concatenate([c + spread * rng.normal(size=(n, 8)) for c, n in zip(centres, sizes, strict=True)])
    return x.astype(np.float32), np.repeat(np.arange(len(sizes)), sizes)


def test_entropy_and_margin_by_hand() -> None:
    assert binary_entropy([0.5])[0] == pytest.approx(1.0)
    assert binary_entropy([0.1])[0] == pytest.approx(-(0.1 * np.log2(0.1) + 0.9 * np.log2(0.9)))
    p = np.array([[0.5, 0.9], [0.99, 0.01]])
    assert uncertainty(p, "margin") == pytest.approx([(1.0 + 0.2) / 2, 0.02])
    assert uncertainty(p, "margin-max") == pytest.approx([1.0, 0.02])


@pytest.mark.parametrize("measure", ["entropy", "margin", "entropy-max", "margin-max"])
def test_uncertainty_picks_the_rows_nearest_the_decision_boundary(measure: str) -> None:
    # a 1-D logistic model: p = sigmoid(x); the boundary is x = 0
    x = np.random.default_rng(1).uniform(-6, 6, size=(500, 1))
    probs = 1 / (1 + np.exp(-x))
    chosen = select(measure, 10, seed=0, probs=probs)
    assert set(chosen) == set(np.argsort(np.abs(x[:, 0]))[:10])
    assert np.abs(x[chosen, 0]).max() < np.sort(np.abs(x[:, 0]))[10] + 1e-12


def test_bald_prefers_disagreement_over_aleatoric_noise() -> None:
    # row 0: every pass says 0.5 (noisy label, nothing to learn); row 1: passes disagree 0.05 / 0.95
    mc = np.array([[[0.5], [0.05], [0.9]], [[0.5], [0.95], [0.9]]] * 5)  # (T=10, N=3, C=1)
    b = bald(mc)
    assert b[1] > 0.5 and abs(b[0]) < 1e-9 and abs(b[2]) < 1e-9
    assert select("bald", 1, seed=0, mc=mc)[0] == 1
    # plain entropy on the mean cannot tell rows 0 and 1 apart (both average 0.5)
    assert uncertainty(mc.mean(0))[0] == pytest.approx(uncertainty(mc.mean(0))[1])


def test_kmeans_covers_every_cluster_where_random_does_not() -> None:
    x, cluster = _clusters([400, 10, 10, 10, 10])
    picked = kmeans(x, 5, seed=0)
    assert sorted(cluster[picked]) == [0, 1, 2, 3, 4]
    rand = select("random", 5, seed=0, features=x)
    assert len(set(cluster[rand])) < 5  # 90 % of the pool is cluster 0
    assert sorted(cluster[select("kmeans", 5, seed=3, features=x)]) == [0, 1, 2, 3, 4]


def test_coreset_goes_where_the_labelled_set_is_not() -> None:
    x, cluster = _clusters([50, 50, 50, 50, 50])
    labelled = x[cluster == 0][:5]
    picked = coreset(x, labelled, 4)
    assert sorted(cluster[picked]) == [1, 2, 3, 4]
    # the k-centre objective: the largest distance to the nearest centre shrinks with every pick
    assert len(set(picked)) == 4


def test_uncertainty_then_diversity_spreads_the_batch() -> None:
    x, cluster = _clusters([30, 30, 30, 30])
    probs = np.full((len(x), 3), 0.98)
    probs[cluster == 0, 0] = 0.5  # cluster 0 is the most uncertain one, clusters 1-3 a little less so
    probs[cluster > 0, 0] = 0.6 + 0.01 * cluster[cluster > 0, None].repeat(1, 1)[:, 0]
    only_unc = select("entropy", 4, seed=0, probs=probs, features=x)
    assert set(cluster[only_unc]) == {0}
    combined = select("entropy+kmeans", 4, seed=0, probs=probs, features=x, pre_factor=30)
    assert sorted(cluster[combined]) == [0, 1, 2, 3]
    assert cluster[combined[0]] == 0  # the most uncertain cluster's pick comes first


def test_diversity_without_embeddings_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="needs pool embeddings"):
        select("entropy+kmeans", 3, seed=0, probs=np.full((10, 2), 0.5))
    with pytest.raises(ConfigError, match="choose one of"):
        select("entropy+dbscan", 3, seed=0, probs=np.full((10, 2), 0.5))
    assert "margin+coreset" in STRATEGIES


def test_cost_aware_fill_by_hand() -> None:
    costs = np.array([3.0, 1.0, 2.0, 1.5, 1.0])
    assert fill_cost([0, 2, 3, 1, 4], costs, 5.0).tolist() == [0, 2]
    assert fill_cost([3, 0, 2, 1, 4], costs, 5.0).tolist() == [3, 0]  # 2 (cost 2) no longer fits: 0.5 left
    assert fill_cost([2, 3, 1, 4, 0], costs, 5.0).tolist() == [2, 3, 1]


def test_random_is_seeded_and_without_repeats() -> None:
    a = select("random", 20, seed=4, probs=np.zeros((50, 2)))
    assert a.tolist() == select("random", 20, seed=4, probs=np.zeros((50, 2))).tolist()
    assert (
        len(set(a.tolist())) == 20
        and a.tolist() != select("random", 20, seed=5, probs=np.zeros((50, 2))).tolist()
    )
