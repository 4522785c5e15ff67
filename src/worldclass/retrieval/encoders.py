"""Image encoders for retrieval, from any worldclass checkpoint: (B, C, H, W) -> (B, D) global embeddings.

The checkpoint's metadata says which row sensors it embeds (``meta.embedding["sensors"]``: row sensor
-> input bands) and which layers it offers (``meta.embedding["layers"]``, the first is the default);
the model's own ``embed(x, sensor, layer)`` does the rest. So retrieval knows no task:

* classifier: ``features`` (pooled pre-logit features) or ``scores``; rows ``s2``, ``s1`` or ``s2+s1``;
* cross-sensor self-supervised model: ``projection`` or ``pooled``; rows ``s2`` and ``s1`` in one space;
* segmenter: ``features`` (pooled deepest encoder features) of scene windows; rows ``image``.

Loading needs no Lightning (:func:`worldclass.models.load_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from worldclass.errors import ConfigError
from worldclass.io import file_sha256
from worldclass.models.checkpoint import ModelMeta, load_model
from worldclass.models.device import pick_device

__all__ = ["Encoder", "file_sha256", "load_encoder"]


@dataclass
class Encoder:
    """A frozen encoder; ``sensors`` are the row sensor values it produces."""

    module: nn.Module
    meta: ModelMeta
    layer: str
    checkpoint: Path
    sha256: str
    device: torch.device

    @property
    def task(self) -> str:
        return self.meta.task

    @property
    def sensors(self) -> tuple[str, ...]:
        return tuple(self.meta.embedding["sensors"])

    def bands(self, sensor: str) -> list[str]:
        """Input bands (channel order) for rows of ``sensor``."""
        if sensor not in self.sensors:
            raise ConfigError(f"{self.checkpoint}: makes {list(self.sensors)} embeddings, not {sensor!r}")
        return list(self.meta.embedding["sensors"][sensor])

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor, sensor: str) -> torch.Tensor:
        """(B, len(bands(sensor)), H, W) normalised input -> (B, D) float32 (not yet L2-normalised)."""
        x = x.to(self.device, non_blocking=True)
        m: Any = self.module
        out: torch.Tensor = m.embed(x, sensor, self.layer)
        return out.float()


def load_encoder(checkpoint: str | Path, *, layer: str = "auto", device: str = "auto") -> Encoder:
    """Encoder of a checkpoint (see module docstring for ``layer``)."""
    dev = pick_device(device)
    model, meta = load_model(checkpoint, device=dev)
    layers = list(meta.embedding.get("layers", []))
    if not layers or not meta.embedding.get("sensors"):
        raise ConfigError(f"{checkpoint}: a {meta.task} checkpoint without an embedding spec; retrain it")
    layer = layers[0] if layer == "auto" else layer
    if layer not in layers:
        raise ConfigError(f"--layer {layer!r}: a {meta.task} checkpoint offers {layers}")
    return Encoder(model, meta, layer, Path(checkpoint), file_sha256(checkpoint), dev)
