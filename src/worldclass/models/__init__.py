"""Models: plain ``nn.Module`` s found by name, and checkpoints loaded without the training loop.

* :func:`build_model` / :func:`list_models` / :func:`register_model`: the model registry
  (``scene_classifier``: timm backbones with early/late S1+S2 fusion; ``segmenter``: U-Net/FCN/MLP +
  refiner; ``csmae``: cross-sensor masked autoencoder).
* :func:`load_model` ``(checkpoint) -> (model, ModelMeta)`` for every task's checkpoint.
* every model has ``embed(x, sensor, layer) -> (B, D)`` (see :class:`EmbeddingModel`).

Imports: ``worldclass.data`` (band and class specs only), ``worldclass.errors``, ``worldclass.compat``.
"""

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # timm and smp import torchvision

from worldclass.io import file_sha256  # noqa: E402
from worldclass.models.checkpoint import (  # noqa: E402
    ModelMeta,
    checkpoint_meta,
    load_model,
    read_checkpoint,
)
from worldclass.models.registry import (  # noqa: E402
    EmbeddingModel,
    build_model,
    list_models,
    register_model,
)

__all__ = [
    "EmbeddingModel",
    "ModelMeta",
    "build_model",
    "checkpoint_meta",
    "file_sha256",
    "list_models",
    "load_model",
    "read_checkpoint",
    "register_model",
]
