"""Models: timm classifiers (early / late S1+S2 fusion) and checkpoint metadata."""

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # timm imports torchvision

from worldclass.models.classifier import create_classifier  # noqa: E402

__all__ = ["create_classifier"]
