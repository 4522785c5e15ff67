"""SS-CM-RSIR: each loss on hand-made embeddings with known values, and the model learns to pair two
modalities that share only the scene content (not the pixels)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from worldclass.models.crossmodal import (
    CrossModalNet,
    angular_distance,
    intra_modal_similarity,
    mutual_information_nce,
)


def test_mutual_information_nce_equals_its_closed_form() -> None:
    z = torch.eye(3)
    t = 0.5
    want = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2))  # own pair cos 1, two others cos 0
    assert mutual_information_nce(z, z, t).item() == pytest.approx(want, rel=1e-6)
    # a shuffled pairing scores worse: the bound sees which image goes with which
    assert mutual_information_nce(z, z[[1, 2, 0]], t) > mutual_information_nce(z, z, t)


def test_angular_distance_is_the_mean_angle() -> None:
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[0.0, 1.0], [-1.0, 0.0], [0.0, 1.0]])
    assert angular_distance(a, b).item() == pytest.approx((math.pi / 2 + math.pi + 0) / 3, abs=2e-3)


def test_intra_modal_similarity_uses_each_rows_nearest_neighbour() -> None:
    c = 0.8
    z = torch.tensor([[1.0, 0.0, 0.0], [c, math.sqrt(1 - c * c), 0.0], [0.0, 0.0, 1.0]])
    # rows 0 and 1 are each other's neighbour (1 - 0.8); row 2 is orthogonal to both (1 - 0)
    assert intra_modal_similarity(z, 1).item() == pytest.approx((0.2 + 0.2 + 1.0) / 3, abs=1e-6)
    # k = 2: every row averages over both others
    assert intra_modal_similarity(z, 2).item() == pytest.approx(
        ((0.2 + 1) + (0.2 + 1) + (1 + 1)) / 6, abs=1e-6
    )


def _pairs(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """S2-like (4 bands) and S1-like (2 bands) 32 px images of the same scenes: 8 x 8 blocks of 8 classes
    drawn with scene-specific class shares; each modality has its own class signatures, S2 additive
    noise, S1 multiplicative gamma speckle: the modalities share the scene, no pixel values."""
    shares = torch.distributions.Dirichlet(torch.full((8,), 0.3)).sample((n,))
    classes = torch.multinomial(shares, 64, replacement=True, generator=g).reshape(n, 8, 8)
    layout = F.interpolate(F.one_hot(classes, 8).permute(0, 3, 1, 2).float(), size=32, mode="nearest")
    fixed = torch.Generator().manual_seed(1234)
    sig2, sig1 = torch.randn(8, 4, generator=fixed), torch.randn(8, 2, generator=fixed)
    s2 = torch.einsum("bkhw,kc->bchw", layout, sig2) + 0.3 * torch.randn(n, 4, 32, 32, generator=g)
    speckle = torch.distributions.Gamma(4.0, 4.0).sample((n, 2, 32, 32))
    return s2, torch.einsum("bkhw,kc->bchw", layout, sig1) * speckle


def _train(weights: tuple[float, float, float], steps: int = 25) -> tuple[float, float, float]:
    """(pair top-1 before, after, mean S1-S2 angle after) on 64 held-out pairs (BatchNorm on batch
    statistics: a short run has no settled running statistics)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    net = CrossModalNet("resnet10t", 4, 2, proj_dim=32, hidden_dim=64)
    s2v, s1v = _pairs(64, torch.Generator().manual_seed(99))

    def measure() -> tuple[float, float]:
        with torch.no_grad():
            e2 = F.normalize(net.embed(s2v, "s2"), dim=1)
            e1 = F.normalize(net.embed(s1v, "s1"), dim=1)
        top1 = float(((e1 @ e2.T).argmax(1) == torch.arange(64)).float().mean())
        return top1, float(angular_distance(e2, e1))

    before, _ = measure()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    for _ in range(steps):
        terms = net.losses(*_pairs(32, g), temperature=0.2, neighbours=1)
        loss = weights[0] * terms["mi"] + weights[1] * terms["angle"] + weights[2] * terms["intra"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, *measure()


def test_model_learns_to_pair_the_modalities_and_the_angle_term_closes_the_gap() -> None:
    before, after, angle = _train((1.0, 0.2, 0.5))
    assert before < 0.1 and after > 0.3, (before, after)  # chance is 1/64
    _, _, angle_mi_only = _train((1.0, 0.0, 0.0))
    assert angle < angle_mi_only - 0.03, (angle, angle_mi_only)
