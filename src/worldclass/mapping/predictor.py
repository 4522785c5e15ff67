"""A segmentation checkpoint turned into ``probabilities = predictor(raw_pixels)`` for scene inference.

The preprocessing (band order, input scale, per-band mean/std, input dtype) is read from the checkpoint
metadata, never rebuilt by hand, so maps are made exactly as the model was trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worldclass.errors import ConfigError
from worldclass.models.checkpoint import ModelMeta, load_model
from worldclass.models.compiled import compile_in_place
from worldclass.models.device import pick_device
from worldclass.models.segmenter import SegmentationNet


@dataclass
class Predictor:
    """``__call__``: raw pixels (B, C, h, w) in the scene dtype -> class probabilities (B, K, h, w) float32.

    ``bands``: input band names in channel order; ``classes``: class names in output order;
    ``scale``/``mean``/``std``: ``x = (raw * scale - mean) / std`` per band; ``pad_multiple``: tiles
    are reflect-padded to a multiple of it before the network and cropped after; ``colours``: RGB per
    class for the maps' colour table (None: worldclass's palette). ``with_field``: the
    same with the frame-field channels appended (models with a frame-field head: ``has_field``).
    On CUDA the network runs channels_last with bf16 autocast; ``compile``: ``torch.compile`` it.
    """

    net: nn.Module
    bands: list[str]
    classes: list[str]
    scale: float
    mean: np.ndarray
    std: np.ndarray
    dtype: str
    pad_multiple: int = 32
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    bf16: bool = False
    colours: list[tuple[int, int, int]] | None = None
    compile: bool = False

    def __post_init__(self) -> None:
        self.net = self.net.to(self.device).eval()
        if self.device.type == "cuda":
            self.net = self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if self.compile:
            compile_in_place(self.net)
        shape = (1, -1, 1, 1)
        self._mean = torch.as_tensor(self.mean, dtype=torch.float32, device=self.device).view(shape)
        self._std = torch.as_tensor(self.std, dtype=torch.float32, device=self.device).view(shape)

    @property
    def has_field(self) -> bool:
        return getattr(self.net, "field_head", None) is not None

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return self._run(raw, field=False)

    def with_field(self, raw: np.ndarray) -> np.ndarray:
        """(B, K + 5, h, w): class probabilities, edge probability, frame-field c0 re/im, c2 re/im."""
        return self._run(raw, field=True)

    @torch.inference_mode()
    def _run(self, raw: np.ndarray, field: bool) -> np.ndarray:
        x = torch.from_numpy(raw)
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        x = (x.float() * self.scale - self._mean) / self._std
        h, w = x.shape[-2:]
        m = self.pad_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            if field:
                logits, extra = self.net.forward_all(x)  # type: ignore[operator]
            else:
                logits, extra = self.net(x), None
        probs = torch.softmax(logits.float(), dim=1)
        if extra is not None:
            extra = extra.float()
            probs = torch.cat([probs, torch.sigmoid(extra[:, :1]), extra[:, 1:]], 1)
        return np.ascontiguousarray(probs[:, :, :h, :w].cpu().numpy())


def load_predictor(checkpoint: str | Path, *, device: str = "auto", compile: bool = False) -> Predictor:
    """Predictor of a worldclass segmentation checkpoint (refuses other checkpoints). No Lightning."""
    model, meta = load_model(checkpoint)
    if not isinstance(model, SegmentationNet):
        raise ConfigError(f"{checkpoint}: a {meta.task} checkpoint; mapping needs a segmentation one")
    return predictor_from_model(model, meta, device=device, compile=compile)


def predictor_from_model(
    model: nn.Module, meta: ModelMeta, *, device: str = "auto", compile: bool = False
) -> Predictor:
    """Predictor of a loaded segmentation model and its metadata."""
    pre: dict[str, Any] = meta.preprocessing
    dev = pick_device(device)
    return Predictor(
        net=model,
        bands=list(meta.bands),
        classes=list(meta.classes),
        scale=float(pre["scale"]),
        mean=np.asarray(pre["mean"], np.float32),
        std=np.asarray(pre["std"], np.float32),
        dtype=str(pre["dtype"]),
        device=dev,
        bf16=dev.type == "cuda",
        colours=[(int(r), int(g), int(b)) for r, g, b in meta.class_colours] or None,
        compile=compile,
    )
