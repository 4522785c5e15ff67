"""DML-S2R and regression metrics on hand-made values; the neighbour bank travels with the checkpoint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from worldclass.metrics.regression import regression_metrics
from worldclass.models.regression import RegressionNet, decided_triplet_loss, difference_loss, knn_regression


def test_difference_loss_uses_every_ordered_pair() -> None:
    y = torch.tensor([[0.0], [1.0], [3.0]])
    exact = y[:, None] - y[None]  # (3, 3, 1)
    assert difference_loss(exact, y).item() == 0.0
    off = exact + torch.tensor(2.0)  # every pair off by 2, the diagonal (i == i) must not count
    assert difference_loss(off, y).item() == pytest.approx(4.0)
    y_nan = torch.tensor([[0.0], [float("nan")], [3.0]])  # pairs with an unknown target are left out
    pred = torch.zeros(3, 3, 1)
    assert difference_loss(pred, y_nan).item() == pytest.approx(9.0)  # only (0, 2) and (2, 0): 3^2


def test_decided_triplets_take_the_closer_target_as_positive() -> None:
    emb = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    difference = torch.tensor([[0.0, 0.1, 0.9], [0.1, 0.0, 0.5], [0.9, 0.5, 0.0]])
    cand = torch.tensor([[2, 1], [0, 2], [0, 1]])
    # anchor 0: positive 1 (d=1), negative 2 (d=2): relu(1 - 2 + 0.5) = 0
    # anchor 1: positive 0 (d=1), negative 2 (d=sqrt 5): relu(1 - 2.236 + 0.5) = 0
    # anchor 2: positive 1 (d=sqrt 5), negative 0 (d=2): relu(2.236 - 2 + 0.5) = 0.736
    want = (0 + 0 + (math.sqrt(5) - 2 + 0.5)) / 3
    assert decided_triplet_loss(emb, difference, cand, 0.5).item() == pytest.approx(want, rel=1e-6)


def test_knn_regression_weights_by_inverse_distance() -> None:
    bank = torch.tensor([[0.0], [1.0], [4.0]])
    targets = torch.tensor([[0.0], [1.0], [10.0]])
    q = torch.tensor([[0.5], [1.0]])
    out = knn_regression(q, bank, targets, k=2)
    assert out[0].item() == pytest.approx(0.5)  # equidistant from 0 and 1
    assert out[1].item() == 1.0  # an exact match takes its own target


def test_regression_metrics_by_hand() -> None:
    y = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, float("nan")]])
    p = np.array([[0.0, 0.5], [2.0, 1.5], [2.0, 9.0]])
    m = regression_metrics(p, y, ["a", "b"])
    assert m["per_target"]["a"]["rmse"] == pytest.approx(math.sqrt(1 / 3))
    assert m["per_target"]["a"]["r2"] == pytest.approx(1 - 1 / 2)  # SS_res 1, SS_tot 2
    assert m["per_target"]["b"]["n"] == 2 and m["per_target"]["b"]["rmse"] == pytest.approx(0.5)
    assert math.isnan(m["per_target"]["b"]["r2"])  # a constant target has no R^2
    assert m["r2"] == pytest.approx(0.5)


def test_neighbour_bank_is_saved_and_loaded() -> None:
    torch.manual_seed(0)
    net = RegressionNet("resnet10t", 3, 1, embed_dim=8, method="dml-s2r", neighbours=2).eval()
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        net.bank_embedding = net.features(x)
        net.bank_target = torch.arange(5.0)[:, None]
        want = net(x)
    assert torch.allclose(want[:, 0], torch.arange(5.0))  # each patch is its own nearest neighbour
    fresh = RegressionNet("resnet10t", 3, 1, embed_dim=8, method="dml-s2r", neighbours=2).eval()
    fresh.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(fresh(x), want)
