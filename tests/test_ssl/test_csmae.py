"""Cross-sensor masked autoencoder: shapes, masking, loss terms and config checks."""

import pytest
import torch

from worldclass.config import load_config
from worldclass.errors import ConfigError
from worldclass.ssl.csmae import CrossSensorMAE


def _model() -> CrossSensorMAE:
    torch.manual_seed(0)
    return CrossSensorMAE(10, 2, dim=32, depth=1, heads=2, decoder_dim=32, decoder_depth=1, proj_dim=16)


def test_patchify_layout_and_embeddings() -> None:
    m = _model()
    x = torch.arange(2 * 2 * 120 * 120, dtype=torch.float32).reshape(2, 2, 120, 120)
    p = m.patchify(x)
    assert p.shape == (2, 64, 15 * 15 * 2)
    # token 1 = second patch of the first row, channel-last inside the patch
    assert p[0, 1, 0] == x[0, 0, 0, 15] and p[0, 1, 1] == x[0, 1, 0, 15]
    assert m.embed(torch.randn(3, 10, 120, 120), "s2").shape == (3, 16)
    assert m.embed(torch.randn(3, 2, 120, 120), "s1", layer="pooled").shape == (3, 32)


def test_losses_are_finite_and_train_both_sensors() -> None:
    m = _model()
    terms = m.losses(torch.randn(4, 10, 120, 120), torch.randn(4, 2, 120, 120))
    assert set(terms) == {"uni", "cross", "contrastive"}
    assert all(torch.isfinite(v) for v in terms.values())
    sum(terms.values()).backward()
    for name in (
        "embed_patches.s2.weight",
        "embed_patches.s1.weight",
        "decoders.s1.out.weight",
        "projection.2.weight",
    ):
        grad = dict(m.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_ssl_config_needs_both_sensors() -> None:
    with pytest.raises(ConfigError, match="S1 \\+ S2"):
        load_config(None, ["task=ssl", "data.root=x", "data.sensors=[s2]"])
    with pytest.raises(ConfigError, match="its own losses"):
        load_config(None, ["task=ssl", "data.root=x", "loss.name=bce"])
    assert load_config(None, ["task=ssl", "data.root=x"]).ssl.mask_ratio == 0.5
