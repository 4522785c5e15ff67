"""Multi-modal FL: clients with one modality never feed the other into the model and never send its
encoder; the server averages each encoder over the clients that hold its modality; the InfoNCE term
by hand; modality assignment and its errors."""

from __future__ import annotations

import math

import pytest
import torch

from worldclass.errors import ConfigError
from worldclass.models.classifier import SceneClassifier
from worldclass.tasks.federated import FederatedConfig
from worldclass.training.federated.algorithms import make_algorithm
from worldclass.training.federated.multimodal import MultiModal, assign_modalities, info_nce
from worldclass.training.federated.simulate import Client, local_train


def late_model() -> SceneClassifier:
    torch.manual_seed(0)
    return SceneClassifier(
        backbone="resnet10t",
        in_chans=5,
        num_classes=3,
        fusion="late",
        s1_channels=2,
        drop_rate=0.0,
        drop_path_rate=0.0,
    )


def rows(n: int, s1_value: float) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(n)
    out = []
    for _ in range(n):
        x = torch.randn(5, 32, 32, generator=g)
        x[3:] = s1_value
        out.append({"image": x, "label": (torch.rand(3, generator=g) > 0.5).float()})
    return out


def bce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, y)


def test_assign_modalities() -> None:
    assert assign_modalities(["c", "a", "b", "d"], "cycle") == {"a": "s2", "b": "s1", "c": "both", "d": "s2"}
    assert assign_modalities(["a", "b"], "a=s1") == {"a": "s1", "b": "both"}
    with pytest.raises(ConfigError, match="CLIENT=s2"):
        assign_modalities(["a"], "x=s2")


def test_single_modality_clients_neither_read_nor_send_the_other_encoder() -> None:
    model = late_model()
    algo = MultiModal(mu=0.1)
    algo.setup(model, 3)
    g = {k: v.clone() for k, v in model.state_dict().items()}
    fc = FederatedConfig(lr=0.01, momentum=0.0, local_steps=2, local_epochs=2)
    s2_only = Client(
        "a", rows(8, float("nan")), state={"modality": "s2"}
    )  # S1 pixels are NaN: must never be used
    s1_only = Client("b", rows(8, 0.5), state={"modality": "s1"})
    both = Client("c", rows(8, 0.5), state={"modality": "both"})
    ua = local_train(model, bce, s2_only, algo, g, {}, fc, batch_size=4, seed=0)
    assert math.isfinite(ua.loss) and not any(k.startswith("net.s1.") for k in ua.state)
    ub = local_train(model, bce, s1_only, algo, g, {}, fc, batch_size=4, seed=0)
    assert not any(k.startswith("net.s2.") for k in ub.state)
    uc = local_train(model, bce, both, algo, g, {}, fc, batch_size=4, seed=0)
    assert any(k.startswith("net.s1.") for k in uc.state) and any(k.startswith("net.s2.") for k in uc.state)
    new = algo.aggregate(g, [ua, ub, uc])
    k1 = next(k for k in g if k.startswith("net.s1.") and g[k].is_floating_point())
    k2 = next(k for k in g if k.startswith("net.s2.") and g[k].is_floating_point())
    head = "net.head.1.weight"
    assert torch.allclose(new[k1], (ub.state[k1] + uc.state[k1]) / 2, atol=1e-6)  # S1 holders only
    assert torch.allclose(new[k2], (ua.state[k2] + uc.state[k2]) / 2, atol=1e-6)  # S2 holders only
    assert torch.allclose(new[head], (ua.state[head] + ub.state[head] + uc.state[head]) / 3, atol=1e-6)


def test_plain_fedavg_on_single_modality_clients_stays_finite_and_sends_everything() -> None:
    """The baseline on the same clients: the missing modality's pixels are never read (NaN there stays
    out of the loss), its encoder comes back unchanged, and every weight is exchanged."""
    model = late_model()
    algo = make_algorithm("fedavg")
    algo.setup(model, 2)
    g = {k: v.clone() for k, v in model.state_dict().items()}
    fc = FederatedConfig(lr=0.05, momentum=0.9, local_steps=3, local_epochs=3)
    u = local_train(
        model, bce, Client("a", rows(8, float("nan")), state={"modality": "s2"}), algo, g, {}, fc, 4, 0
    )
    assert math.isfinite(u.loss) and set(u.state) == set(g)
    k1 = next(k for k in g if k.startswith("net.s1.") and k.endswith("weight"))
    k2 = next(k for k in g if k.startswith("net.s2.") and k.endswith("weight"))
    assert torch.equal(u.state[k1], g[k1]) and not torch.equal(u.state[k2], g[k2])


def test_info_nce_by_hand() -> None:
    a = torch.eye(3)
    expected = -math.log(math.exp(1 / 0.5) / (math.exp(1 / 0.5) + 2))
    assert float(info_nce(a, a, 0.5)) == pytest.approx(expected, rel=1e-5)
    assert float(info_nce(a, a[[1, 2, 0]], 0.5)) > float(info_nce(a, a, 0.5))


def test_whitening_gives_each_client_zero_mean_identity_features_and_folds_exactly_into_the_head() -> None:
    """Two clients whose features differ by an affine map (a country's gain and offset): after
    whitening with each client's own statistics both have mean ~0 and covariance ~I; the server's
    evaluation weights (whitening folded into the linear head) give the whitened model's logits."""
    from worldclass.training.federated.multimodal import inverse_sqrt

    model = late_model()
    algo = MultiModal(whiten=True, momentum=1.0, eps=1e-9)  # momentum 1: the last batch's statistics
    algo.setup(model, 2)
    d = algo.widths["s2"]
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(d, d, generator=g) / d**0.5
    base = torch.randn(4096, d, generator=g) @ mix
    outs = []
    for gain, offset in ((1.0, 0.0), (3.0, 2.0)):
        client: dict[str, object] = {}
        f = base * gain + offset
        algo._whitened(f, "s2", client, train=True)
        w = algo._whitened(f, "s2", client, train=False).double()
        cov = torch.cov(w.T)
        assert w.mean(0).abs().max() < 1e-4
        assert torch.diagonal(cov).mean() == pytest.approx(1.0, abs=0.05)
        assert (cov - torch.diag(torch.diagonal(cov))).abs().max() < 0.05
        outs.append(w)
    assert torch.allclose(outs[0], outs[1], atol=1e-2)  # the affine client difference is gone
    # folding: plain model with evaluation_state == head(whitened features) of the same statistics
    x = torch.randn(6, 5, 32, 32, generator=g)
    state = {"whiten": {}}
    model.train()
    algo.forward(model, x, state)  # statistics from this batch (s2 and s1)
    model.eval()
    _, logits = algo.forward(model, x, state)
    folded = late_model()
    folded.load_state_dict(algo.evaluation_state(model.state_dict(), [(state, 6)]))
    folded.eval()
    with torch.no_grad():
        assert torch.allclose(folded(x), logits.detach(), atol=1e-4)
    assert inverse_sqrt(torch.eye(3) * 4, 0.0).diagonal().tolist() == pytest.approx([0.5] * 3)
