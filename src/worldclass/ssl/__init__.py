"""Self-supervised representation learning on unlabeled S1 + S2 pairs (cross-sensor masked autoencoder
with a contrastive S1↔S2 objective). Train with ``worldclass train`` and ``task: ssl``; use the encoder
with ``worldclass embed`` for cross-sensor retrieval."""

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()

from worldclass.ssl.csmae import CrossSensorMAE, build_csmae  # noqa: E402

__all__ = ["CrossSensorMAE", "build_csmae"]
