"""Segmenters (U-Net, FCN, multi-resolution MLP), the refiner, local encoder weights, losses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from worldclass.errors import ConfigError
from worldclass.losses.segmentation import SegmentationLoss, soft_iou_loss
from worldclass.models.segmenter import Refiner, SegmentationNet, load_encoder_weights


@pytest.mark.parametrize("arch", ["unet", "fcn", "mlp"])
def test_archs_give_full_resolution_logits(arch: str) -> None:
    net = SegmentationNet(arch, "resnet18", 4, 3).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 4, 96, 64))
    assert out.shape == (2, 3, 96, 64)


def test_refiner_starts_as_identity_and_learns() -> None:
    ref = Refiner(2, 3, steps=4)
    u, x = torch.randn(1, 2, 32, 32), torch.randn(1, 3, 32, 32)
    assert torch.equal(ref(u, x), u)
    net = SegmentationNet("fcn", "resnet18", 3, 2, refine_steps=3)
    net.freeze_base()
    net.train()
    assert not net.base.training and net.refiner is not None and net.refiner.training
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("refiner.") for n in trainable)
    mask = (torch.rand(2, 64, 64) > 0.5).long()
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    loss_fn = SegmentationLoss("ce")
    x = torch.randn(2, 3, 64, 64)
    first = loss_fn(net(x), mask).item()
    for _ in range(20):
        opt.zero_grad()
        loss = loss_fn(net(x), mask)
        loss.backward()
        opt.step()
    assert loss.item() < first


def test_local_encoder_weights_adapt_first_conv(tmp_path: Path) -> None:
    rgb = SegmentationNet("unet", "resnet18", 3, 2)
    path = tmp_path / "enc.pt"
    torch.save(rgb.base.encoder.state_dict(), path)
    net = SegmentationNet("unet", "resnet18", 5, 2)
    load_encoder_weights(net, path)
    w_rgb = rgb.base.encoder.state_dict()["conv1.weight"]
    w5 = net.base.encoder.state_dict()["conv1.weight"]
    assert w5.shape[1] == 5
    torch.testing.assert_close(w5[:, 0], w_rgb.mean(1) * 3 / 5)
    torch.testing.assert_close(
        net.base.encoder.state_dict()["layer1.0.conv1.weight"],
        rgb.base.encoder.state_dict()["layer1.0.conv1.weight"],
    )
    with pytest.raises(ConfigError, match="never downloaded"):
        load_encoder_weights(net, tmp_path / "missing.pt")
    with pytest.raises(ConfigError, match="unknown encoder"):
        SegmentationNet("unet", "resnet-does-not-exist", 3, 2)


def test_soft_iou_loss_properties() -> None:
    mask = torch.tensor([[[0, 1], [1, 255]]])
    perfect = torch.tensor([[[[50.0, -50], [-50, 0]], [[-50, 50], [50, 0]]]])
    assert soft_iou_loss(perfect, mask).item() < 1e-6
    wrong = -perfect
    assert soft_iou_loss(wrong, mask).item() > 0.99
    # the ignored pixel does not matter
    other = perfect.clone()
    other[..., 1, 1] = torch.tensor([-9.0, 9.0])
    assert soft_iou_loss(other, mask).item() == pytest.approx(soft_iou_loss(perfect, mask).item())
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    SegmentationLoss("ce+iou")(logits, torch.randint(0, 3, (2, 8, 8))).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
