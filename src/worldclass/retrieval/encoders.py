"""Image encoders for retrieval, from any worldclass checkpoint: (B, C, H, W) -> (B, D) global embeddings.

* classification checkpoint, ``layer="features"`` (default): the backbone's pooled pre-logit features
  (late fusion: S2 and S1 features concatenated); ``layer="scores"``: the class probabilities (B, classes).
  Rows are of one sensor value: ``"s2"``, ``"s1"`` or ``"s2+s1"``, from the checkpoint's bands.
* self-supervised cross-sensor checkpoint (``worldclass train`` with ``task: ssl``): one encoder per
  sensor into one shared space, so rows ``"s2"`` and ``"s1"`` of the same model can be compared;
  ``layer="projection"`` (default, the space the contrastive loss aligns) or ``"pooled"`` (mean token).
* segmentation checkpoint: the encoder's deepest feature map, average-pooled; rows are scene windows,
  sensor ``"image"``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from worldclass.compat import ensure_torchvision_importable
from worldclass.errors import ConfigError
from worldclass.models.checkpoint import ModelMeta, read_checkpoint

LAYERS = {
    "classification": ("features", "scores"),
    "ssl": ("projection", "pooled"),
    "segmentation": ("features",),
}


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _s1(bands: list[str]) -> list[str]:
    return [b for b in bands if b in ("VV", "VH")]


@dataclass
class Encoder:
    """A frozen encoder; ``sensors`` are the row sensor values it produces."""

    module: nn.Module
    meta: ModelMeta
    task: str
    layer: str
    checkpoint: Path
    sha256: str
    device: torch.device

    @property
    def sensors(self) -> tuple[str, ...]:
        if self.task == "ssl":
            return ("s2", "s1")
        if self.task == "segmentation":
            return ("image",)
        s1, s2 = bool(_s1(self.meta.bands)), len(_s1(self.meta.bands)) < len(self.meta.bands)
        return ("s2+s1",) if s1 and s2 else (("s1",) if s1 else ("s2",))

    def bands(self, sensor: str) -> list[str]:
        """Input bands (channel order) for rows of ``sensor``."""
        if sensor not in self.sensors:
            raise ConfigError(f"{self.checkpoint}: makes {list(self.sensors)} embeddings, not {sensor!r}")
        if self.task == "ssl":
            s1 = _s1(self.meta.bands)
            return s1 if sensor == "s1" else [b for b in self.meta.bands if b not in s1]
        return list(self.meta.bands)

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor, sensor: str) -> torch.Tensor:
        """(B, len(bands(sensor)), H, W) normalised input -> (B, D) float32 (not yet L2-normalised)."""
        x = x.to(self.device, non_blocking=True)
        m: Any = self.module
        if self.task == "ssl":
            return m.model.embed(x, sensor, layer=self.layer).float()  # type: ignore[no-any-return]
        if self.task == "segmentation":
            return m.net.base.encoder(x)[-1].float().mean((2, 3))  # type: ignore[no-any-return]
        if self.layer == "scores":
            return m.scores(m(x)).float()  # type: ignore[no-any-return]
        net = m.model
        if hasattr(net, "s1_channels"):  # late fusion: both branches give pooled features
            k = net.s1_channels
            return torch.cat([net.s2(x[:, :-k]), net.s1(x[:, -k:])], 1).float()
        return net.forward_head(net.forward_features(x), pre_logits=True).float()  # type: ignore[no-any-return]


def load_encoder(checkpoint: str | Path, *, layer: str = "auto", device: str = "auto") -> Encoder:
    """Encoder of a checkpoint (see module docstring for ``layer``)."""
    ensure_torchvision_importable()
    ckpt = read_checkpoint(checkpoint)
    meta = ModelMeta.from_dict(ckpt["hyper_parameters"]["meta"])
    task = meta.task
    if task not in LAYERS:
        raise ConfigError(f"{checkpoint}: task {task!r} has no encoder for retrieval")
    layer = LAYERS[task][0] if layer == "auto" else layer
    if layer not in LAYERS[task]:
        raise ConfigError(f"--layer {layer!r}: a {task} checkpoint offers {list(LAYERS[task])}")
    module: nn.Module
    if task == "classification":
        from worldclass.training.evaluate import load_module

        module = load_module(checkpoint)
    elif task == "segmentation":
        from worldclass.training.seg_module import load_segmentation_module

        module = load_segmentation_module(checkpoint)
    else:
        from worldclass.ssl.module import load_ssl_module

        module = load_ssl_module(checkpoint)
    from worldclass.mapping.predictor import pick_device

    dev = pick_device(device)
    return Encoder(module.to(dev).eval(), meta, task, layer, Path(checkpoint), file_sha256(checkpoint), dev)
