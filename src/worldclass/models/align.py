"""Image-to-map alignment network: a coarse-to-fine chain of scale-specific fully convolutional networks
that predicts a dense displacement field between an image and a rasterised map.

Input ``x`` (B, C + K, H, W): the image's C normalised bands, then K map channels (0/1 rasters of the
map classes, e.g. buildings). Output (B, 2, H, W) float32: the displacement in pixels, channel 0 along x
(columns, right), channel 1 along y (rows, down), in the convention of :mod:`worldclass.data.misalign`: the
map content of the image point p is drawn at p + field(p). So ``warp(map, field)`` is the aligned map, and
a map vertex q belongs at the image point p with p + field(p) = q
(:func:`worldclass.data.misalign.invert_points`).

Stage k works at 1/``scales[k]`` resolution on the image and the map *warped by the field so far*: it
segments the map classes in the image (multi-task: an auxiliary loss trains this against the true map),
correlates that with the map over displacements of up to ``radius`` cells (12 px at scale 4 with radius
3), and turns the correlation into a residual field (bilinearly upsampled and added). Each stage has its
own weights (scale-specific).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
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
    """Local correlation volume: (B, K, H, W) x (B, K, H, W) -> (B, (2r+1)^2, H, W), channel
    ``(dy + r) * (2r + 1) + (dx + r)`` = mean over K of ``a(p) * b(p + (dx, dy))`` (0 outside)."""
    h, w = a.shape[-2:]
    padded = F.pad(b, (radius, radius, radius, radius))
    out = [
        (a * padded[:, :, dy : dy + h, dx : dx + w]).mean(1)
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
    """One scale. The image branch segments the map classes (logits (B, K, h, w), trained with an
    auxiliary loss against the true map); their centred probabilities are correlated with the centred
    (warped) map over displacements of up to ``radius`` cells, the volume is pooled over a neighbourhood
    (block matching) and its soft-argmax, corrected by a dilated FCN over volume + features, is averaged
    with a Gaussian of ``smooth`` cells weighted by a learned confidence (normalised convolution: where the
    map shows nothing, the field comes from its neighbours). Output: residual field in cells."""

    def __init__(
        self, image_channels: int, map_channels: int, width: int, radius: int = 3, smooth: float = 1.5
    ) -> None:
        super().__init__()
        feat = 16
        self.radius = radius
        self.image = nn.Sequential(*_block(image_channels, feat), *_block(feat, feat, 2), *_block(feat, feat))
        self.segment = nn.Conv2d(feat, map_channels, 1)
        volume = (2 * radius + 1) ** 2
        self.body = nn.Sequential(
            *_block(volume + feat + map_channels, width), *_block(width, width, 2), *_block(width, width, 4)
        )
        self.head = nn.Conv2d(width, 2, 3, padding=1)
        nn.init.zeros_(self.head.weight)  # start from the soft-argmax alone
        nn.init.zeros_(self.head.bias)  # type: ignore[arg-type]
        self.log_sharpness = nn.Parameter(torch.tensor(3.0))  # softmax temperature ~1/20
        self.confidence = nn.Conv2d(width, 1, 1)
        g = torch.exp(-0.5 * (torch.arange(-4, 5, dtype=torch.float32) / smooth) ** 2)
        self.register_buffer("kernel", g / g.sum(), persistent=False)
        d = torch.arange(-radius, radius + 1, dtype=torch.float32)
        dy, dx = torch.meshgrid(d, d, indexing="ij")
        self.register_buffer("offsets", torch.stack([dx.reshape(-1), dy.reshape(-1)]), persistent=False)

    def run(self, image: torch.Tensor, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(residual field (B, 2, h, w) cells, segmentation logits (B, K, h, w), features (B, width, h, w))."""
        fi = self.image(image)
        seg = self.segment(fi)
        kernel: torch.Tensor = self.get_buffer("kernel")
        corr = correlation(torch.sigmoid(seg) - 0.5, maps - 0.5, self.radius) * 4
        pooled = _blur(corr, kernel) / _blur(torch.ones_like(corr[:, :1]), kernel)
        feats: torch.Tensor = self.body(torch.cat([pooled, fi, maps], 1))
        weights = torch.softmax(pooled * self.log_sharpness.exp(), dim=1)  # (B, D, h, w)
        offsets: torch.Tensor = self.get_buffer("offsets")
        local = torch.einsum("bdhw,kd->bkhw", weights, offsets) + self.head(feats)
        conf = torch.sigmoid(self.confidence(feats))
        field = _blur(local * conf, kernel) / _blur(conf, kernel).clamp_min(1e-6)
        return field, seg, feats

    def forward(self, image: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        return self.run(image, maps)[0]


class AlignmentNet(nn.Module):
    """``in_channels`` image bands + ``map_channels`` map rasters -> displacement field (see module
    docstring); ``scales``: downsampling factor of each stage, coarse to fine; ``width``: channels;
    ``radius``: search radius of each stage in its cells."""

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
        return self.forward_all(x)[0][-1]

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The cumulative field after each stage, coarse to fine: list of (B, 2, H, W) in pixels."""
        return self.forward_all(x)[0]

    def forward_all(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(cumulative fields (B, 2, H, W) px, segmentation logits (B, K, H/s, W/s)) of each stage."""
        image, maps = x[:, : self.in_channels], x[:, self.in_channels :]
        b, _, h, w = x.shape
        field = x.new_zeros(b, 2, h, w)
        fields: list[torch.Tensor] = []
        segs: list[torch.Tensor] = []
        stages: list[_Stage] = list(self.stages)  # type: ignore[arg-type]
        for s, stage in zip(self.scales, stages, strict=True):
            aligned = warp(maps, field) if fields else maps
            size = (max(1, h // s), max(1, w // s))
            residual, seg, _ = stage.run(
                F.adaptive_avg_pool2d(image, size), F.adaptive_avg_pool2d(aligned, size)
            )
            field = field + F.interpolate(residual * s, size=(h, w), mode="bilinear", align_corners=False)
            fields.append(field)
            segs.append(seg)
        return fields, segs

    def embed(self, x: torch.Tensor, sensor: str = "", layer: str = "features") -> torch.Tensor:
        """(B, C + K, H, W) -> (B, width): mean of the coarsest stage's features (image + map context)."""
        s = self.scales[0]
        size = (max(1, x.shape[2] // s), max(1, x.shape[3] // s))
        stage: Any = self.stages[0]
        pooled = F.adaptive_avg_pool2d(x, size)
        feats: torch.Tensor = stage.run(pooled[:, : self.in_channels], pooled[:, self.in_channels :])[2]
        return feats.mean((2, 3))


@register_model("alignment_net")
def alignment_net(**kwargs: Any) -> AlignmentNet:
    """Registry builder of :class:`AlignmentNet` (keyword arguments as its constructor)."""
    return AlignmentNet(**kwargs)


def save_alignment_checkpoint(
    path: str | Path,
    net: AlignmentNet,
    *,
    bands: Sequence[str],
    map_classes: Sequence[str],
    preprocessing: dict[str, Any],
    config: dict[str, Any] | None = None,
    dataset: str = "scenes",
) -> Path:
    """Write ``net`` as a worldclass checkpoint (what :func:`worldclass.models.load_model` and ``worldclass
    align`` read) without a training run: e.g. weights made elsewhere, or a network set by hand.
    ``bands``: the image bands; ``preprocessing``: ``{"scale", "mean", "std", "dtype"}``."""
    from worldclass.models.checkpoint import ModelMeta

    spec = {"in_channels": net.in_channels, "map_channels": net.map_channels, "scales": list(net.scales)}
    spec["width"] = net.stages[0].head.in_channels  # type: ignore[union-attr]
    meta = ModelMeta(
        task="alignment",
        bands=[*bands, *(f"map:{c}" for c in map_classes)],
        classes=list(map_classes),
        nomenclature=dataset,
        preprocessing=preprocessing,
        config=config or {},
        output_classes=["dx", "dy"],
        model={"name": "alignment_net", "kwargs": spec},
        dataset=dataset,
    )
    state = {f"model.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"meta": meta.to_dict()}}, path)
    return Path(path)
