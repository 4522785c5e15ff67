"""Cross-sensor masked autoencoder: shapes, masking, loss terms and config checks."""

import pytest
import torch

from worldclass.errors import ConfigError
from worldclass.models.csmae import CrossSensorMAE
from worldclass.tasks import load_config


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


def test_csmae_config_needs_both_sensors_and_a_dividing_patch() -> None:
    with pytest.raises(ConfigError, match="S1 \\+ S2"):
        load_config(None, ["task=csmae", "data.root=x", "data.sensors=[s2]"])
    with pytest.raises(ConfigError, match=r"unknown config key 'loss\.name'"):
        load_config(None, ["task=csmae", "data.root=x", "loss.name=bce"])
    with pytest.raises(ConfigError, match="divide the input size 120"):
        load_config(None, ["task=csmae", "data.root=x", "model.patch_size=16"])
    cfg = load_config(None, ["task=ssl", "data.root=x"])  # the older name still works
    assert cfg.task == "csmae" and cfg.loss.mask_ratio == 0.5
