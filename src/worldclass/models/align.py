"""Image-to-map alignment network: a coarse-to-fine chain of scale-specific fully convolutional networks
that predicts a dense displacement field between an image and a rasterised map.

Input ``x`` (B, C + K, H, W): the image's C normalised bands, then K map channels (0/1 rasters of the
map classes, e.g. buildings). Output (B, 2, H, W) float32: the displacement in pixels, channel 0 along x
(columns, right), channel 1 along y (rows, down), in the convention of :mod:`worldclass.data.misalign`: the
map content of the image point p is drawn at p + field(p). So ``warp(map, field)`` is the aligned map, and
a map vertex q belongs at the image point p with p + field(p) = q
(:func:`worldclass.data.misalign.invert_points`).

Stage k works at 1/``scales[k]`` resolution on the image and the map *warped by the field so far*: small
encoders turn both into features, their local correlation over displacements of up to ``radius`` cells
(12 px at scale 4 with radius 3) says where the map matches the image, and a dilated FCN turns volume and
features into a residual field (bilinearly upsampled and added). Each stage has its own weights
(scale-specific).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worldclass.models.registry import register_model


def warp(maps: torch.Tensor, field: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """``maps`` (B, K, H, W) sampled at p + field(p) for every pixel p: (B, K, H, W); outside: 0."""
    h, w = maps.shape[-2:]
    ys = torch.arange(h, device=maps.device, dtype=field.dtype)
    xs = torch.arange(w, device=maps.device, dtype=field.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    px = gx[None] + field[:, 0]
    py = gy[None] + field[:, 1]
    grid = torch.stack([(2 * px + 1) / w - 1, (2 * py + 1) / h - 1], dim=-1)  # align_corners=False
    return F.grid_sample(maps, grid.to(maps.dtype), mode=mode, padding_mode="zeros", align_corners=False)


def correlation(a: torch.Tensor, b: torch.Tensor, radius: int) -> torch.Tensor:
    """Local cosine-correlation volume: (B, C, H, W) x (B, C, H, W) -> (B, (2r+1)^2, H, W) in [-1, 1],
    channel ``(dy + r) * (2r + 1) + (dx + r)`` = cosine of ``a(p)`` and ``b(p + (dx, dy))`` (0 outside)."""
    h, w = a.shape[-2:]
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    padded = F.pad(b, (radius, radius, radius, radius))
    out = [
        (a * padded[:, :, dy : dy + h, dx : dx + w]).sum(1)
        for dy in range(2 * radius + 1)
        for dx in range(2 * radius + 1)
    ]
    return torch.stack(out, 1)


def _blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian smoothing of every channel of (B, C, h, w) (zero padding: use ratios)."""
    c, k = x.shape[1], len(kernel)
    kx = kernel.view(1, 1, 1, k).expand(c, 1, 1, k)
    ky = kernel.view(1, 1, k, 1).expand(c, 1, k, 1)
    x = F.conv2d(x, kx, padding=(0, k // 2), groups=c)
    return F.conv2d(x, ky, padding=(k // 2, 0), groups=c)


def _block(cin: int, cout: int, dilation: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation),
        nn.GroupNorm(8, cout),
        nn.ReLU(True),
    ]


class _Stage(nn.Module):
    """One scale: image and (warped) map encoders, their local correlation volume (search radius
    ``radius`` cells), its soft-argmax (the displacement where map and image agree best, with a learned
    sharpness) corrected by a dilated FCN over volume + features, then averaged with a Gaussian of
    ``smooth`` cells weighted by a learned confidence (normalised convolution: where the map shows nothing,
    the field comes from its neighbours); output: residual field in cells."""

    def __init__(
        self, image_channels: int, map_channels: int, width: int, radius: int = 3, smooth: float = 1.5
    ) -> None:
        super().__init__()
        feat = 16
        self.radius = radius
        self.image = nn.Sequential(*_block(image_channels, feat), *_block(feat, feat))
        self.map = nn.Sequential(*_block(map_channels, feat), *_block(feat, feat))
        self.body = nn.Sequential(
            *_block((2 * radius + 1) ** 2 + 2 * feat, width),
            *_block(width, width, 2),
            *_block(width, width, 4),
        )
        self.head = nn.Conv2d(width, 2, 3, padding=1)
        nn.init.zeros_(self.head.weight)  # start from the soft-argmax alone
        nn.init.zeros_(self.head.bias)  # type: ignore[arg-type]
        self.log_sharpness = nn.Parameter(torch.tensor(2.3))  # softmax temperature 1/10
        self.confidence = nn.Conv2d(width, 1, 1)
        g = torch.exp(-0.5 * (torch.arange(-4, 5, dtype=torch.float32) / smooth) ** 2)
        self.register_buffer("kernel", g / g.sum(), persistent=False)
        d = torch.arange(-radius, radius + 1, dtype=torch.float32)
        dy, dx = torch.meshgrid(d, d, indexing="ij")
        self.register_buffer("offsets", torch.stack([dx.reshape(-1), dy.reshape(-1)]), persistent=False)

    def _volume(self, image: torch.Tensor, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fi, fm = self.image(image), self.map(maps)
        corr = correlation(fi, fm, self.radius)
        return corr, self.body(torch.cat([corr, fi, fm], 1))

    def features(self, image: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        return self._volume(image, maps)[1]

    def forward(self, image: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        corr, feats = self._volume(image, maps)
        weights = torch.softmax(corr * self.log_sharpness.exp(), dim=1)  # (B, D, h, w)
        offsets: torch.Tensor = self.get_buffer("offsets")
        local = torch.einsum("bdhw,kd->bkhw", weights, offsets) + self.head(feats)
        # the field is smooth: spread confident local estimates into cells where the map says little
        conf = torch.sigmoid(self.confidence(feats))
        kernel: torch.Tensor = self.get_buffer("kernel")
        num = _blur(local * conf, kernel)
        den = _blur(conf, kernel)
        out: torch.Tensor = num / den.clamp_min(1e-6)
        return out


class AlignmentNet(nn.Module):
    """``in_channels`` image bands + ``map_channels`` map rasters -> displacement field (see module
    docstring); ``scales``: downsampling factor of each stage, coarse to fine; ``width``: channels."""

    def __init__(
        self,
        in_channels: int,
        map_channels: int,
        *,
        scales: Sequence[int] = (4, 2),
        width: int = 32,
        radius: int = 3,
    ) -> None:
        super().__init__()
        self.in_channels, self.map_channels, self.scales = in_channels, map_channels, tuple(scales)
        self.stages = nn.ModuleList(_Stage(in_channels, map_channels, width, radius) for _ in self.scales)

    embedding_layers = ("features",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_stages(x)[-1]

    def embed(self, x: torch.Tensor, sensor: str = "", layer: str = "features") -> torch.Tensor:
        """(B, C + K, H, W) -> (B, width): mean of the coarsest stage's features (image + map context)."""
        s = self.scales[0]
        size = (max(1, x.shape[2] // s), max(1, x.shape[3] // s))
        stage: Any = self.stages[0]
        pooled = F.adaptive_avg_pool2d(x, size)
        feats: torch.Tensor = stage.features(pooled[:, : self.in_channels], pooled[:, self.in_channels :])
        return feats.mean((2, 3))

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The cumulative field after each stage, coarse to fine: list of (B, 2, H, W) in pixels."""
        image, maps = x[:, : self.in_channels], x[:, self.in_channels :]
        b, _, h, w = x.shape
        field = x.new_zeros(b, 2, h, w)
        out: list[torch.Tensor] = []
        for s, stage in zip(self.scales, self.stages, strict=True):
            aligned = warp(maps, field) if out else maps
            hs, ws = max(1, h // s), max(1, w // s)
            residual = stage(F.adaptive_avg_pool2d(image, (hs, ws)), F.adaptive_avg_pool2d(aligned, (hs, ws)))
            residual = residual * s  # predicted in cells of this stage, returned in pixels
            field = field + F.interpolate(residual, size=(h, w), mode="bilinear", align_corners=False)
            out.append(field)
        return out


@register_model("alignment_net")
def alignment_net(**kwargs: Any) -> AlignmentNet:
    """Registry builder of :class:`AlignmentNet` (keyword arguments as its constructor)."""
    return AlignmentNet(**kwargs)
