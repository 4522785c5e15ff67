"""SSCL's pretext parts on hand-made inputs: the UniFeat pixel InfoNCE has its closed-form value, CoRe's
input is degraded where the hole mask says (and only there), the target is untouched; collapse stats."""

from __future__ import annotations

import math

import pytest
import torch

from worldclass.models.ssl import SSLNet, augment_views, degrade, pixel_info_nce
from worldclass.tasks.selfsup.module import collapse_stats


def test_pixel_info_nce_has_its_closed_form_value() -> None:
    b, p, h, w, m, tau = 2, 8, 4, 4, 4, 0.5
    a = torch.zeros(b, p, h, w)
    index = torch.tensor([[0, 5, 10, 15], [1, 2, 3, 4]])
    for i in range(b):  # every sampled position gets its own one-hot feature: positives identical,
        for k in range(m):  # negatives orthogonal
            a[i, i * m + k].view(-1)[index[i, k]] = 1.0
    n = b * m
    want = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + (n - 1)))
    assert float(pixel_info_nce(a, a.clone(), tau, index)) == pytest.approx(want, rel=1e-5)
    shuffled = pixel_info_nce(a, a.roll(1, dims=1), tau, index)  # positives no longer match
    assert float(shuffled) > want + 1


def test_core_degradation_is_where_the_mask_says_and_the_target_stays() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, 32, 32) + 3.0
    before = x.clone()
    out, holes = degrade(x, g, channel_drop=0.5, cutouts=2, blur_sigma=1.5)
    assert torch.equal(x, before)  # the reconstruction target is the untouched input
    assert (out[holes] == 0).all() and holes.any()
    dropped = holes.all(-1).all(-1)  # (B, C) whole channels removed
    assert dropped.any() and not dropped.all(1).any()  # at least one band always kept
    changed = (out != x) & ~holes
    assert changed.any()  # blur touched some kept pixels ...
    unblurred = [i for i in range(6) if not changed[i].any()]
    for i in unblurred:  # ... and the others are exact copies outside the holes
        assert torch.equal(out[i][~holes[i]], x[i][~holes[i]])
    none, no_holes = degrade(x, g, channel_drop=0.0, cutouts=0, blur_sigma=0.0)
    assert not no_holes.any() and torch.equal(none, x)


def test_views_differ_and_keep_shape() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 6, 48, 48)
    v1, v2 = augment_views(x, g), augment_views(x, g)
    assert v1.shape == x.shape and (v1 - v2).abs().mean() > 0.1


def test_unifeat_filters_start_every_band_of_the_encoder() -> None:
    net = SSLNet("sscl", "resnet18", 5, proj_dim=16, hidden_dim=64)
    with torch.no_grad():
        net.unifeat.weight.normal_()
    net.adopt_unifeat(torch.Generator().manual_seed(0))
    w = net.encoder.conv1.weight.detach()  # type: ignore[union-attr]
    shared = net.unifeat.weight[:, 0].detach() / math.sqrt(5)
    for c in range(5):
        assert float((w[:, c] - shared).norm() / shared.norm()) < 0.15
    assert not torch.equal(w[:, 0], w[:, 1])  # a small random part breaks the symmetry


def test_collapse_stats_tell_a_collapsed_representation() -> None:
    spread = torch.randn(256, 64)
    std, cos = collapse_stats(spread)
    assert std > 0.8 and abs(cos) < 0.05
    collapsed = torch.ones(256, 64) + 1e-6 * torch.randn(256, 64)
    std, cos = collapse_stats(collapsed)
    assert std < 0.01 and cos > 0.999
