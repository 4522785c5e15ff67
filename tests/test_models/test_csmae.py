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


def _variant(variant: str, masking: str = "random", **kw: object) -> CrossSensorMAE:
    torch.manual_seed(0)
    return CrossSensorMAE(
        10,
        2,
        dim=32,
        depth=1,
        heads=2,
        decoder_dim=32,
        decoder_depth=1,
        proj_dim=16,
        variant=variant,
        masking=masking,
        **kw,  # type: ignore[arg-type]
    )


def test_maskings_place_hidden_tokens_as_named() -> None:
    torch.manual_seed(1)
    same = _variant("cesd", "same").masks(4, torch.device("cpu"))
    assert torch.equal(same["s2"][0], same["s1"][0]) and torch.equal(same["s2"][1], same["s1"][1])
    comp = _variant("cesd", "complementary").masks(4, torch.device("cpu"))
    (k2, h2), (k1, h1) = comp["s2"], comp["s1"]
    for b in range(4):  # S1 sees exactly what S2 hides, and hides what S2 sees
        assert set(k1[b].tolist()).isdisjoint(k2[b].tolist())
        assert set(k1[b].tolist()) | set(k2[b].tolist()) == set(range(64))
    assert torch.equal(h1, 1 - h2) and int(h2[0].sum()) == 32
    rnd = _variant("cesd", "random").masks(4, torch.device("cpu"))
    assert not torch.equal(rnd["s2"][0], rnd["s1"][0])  # drawn independently
    assert all(int(h.sum(1).unique().numel()) == 1 for _, h in rnd.values())  # the same count per sample


def test_norm_pix_targets_are_normalised_per_patch() -> None:
    x = torch.randn(2, 10, 120, 120) * 3 + 5
    plain, normed = _variant("cesd"), _variant("cesd", norm_pix=True)
    assert torch.equal(plain.target(x), plain.patchify(x))
    t = normed.target(x)
    assert torch.allclose(t.mean(-1), torch.zeros(2, 64), atol=1e-5)
    assert torch.allclose(t.var(-1), torch.ones(2, 64), atol=1e-3)


def test_variants_share_or_separate_encoders_and_decoders() -> None:
    x2, x1 = torch.randn(2, 10, 120, 120), torch.randn(2, 2, 120, 120)
    names = {
        v: {
            k.split(".")[0] + "." + k.split(".")[1]
            for k in _variant(v).state_dict()
            if k.startswith("decoders")
        }
        for v in ("cecd", "sesd")
    }
    assert names == {"cecd": {"decoders.common"}, "sesd": {"decoders.s2", "decoders.s1"}}
    for variant, s1_own in (("cesd", False), ("sesd", True)):
        m = _variant(variant).eval()
        with torch.no_grad():
            e2, e1 = m.embed(x2, "s2"), m.embed(x1, "s1")
            for p in (m.s1_blocks if s1_own else m.blocks).parameters():
                p.add_(0.1)
            changed2 = not torch.allclose(m.embed(x2, "s2"), e2)
            changed1 = not torch.allclose(m.embed(x1, "s1"), e1)
        assert changed1 and changed2 == (not s1_own), variant  # S1-specific weights leave S2 alone
    # the common decoder's output is both sensors' patches: S2 channels first, then S1, channel-last
    m = _variant("cecd")
    both = torch.randn(2, 12, 120, 120)

    class Stub(torch.nn.Module):
        def forward(self, latent: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
            return m.patchify(both)

    m.decoders["common"] = Stub()
    rec = m.reconstruct(torch.zeros(2, 64, 32), None)
    assert torch.equal(rec["s2"], m.patchify(both[:, :10])) and torch.equal(
        rec["s1"], m.patchify(both[:, 10:])
    )


def test_default_variant_keeps_earlier_parameter_names_and_zero_weights_skip_terms() -> None:
    keys = {k.split(".")[0] for k in _variant("cesd").state_dict()}
    assert keys == {"embed_patches", "sensor_embedding", "blocks", "norm", "decoders", "projection"}
    m = _variant("sesd")
    terms = m.losses(
        torch.randn(4, 10, 120, 120), torch.randn(4, 2, 120, 120), weights={"uni": 0, "cross": 0}
    )
    assert terms["uni"] == 0 and terms["cross"] == 0 and terms["contrastive"] > 0
    terms["contrastive"].backward()
    assert all(p.grad is None for p in m.decoders.parameters())  # reconstruction not even computed
    assert m.s1_blocks[0].attn.qkv.weight.grad is not None


def test_variant_configs_are_checked() -> None:
    with pytest.raises(ConfigError, match="one of them > 0"):
        load_config(
            None,
            [
                "task=csmae",
                "data.root=x",
                "loss.uni_weight=0",
                "loss.cross_weight=0",
                "loss.contrastive_weight=0",
            ],
        )
    with pytest.raises(ConfigError, match=r"model\.variant"):
        load_config(None, ["task=csmae", "data.root=x", "model.variant=xyz"])
    cfg = load_config(None, ["task=csmae", "data.root=x", "model.variant=sesd", "loss.masking=complementary"])
    assert (cfg.model.variant, cfg.loss.masking) == ("sesd", "complementary")
