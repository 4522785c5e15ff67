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
from worldclass.training.federated.multimodal import MultiModal, assign_modalities, info_nce, mask_missing
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
    x = torch.ones(1, 5, 2, 2)
    assert (
        mask_missing(x, "s2", 2)[0, 3:].abs().sum() == 0 and mask_missing(x, "s1", 2)[0, :3].abs().sum() == 0
    )


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


def test_info_nce_by_hand() -> None:
    a = torch.eye(3)
    expected = -math.log(math.exp(1 / 0.5) / (math.exp(1 / 0.5) + 2))
    assert float(info_nce(a, a, 0.5)) == pytest.approx(expected, rel=1e-5)
    assert float(info_nce(a, a[[1, 2, 0]], 0.5)) > float(info_nce(a, a, 0.5))
