"""Federated algorithms on tiny models with hand-checkable numbers (FedAvg weights, FedProx pull, SCAFFOLD
control variates, MOON's loss, FedBN's local BatchNorm, FedNova's normalisation), and their effect on a
controlled problem: with heterogeneous clients and many local steps FedAvg settles away from the global
optimum, SCAFFOLD and FedNova get to it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from worldclass.errors import ConfigError
from worldclass.tasks.federated import FederatedConfig
from worldclass.training.federated.algorithms import (
    FedBN,
    FedNova,
    Scaffold,
    Upload,
    effective_steps,
    make_algorithm,
    moon_loss,
    weighted_mean,
)
from worldclass.training.federated.simulate import Client, local_train, payload_bytes


class Toy(nn.Module):
    """Linear model with the hooks local training calls: features_logits, targets, scores."""

    def __init__(self, d: int = 2, bn: bool = False) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(d) if bn else nn.Identity()
        self.lin = nn.Linear(d, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_logits(x)[1]

    def features_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.bn(x)
        return f, self.lin(f)


def mse(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((logits - y) ** 2).mean()


def client(name: str, x: np.ndarray, y: np.ndarray) -> Client:
    rows = [
        {"image": torch.tensor(a, dtype=torch.float32), "label": torch.tensor(b, dtype=torch.float32)[None]}
        for a, b in zip(x, y, strict=True)
    ]
    return Client(name, rows)


def fc(**kw: Any) -> FederatedConfig:
    base = {"lr": 0.1, "momentum": 0.0, "local_epochs": 1}
    return FederatedConfig(**{**base, **kw})


def test_weighted_mean_and_fedavg_weigh_by_examples() -> None:
    a = {"w": torch.tensor([0.0, 4.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([4.0, 0.0]), "n": torch.tensor(5)}
    m = weighted_mean([a, b], [1, 3])
    assert torch.allclose(m["w"], torch.tensor([3.0, 1.0])) and int(m["n"]) == 5
    algo = make_algorithm("fedavg")
    algo.setup(nn.Linear(2, 1, bias=False), 2)
    new = algo.aggregate(
        {"weight": torch.zeros(1, 2)},
        [Upload({"weight": torch.ones(1, 2)}, 1, 1), Upload({"weight": torch.full((1, 2), 5.0)}, 3, 1)],
    )
    assert torch.allclose(new["weight"], torch.full((1, 2), 4.0))
    with pytest.raises(ConfigError, match="unknown federated algorithm"):
        make_algorithm("fedsgd")


def test_fedprox_term_is_half_mu_squared_distance_and_pulls_back() -> None:
    model = Toy()
    algo = make_algorithm("fedprox", mu=0.5)
    algo.setup(model, 1)
    with torch.no_grad():
        model.lin.weight.copy_(torch.tensor([[1.0, 2.0]]))
    algo.begin(model, {}, {})
    with torch.no_grad():
        model.lin.weight.copy_(torch.tensor([[2.0, 0.0]]))
    term = algo.loss_term(model, torch.zeros(1, 2), torch.zeros(1, 2), {})
    assert term is not None and float(term.detach()) == pytest.approx(0.25 * (1 + 4))
    term.backward()
    assert torch.allclose(model.lin.weight.grad, torch.tensor([[0.5, -1.0]]))  # mu (w - w_global)


def test_scaffold_corrects_gradients_and_updates_controls_by_the_formula() -> None:
    torch.manual_seed(0)
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    c1 = client("a", x, np.array([1.0, 2.0]))
    model = Toy()
    algo = Scaffold()
    algo.setup(model, num_clients=4)
    algo.c = {"lin.weight": torch.tensor([[0.3, -0.2]])}
    c1.state["c_i"] = {"lin.weight": torch.tensor([[0.1, 0.1]])}
    g0 = {k: v.clone() for k, v in model.state_dict().items()}
    u = local_train(
        model,
        mse,
        c1,
        algo,
        g0,
        algo.server_payload(),
        fc(local_steps=3, local_epochs=3),
        batch_size=2,
        seed=0,
    )
    # by hand: SGD on mse with the correction c - c_i added to every gradient
    w = g0["lin.weight"].clone()
    X, Y = torch.tensor(x, dtype=torch.float32), torch.tensor([[1.0], [2.0]])
    for _ in range(3):
        grad = 2 * ((X @ w.T - Y).T @ X) / 2 + torch.tensor([[0.2, -0.3]])
        w = w - 0.1 * grad
    assert torch.allclose(u.state["lin.weight"], w, atol=1e-6) and u.steps == 3
    expected_ci = (
        torch.tensor([[0.1, 0.1]]) - torch.tensor([[0.3, -0.2]]) + (g0["lin.weight"] - w) / (3 * 0.1)
    )
    assert torch.allclose(c1.state["c_i"]["lin.weight"], expected_ci, atol=1e-5)
    assert torch.allclose(u.extras["dc/lin.weight"], expected_ci - torch.tensor([[0.1, 0.1]]), atol=1e-5)
    algo.aggregate(g0, [u])  # one of four clients answered: c moves by 1/4 of the mean change
    assert torch.allclose(
        algo.c["lin.weight"], torch.tensor([[0.3, -0.2]]) + u.extras["dc/lin.weight"] / 4, atol=1e-6
    )
    fedavg = payload_bytes(g0)
    assert payload_bytes({**g0, **algo.server_payload()}) > 1.9 * fedavg - 200  # controls travel too


def test_moon_loss_by_hand() -> None:
    z = torch.tensor([[1.0, 0.0]])
    pos, neg = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    expected = -math.log(math.exp(1 / 0.5) / (math.exp(1 / 0.5) + math.exp(0.0)))
    assert float(moon_loss(z, pos, neg, 0.5)) == pytest.approx(expected, rel=1e-6)
    assert float(moon_loss(z, neg, pos, 0.5)) > float(moon_loss(z, pos, neg, 0.5))


def test_fedbn_keeps_batchnorm_on_the_client_and_sends_less() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    a = client("a", rng.normal(5, 1, (16, 2)), rng.normal(size=16))
    b = client("b", rng.normal(-5, 3, (16, 2)), rng.normal(size=16))
    model = Toy(bn=True)
    algo = FedBN()
    algo.setup(model, 2)
    bn = {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"}
    assert algo.local_keys() == bn
    g = {k: v.clone() for k, v in model.state_dict().items()}
    ua = local_train(model, mse, a, algo, g, {}, fc(), batch_size=8, seed=0)
    ub = local_train(model, mse, b, algo, g, {}, fc(), batch_size=8, seed=0)
    assert not set(ua.state) & bn and payload_bytes(ua.state) < payload_bytes(g)
    assert (
        a.state["local"]["bn.running_mean"].mean() > 0.5 > -0.5 > b.state["local"]["bn.running_mean"].mean()
    )
    new = algo.aggregate(g, [ua, ub])
    assert torch.equal(new["bn.running_mean"], g["bn.running_mean"])  # the server never saw them
    local_train(model, mse, a, algo, new, {}, fc(local_steps=0), batch_size=8, seed=0)
    assert torch.equal(
        model.state_dict()["bn.running_mean"], a.state["local"]["bn.running_mean"]
    )  # own BN back
    ev = algo.evaluation_state(new, [(a.state, 16), (b.state, 16)])
    assert torch.allclose(
        ev["bn.running_mean"], (a.state["local"]["bn.running_mean"] + b.state["local"]["bn.running_mean"]) / 2
    )


def test_fednova_normalises_by_local_steps() -> None:
    model = nn.Linear(1, 1, bias=False)
    algo = FedNova()
    algo.setup(model, 2)
    g = {"weight": torch.zeros(1, 1)}
    ups = [
        Upload({"weight": torch.full((1, 1), -2.0)}, 10, 1, {"a": torch.tensor(1.0)}),
        Upload({"weight": torch.full((1, 1), -4.0)}, 10, 4, {"a": torch.tensor(4.0)}),
    ]
    # d = (2, 1), tau_eff = 2.5, x = -2.5 * 1.5 = -3.75 (FedAvg: -3)
    assert float(algo.aggregate(g, ups)["weight"]) == pytest.approx(-3.75)
    assert float(make_algorithm("fedavg").aggregate(g, ups)["weight"]) == pytest.approx(-3.0)
    assert effective_steps(2, 0.5) == pytest.approx(2.5)  # momentum: g + 1.5 g
    assert effective_steps(7, 0.0) == 7


def _federate(name: str, clients: list[Client], rounds: int, steps: list[int]) -> torch.Tensor:
    torch.manual_seed(0)
    model = Toy()
    with torch.no_grad():
        model.lin.weight.zero_()
    algo = make_algorithm(name)
    algo.setup(model, len(clients))
    g = {k: v.clone() for k, v in model.state_dict().items()}
    for r in range(rounds):
        ups = [
            local_train(
                model,
                mse,
                c,
                algo,
                g,
                algo.server_payload(),
                fc(lr=0.01, local_steps=s, local_epochs=s),
                batch_size=64,
                seed=r,
            )
            for c, s in zip(clients, steps, strict=True)
        ]
        g = algo.aggregate(g, ups)
    return g["lin.weight"][0]


def test_scaffold_and_fednova_reach_the_global_optimum_where_fedavg_drifts() -> None:
    """Two clients of least squares with different input scales (heterogeneous curvature) and different
    local step counts: FedAvg's fixed point is not the optimum of the pooled data; SCAFFOLD's and
    FedNova's are much closer."""
    rng = np.random.default_rng(0)
    xa = rng.normal(0, 1, (64, 2)) * np.array([3.0, 0.3])
    xb = rng.normal(0, 1, (64, 2)) * np.array([0.3, 3.0])
    ya = xa @ np.array([1.0, -1.0]) + 0.1 * rng.normal(size=64)
    yb = xb @ np.array([-1.0, 2.0]) + 0.1 * rng.normal(size=64)
    X, Y = np.vstack([xa, xb]), np.concatenate([ya, yb])
    opt = torch.tensor(np.linalg.lstsq(X, Y, rcond=None)[0], dtype=torch.float32)
    clients = [client("a", xa, ya), client("b", xb, yb)]
    err = {
        n: float((_federate(n, clients, 150, [2, 20]) - opt).norm())
        for n in ("fedavg", "scaffold", "fednova")
    }
    print(err)
    assert err["fedavg"] > 0.1
    assert err["scaffold"] < err["fedavg"] / 3 and err["fednova"] < err["fedavg"] / 2, err
