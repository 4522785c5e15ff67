import torch

from worldclass import compat


def test_shim_makes_torchvision_timm_and_smp_importable() -> None:
    compat.ensure_torchvision_importable()
    import segmentation_models_pytorch as smp
    import timm
    import torchvision

    m = timm.create_model("resnet18", in_chans=14, num_classes=19, pretrained=False)
    assert m(torch.zeros(1, 14, 64, 64)).shape == (1, 19)
    assert smp.Unet("resnet18", encoder_weights=None, in_channels=4, classes=2)(
        torch.zeros(1, 4, 64, 64)
    ).shape == (
        1,
        2,
        64,
        64,
    )
    assert torchvision.__version__


def test_nms_schema_registered_and_kernel_correct() -> None:
    compat.ensure_torchvision_importable()
    import torchvision  # noqa: F401

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    keep = torch.ops.torchvision.nms(boxes, scores, 0.5)
    assert keep.tolist() == [0, 2]


def test_shim_is_idempotent() -> None:
    compat.ensure_torchvision_importable()
    assert compat.ensure_torchvision_importable() is False
