"""The learned codec and its hashing: every loss on hand-made values, the entropy coder round trip, and
a bitstream as long as the entropy model says."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from worldclass.models.codec import (
    HashingCodec,
    bit_balance_loss,
    decode_latents,
    encode_latents,
    gaussian_bits,
    project_conflicting,
    quantization_loss,
    soft_pairwise_loss,
)


def test_gaussian_bits_is_the_discretised_normal() -> None:
    y = torch.tensor([0.0, 1.0, -3.0])
    bits = gaussian_bits(y, torch.tensor(0.0), torch.tensor(1.0))
    phi = lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))  # noqa: E731
    want = [-math.log2(phi(v + 0.5) - phi(v - 0.5)) for v in (0.0, 1.0, -3.0)]
    assert bits.tolist() == pytest.approx(want, rel=1e-5)


def test_hashing_losses_by_hand() -> None:
    h = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    labels = torch.tensor([[1, 0], [1, 1], [0, 1]])
    # s: cos of label vectors: s01 = s12 = 1/sqrt2, s02 = 0; theta = <h_i, h_j> / 2: t01 = 0, t02 = -1, t12 = 0
    s = 1 / math.sqrt(2)
    pairs = [(0.0, s), (-1.0, 0.0), (0.0, s)]
    want = sum(math.log1p(math.exp(t)) - sv * t for t, sv in pairs) / 3  # each unordered pair twice
    assert soft_pairwise_loss(h, labels).item() == pytest.approx(want, rel=1e-6)
    assert bit_balance_loss(h).item() == pytest.approx(((1 / 3) ** 2 + (1 / 3) ** 2) / 2)
    assert quantization_loss(h).item() == 0.0
    assert quantization_loss(torch.tensor([[0.5, -0.5]])).item() == pytest.approx(0.25)


def test_conflicting_gradient_is_projected_and_agreeing_one_kept() -> None:
    ref = torch.tensor([1.0, 0.0])
    assert torch.equal(project_conflicting(torch.tensor([1.0, 1.0]), ref), torch.tensor([1.0, 1.0]))
    out = project_conflicting(torch.tensor([-1.0, 1.0]), ref)
    assert torch.allclose(out, torch.tensor([0.0, 1.0])) and torch.dot(out, ref) == 0


def test_entropy_coder_round_trip_and_size() -> None:
    torch.manual_seed(0)
    m = HashingCodec(6, latent=8, hidden=16, hash_bits=16).eval()
    with torch.no_grad():
        out = m(torch.randn(3, 6, 64, 64) * 2)
    streams = encode_latents(out["y_hat"], m)
    back = decode_latents(streams, m, tuple(out["y_hat"].shape[1:]))
    assert torch.equal(back, out["y_hat"])
    model_bytes = out["bits"].sum(dim=(1, 2, 3)) / 8
    for s, b in zip(streams, model_bytes, strict=True):
        assert b <= len(s) <= b + 8  # ANS overhead: the last 32-bit word(s)
    codes = m.codes(torch.randn(2, 6, 64, 64))
    assert codes.shape == (2, 2) and codes.dtype == np.uint8
