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
