from pathlib import Path

import pytest
import torch

from worldclass.errors import ConfigError
from worldclass.models.checkpoint import ModelMeta
from worldclass.models.classifier import create_classifier


@pytest.mark.parametrize("fusion", ["early", "late"])
def test_fusion_shapes(fusion: str) -> None:
    m = create_classifier("resnet18", 12, 19, fusion=fusion, s1_channels=2, drop_rate=0.1)
    assert m(torch.zeros(2, 12, 64, 64)).shape == (2, 19)


def test_unknown_backbone_suggests_names() -> None:
    with pytest.raises(ConfigError, match="resnet50"):
        create_classifier("resnet5O", 12, 19)
    with pytest.raises(ConfigError, match="late fusion"):
        create_classifier("resnet18", 12, 19, fusion="late", s1_channels=0)


def test_local_pretrained_rgb_weights_are_adapted_to_n_bands(tmp_path: Path) -> None:
    import timm

    rgb = timm.create_model("resnet18", num_classes=1000)
    path = tmp_path / "resnet18_rgb.pth"
    torch.save(rgb.state_dict(), path)
    m = create_classifier("resnet18", 12, 19, pretrained=path)
    w = m.conv1.weight  # type: ignore[union-attr]
    assert w.shape[1] == 12
    # timm repeats the RGB filters over the new channels and rescales by 3/12
    expected = rgb.conv1.weight.repeat(1, 4, 1, 1) * 3 / 12
    assert torch.allclose(w, expected, atol=1e-6)
    assert torch.equal(m.layer1[0].conv1.weight, rgb.layer1[0].conv1.weight)  # type: ignore[index]
    with pytest.raises(ConfigError, match="only loaded from local files"):
        create_classifier("resnet18", 12, 19, pretrained=tmp_path / "missing.pth")


def test_meta_refuses_other_bands() -> None:
    meta = ModelMeta("classification", ["B02", "B03", "VV"], ["a"], "19", {})
    meta.check_data(["B02", "B03", "VV"])
    with pytest.raises(ConfigError, match="differ from the checkpoint"):
        meta.check_data(["B02", "B03", "VH"])


def _config_backbones() -> list[str]:
    import yaml

    root = Path(__file__).parents[2] / "configs"
    names = {"resnet10t", "resnet18"}  # the test fixtures' backbones
    for p in root.glob("*.yaml"):
        backbone = (yaml.safe_load(p.read_text()).get("model") or {}).get("backbone")
        if backbone:
            names.add(backbone)
    names.add("mobilenetv3_small_100")  # the demo's
    return sorted(names)


@pytest.mark.parametrize("backbone", _config_backbones())
@pytest.mark.parametrize("fusion", ["early", "late"])
def test_every_configured_backbone_fuses_and_embeds(backbone: str, fusion: str) -> None:
    from worldclass.models.classifier import SceneClassifier

    m = SceneClassifier(backbone, 12, 19, fusion=fusion, s1_channels=2).eval()
    x = torch.randn(2, 12, 64, 64)
    with torch.no_grad():
        assert m(x).shape == (2, 19)
        feats = m.embed(x, "s2+s1", "features")
    assert feats.ndim == 2 and feats.shape[0] == 2 and torch.isfinite(feats).all()


@pytest.mark.parametrize(("rule", "urban"), [("noisy-or", 0.8), ("max", 0.6), ("clipped-sum", 1.0)])
def test_parent_scores_follow_the_rule(rule: str, urban: float) -> None:
    """Urban fabric has two children (CLC 111, 112): p = 0.6 and 0.5 give 1 - 0.4 * 0.5 = 0.8 (noisy-OR),
    0.6 (max), min(1, 1.1) = 1 (clipped sum). A parent with one child scores as that child."""
    from worldclass.data.nomenclature import CLASSES19, CLASSES43, MAP_43_TO_19
    from worldclass.models.classifier import SceneClassifier

    m = SceneClassifier("resnet10t", 12, 43, attribute_encoding=True, parent_rule=rule)
    p = torch.full((1, 43), 1e-9)
    p[0, 0], p[0, 1] = 0.6, 0.5
    only = next(
        c
        for c in CLASSES43
        if MAP_43_TO_19[c] and sum(MAP_43_TO_19[d] == MAP_43_TO_19[c] for d in CLASSES43) == 1
    )
    p[0, CLASSES43.index(only)] = 0.3
    scores = m.scores(torch.logit(p))[0]
    assert scores[CLASSES19.index("Urban fabric")] == pytest.approx(urban, abs=1e-5)
    assert scores[CLASSES19.index(MAP_43_TO_19[only])] == pytest.approx(0.3, abs=1e-5)
    labels = torch.zeros(1, 43)
    labels[0, 0] = labels[0, 1] = 1.0
    assert m.targets(labels)[0, CLASSES19.index("Urban fabric")] == 1.0  # targets stay 0/1
