"""Segmenters: (B, C, H, W) float -> (B, K, H, W) class logits, H and W multiples of 32.

``create_segmenter(arch, encoder, in_channels, num_classes)``:

- ``unet``: segmentation-models-pytorch U-Net with any smp encoder (``resnet34``, ``efficientnet-b0``,
  ``tu-<timm name>``, ...).
- ``fcn``: fully convolutional network: encoder's stride-32 features -> 3x3 conv -> 1x1 classifier ->
  bilinear upsampling (the FCN baseline of Maggiori et al., TGRS 2017).
- ``mlp``: multi-resolution MLP head (Maggiori et al., "High-resolution aerial image labeling with
  CNNs", TGRS 2017): features of every encoder stage upsampled to stride 2, concatenated, and a per-pixel
  MLP (1x1 convolutions) classifies them.

:class:`Refiner` is the iterative refinement of classification maps (Maggiori et al., "Recurrent neural
networks to correct satellite image classification maps", TGRS 2017): a learned, PDE-like update
``u <- u + dt * MLP([D_u * u, D_x * x, u])`` of the class heat maps ``u``, where ``D_u``/``D_x`` are
learned differential filters on the maps and the image, unrolled ``steps`` times with shared weights.
It starts as the identity (zero last layer) and is trained on top of a frozen segmenter.

:class:`FrameFieldHead` (``frame_field=True``, U-Net only): besides the class map, a building-edge logit and a
frame field (two wall directions per pixel, Girard et al., CVPR 2021) from the decoder's last features;
output (B, 5, H, W) = edge logit, c0 re/im, c2 re/im (see :mod:`worldclass.losses.frame_field`).

Pretrained encoder weights are optional and read from a local file only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worldclass.compat import ensure_torchvision_importable
from worldclass.errors import ConfigError
from worldclass.models.registry import register_model

ARCHS = ("unet", "fcn", "mlp")
FIELD_CHANNELS = 5  # frame-field head output: edge logit, c0 (re, im), c2 (re, im)


def _smp() -> Any:
    ensure_torchvision_importable()
    import segmentation_models_pytorch as smp

    return smp


def check_encoder(name: str) -> None:
    """Raise ConfigError with close matches unless ``name`` is an smp encoder or ``tu-<timm model>``."""
    smp = _smp()
    if name.startswith("tu-"):
        import timm

        if name[3:] in timm.list_models():
            return
        known = ["tu-" + m for m in timm.list_models()]
    elif name in smp.encoders.encoders:
        return
    else:
        known = list(smp.encoders.encoders)
    import difflib

    close = difflib.get_close_matches(name, known, n=6)
    raise ConfigError(
        f"unknown encoder {name!r}; did you mean one of {close}? (smp encoders or tu-<timm model>)"
    )


def _encoder(name: str, in_channels: int) -> nn.Module:
    check_encoder(name)
    enc: nn.Module = _smp().encoders.get_encoder(name, in_channels=in_channels, depth=5, weights=None)
    return enc


class FCN(nn.Module):
    def __init__(self, encoder: str, in_channels: int, num_classes: int, hidden: int = 256) -> None:
        super().__init__()
        self.encoder = _encoder(encoder, in_channels)
        c = int(self.encoder.out_channels[-1])  # type: ignore[index]
        self.head = nn.Sequential(
            nn.Conv2d(c, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, num_classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(x)
        out: torch.Tensor = F.interpolate(
            self.head(feats[-1]), size=x.shape[-2:], mode="bilinear", align_corners=False
        )
        return out


class MultiResolutionMLP(nn.Module):
    def __init__(
        self, encoder: str, in_channels: int, num_classes: int, hidden: int = 128, per_level: int = 32
    ) -> None:
        super().__init__()
        self.encoder = _encoder(encoder, in_channels)
        chans = [int(c) for c in self.encoder.out_channels[1:]]  # type: ignore[index]
        self.reduce = nn.ModuleList(nn.Conv2d(c, per_level, 1) for c in chans)
        self.mlp = nn.Sequential(
            nn.Conv2d(per_level * len(chans), hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, num_classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(x)[1:]
        size = feats[0].shape[-2:]
        up = [
            F.interpolate(r(f), size=size, mode="bilinear", align_corners=False)
            for r, f in zip(self.reduce, feats, strict=True)
        ]
        out: torch.Tensor = F.interpolate(
            self.mlp(torch.cat(up, 1)), size=x.shape[-2:], mode="bilinear", align_corners=False
        )
        return out


class Refiner(nn.Module):
    """Iterative refinement of logits ``u`` (B, K, H, W) given the image ``x`` (B, C, H, W)."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        *,
        steps: int = 5,
        filters: int = 32,
        hidden: int = 32,
        kernel: int = 5,
    ) -> None:
        super().__init__()
        self.steps = steps
        self.map_filters = nn.Conv2d(num_classes, filters, kernel, padding=kernel // 2, bias=False)
        self.image_filters = nn.Conv2d(in_channels, filters, kernel, padding=kernel // 2, bias=False)
        self.update = nn.Sequential(
            nn.Conv2d(2 * filters + num_classes, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, num_classes, 1),
        )
        last = self.update[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.zeros_(last.weight)  # starts as the identity: refinement never starts worse
        nn.init.zeros_(last.bias)
        self.dt = nn.Parameter(torch.tensor(0.5))

    def forward(self, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        fx = self.image_filters(x)
        for _ in range(self.steps):
            u = u + self.dt * self.update(torch.cat([self.map_filters(u), fx, u], 1))
        return u


class FrameFieldHead(nn.Module):
    """Decoder features (B, F, H, W) -> (B, 5, H, W): edge logit, frame-field coefficients c0, c2."""

    def __init__(self, features: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(features, hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, FIELD_CHANNELS, 1),
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(feats)
        return out


class SegmentationNet(nn.Module):
    """A segmenter, optionally followed by a :class:`Refiner` (``refine_steps > 0``) and with a
    :class:`FrameFieldHead` (``frame_field``).

    ``forward``: (B, C, H, W) -> logits (B, K, H, W); ``forward_all``: (logits, field (B, 5, H, W) or
    None). Embedding layer ``features``: the encoder's deepest feature map, average-pooled (B, D).
    """

    embedding_layers = ("features",)

    def __init__(
        self,
        arch: str,
        encoder: str,
        in_channels: int,
        num_classes: int,
        *,
        refine_steps: int = 0,
        frame_field: bool = False,
    ) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ConfigError(f"model.arch {arch!r}: choose one of {list(ARCHS)}")
        check_encoder(encoder)
        if arch == "unet":
            self.base: nn.Module = _smp().Unet(
                encoder_name=encoder, encoder_weights=None, in_channels=in_channels, classes=num_classes
            )
        elif arch == "fcn":
            self.base = FCN(encoder, in_channels, num_classes)
        else:
            self.base = MultiResolutionMLP(encoder, in_channels, num_classes)
        self.refiner = Refiner(num_classes, in_channels, steps=refine_steps) if refine_steps > 0 else None
        self.field_head: FrameFieldHead | None = None
        if frame_field:
            if arch != "unet":
                raise ConfigError(f"model.frame_field needs model.arch unet (not {arch!r})")
            head: Any = self.base.segmentation_head
            self.field_head = FrameFieldHead(int(head[0].in_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[0]

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(class logits (B, K, H, W), frame-field output (B, 5, H, W) or None)."""
        field = None
        if self.field_head is None:
            u: torch.Tensor = self.base(x)
        else:
            base: Any = self.base
            feats = base.decoder(base.encoder(x))
            u, field = base.segmentation_head(feats), self.field_head(feats)
        return (self.refiner(u, x) if self.refiner is not None else u), field

    def embed(self, x: torch.Tensor, sensor: str = "", layer: str = "features") -> torch.Tensor:
        """(B, C, H, W) -> (B, D) pooled deepest encoder features."""
        encoder: Any = self.base.encoder
        deepest: torch.Tensor = encoder(x)[-1]
        return deepest.float().mean((2, 3))

    def freeze_base(self) -> None:
        """Train only the refiner (the seed recipe: refinement on top of a frozen segmenter)."""
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.base.eval()

    def train(self, mode: bool = True) -> SegmentationNet:
        super().train(mode)
        if self.refiner is not None and not any(p.requires_grad for p in self.base.parameters()):
            self.base.eval()  # frozen base keeps its batch-norm statistics
        return self


@register_model("segmenter")
def segmenter(
    arch: str,
    encoder: str,
    in_channels: int,
    num_classes: int,
    refine_steps: int = 0,
    frame_field: bool = False,
    frame_field_classes: list[int] | None = None,
) -> SegmentationNet:
    """Registry builder of :class:`SegmentationNet` (``frame_field_classes``: the classes whose outlines
    the field was trained on; metadata for polygonisation, not used by the network)."""
    return SegmentationNet(
        arch, encoder, in_channels, num_classes, refine_steps=refine_steps, frame_field=frame_field
    )


def load_encoder_weights(net: SegmentationNet, path: str | Path) -> None:
    """Load a local encoder state dict (torch or safetensors file); first conv adapted to the band count."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"model.pretrained {p}: file not found (weights are never downloaded)")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(p))
    else:
        state = torch.load(p, map_location="cpu", weights_only=True)
    encoder: nn.Module = net.base.encoder  # type: ignore[assignment]
    own = encoder.state_dict()
    for key, w in list(state.items()):
        if key in own and w.ndim == 4 and own[key].shape[1] != w.shape[1] and own[key].shape[0] == w.shape[0]:
            c = own[key].shape[1]  # mean RGB filter repeated over the bands, rescaled (timm's recipe)
            state[key] = w.mean(1, keepdim=True).repeat(1, c, 1, 1) * (w.shape[1] / c)
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not matched:
        raise ConfigError(f"model.pretrained {p}: no tensor matches the encoder's parameter names")
    nn.Module.load_state_dict(encoder, matched, strict=False)
