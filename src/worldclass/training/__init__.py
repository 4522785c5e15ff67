"""Training: losses, the Lightning module, trainer wiring, evaluation and experiments."""

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # lightning/torchmetrics/timm import torchvision
