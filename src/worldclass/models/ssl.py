"""Self-supervised encoders for N-channel S1 + S2 input: SSCL (UniFeat + CoRe), SimSiam and MoCo v2.

Every method trains ``encoder``: a timm model with ``in_chans`` = the band count and no classifier head,
whose parameter names are those of the same backbone in :class:`~worldclass.models.classifier.SceneClassifier`
(timm) and, for ResNets, of the smp encoder of :class:`~worldclass.models.segmenter.SegmentationNet`; so
``model.init_from`` moves it into a classifier or a segmenter unchanged.

**SSCL** (Montanaro et al. 2021; no public code, the poster's description read as follows):

- *UniFeat*: one single-channel feature extractor shared by all input channels (the ResNet stem: 7 x 7
  conv, stride 2, 64 filters, BN, ReLU) plus a projection head (1 x 1 convs); the loss pulls together
  the per-pixel features of two different channels of the same scene (also S1 vs S2) at the same pixel
  and pushes apart those of other pixels (pixel InfoNCE, :func:`pixel_info_nce`). It starts the run;
  the learnt single-channel filters then initialise every input channel of the encoder's first conv.
- *CoRe*: the whole encoder with a light U-Net decoder reconstructs the full input from a degraded copy
  (channel dropout, cutout, blur: :func:`degrade`); the loss is the per-pixel MSE, with ``hole_weight``
  on the dropped channels and cut-out pixels (what must be inferred from the other bands).

**SimSiam** and **MoCo v2** use lightly's heads and losses on the pooled encoder output; MoCo keeps a
momentum copy of the encoder and projector and a memory bank of negatives (lightly's NTXentLoss).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worldclass.errors import ConfigError
from worldclass.models.registry import register_model

METHODS = ("sscl", "simsiam", "moco")


def timm_encoder(backbone: str, in_chans: int) -> nn.Module:
    import timm

    try:
        return timm.create_model(backbone, pretrained=False, in_chans=in_chans, num_classes=0)
    except RuntimeError as exc:
        raise ConfigError(f"model.backbone {backbone!r}: not a timm model ({exc})") from None


def resnet_stages(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Feature maps of a timm ResNet: stem (1/2), layer1 (1/4), layer2 (1/8), layer3 (1/16), layer4 (1/32)."""
    m: Any = net
    stem = m.act1(m.bn1(m.conv1(x)))
    f1 = m.layer1(m.maxpool(stem))
    f2 = m.layer2(f1)
    f3 = m.layer3(f2)
    return [stem, f1, f2, f3, m.layer4(f3)]


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)
    )


class CoReDecoder(nn.Module):
    """Light U-Net decoder: layer3 -> layer2 -> layer1 -> stem features, then full resolution, ``out`` bands."""

    def __init__(self, widths: list[int], out: int) -> None:
        super().__init__()
        stem, c1, c2, c3 = widths[:4]
        self.up3 = _block(c3 + c2, 128)
        self.up2 = _block(128 + c1, 96)
        self.up1 = _block(96 + stem, 64)
        self.head = nn.Sequential(_block(64, 32), nn.Conv2d(32, out, 1))

    def forward(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        stem, f1, f2, f3 = feats[:4]

        def up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

        x = self.up3(torch.cat([up(f3, f2), f2], 1))
        x = self.up2(torch.cat([up(x, f1), f1], 1))
        x = self.up1(torch.cat([up(x, stem), stem], 1))
        return self.head(F.interpolate(x, size=size, mode="bilinear", align_corners=False))  # type: ignore[no-any-return]


class SSLNet(nn.Module):
    """``encoder`` + the heads of ``method``. ``embed`` (retrieval, collapse monitoring): the pooled
    encoder output (B, F), layer ``pooled``."""

    embedding_layers = ("pooled",)

    def __init__(
        self, method: str, backbone: str, in_chans: int, proj_dim: int = 128, hidden_dim: int = 512
    ) -> None:
        super().__init__()
        if method not in METHODS:
            raise ConfigError(f"self-supervised method {method!r}; choose from {list(METHODS)}")
        self.method = method
        self.encoder = timm_encoder(backbone, in_chans)
        features: int = self.encoder.num_features  # type: ignore[assignment]
        if method == "sscl":
            if not all(hasattr(self.encoder, k) for k in ("conv1", "bn1", "layer4")) or not isinstance(
                self.encoder.conv1, nn.Conv2d
            ):
                raise ConfigError(
                    f"sscl needs a ResNet with a single-conv stem (resnet18/34/50), not {backbone!r}"
                )
            widths = [
                int(x.shape[1]) for x in resnet_stages(self.encoder.eval(), torch.zeros(1, in_chans, 64, 64))
            ]
            self.encoder.train()
            stem: Any = self.encoder.conv1
            self.unifeat = nn.Conv2d(
                1, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False
            )
            self.unifeat_bn = nn.BatchNorm2d(stem.out_channels)
            self.unifeat_proj = nn.Sequential(
                nn.Conv2d(stem.out_channels, hidden_dim // 4, 1),
                nn.ReLU(True),
                nn.Conv2d(hidden_dim // 4, proj_dim, 1),
            )
            self.decoder = CoReDecoder(widths, in_chans)
            self.register_buffer(
                "core_started", torch.zeros((), dtype=torch.bool)
            )  # resumes in the right stage
        else:
            from worldclass.compat import ensure_torchvision_importable

            ensure_torchvision_importable()
            from lightly.models.modules import (
                MoCoProjectionHead,
                SimSiamPredictionHead,
                SimSiamProjectionHead,
            )

            if method == "simsiam":
                self.projector = SimSiamProjectionHead(features, hidden_dim, proj_dim)
                self.predictor = SimSiamPredictionHead(proj_dim, hidden_dim // 4, proj_dim)
            else:
                self.projector = MoCoProjectionHead(features, hidden_dim, proj_dim)
                self.encoder_m = copy.deepcopy(self.encoder)
                self.projector_m = copy.deepcopy(self.projector)
                for p in [*self.encoder_m.parameters(), *self.projector_m.parameters()]:
                    p.requires_grad = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.encoder(x)
        return out

    def embed(self, x: torch.Tensor, sensor: str, layer: str) -> torch.Tensor:
        return self.forward(x)

    # --- SSCL ---------------------------------------------------------------------------------------
    def unifeat_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) one channel -> (B, P, H/2, W/2) projected per-pixel features."""
        return self.unifeat_proj(F.relu(self.unifeat_bn(self.unifeat(x))))  # type: ignore[no-any-return]

    def adopt_unifeat(self, generator: torch.Generator | None = None) -> None:
        """Start CoRe from UniFeat: the shared single-channel filters in every channel of ``conv1``
        (scaled by 1/sqrt(C), a small random part breaking the symmetry between channels)."""
        conv: Any = self.encoder.conv1
        with torch.no_grad():
            c = conv.weight.shape[1]
            shared = self.unifeat.weight.repeat(1, c, 1, 1) / math.sqrt(c)
            noise = torch.randn(conv.weight.shape, generator=generator) * shared.std() * 0.1
            conv.weight.copy_(shared + noise.to(shared))
            enc_bn: Any = self.encoder.bn1
            enc_bn.load_state_dict(self.unifeat_bn.state_dict())

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """CoRe: (B, C, H, W) degraded input -> (B, C, H, W) reconstruction."""
        return self.decoder(resnet_stages(self.encoder, x), x.shape[-2:])  # type: ignore[no-any-return]


def pixel_info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float, index: torch.Tensor) -> torch.Tensor:
    """UniFeat loss. ``a``, ``b``: (B, P, h, w) per-pixel features of two channels of the same scenes;
    ``index``: (B, M) flat pixel positions sampled per scene. The same position in ``b`` is the positive
    of each sampled feature of ``a``; every other sampled position of the batch is a negative. Symmetric
    InfoNCE on L2-normalised features."""
    n, p = a.shape[:2]
    qa = torch.gather(a.flatten(2), 2, index[:, None].expand(n, p, -1)).transpose(1, 2).reshape(-1, p)
    qb = torch.gather(b.flatten(2), 2, index[:, None].expand(n, p, -1)).transpose(1, 2).reshape(-1, p)
    qa, qb = F.normalize(qa, dim=1), F.normalize(qb, dim=1)
    logits = qa @ qb.T / temperature
    target = torch.arange(len(qa), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def degrade(
    x: torch.Tensor, generator: torch.Generator, *, channel_drop: float, cutouts: int, blur_sigma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """CoRe's degraded input: (B, C, H, W) -> (degraded copy, hole mask (B, C, H, W) bool of the dropped
    channels and cut-out pixels). Each channel is dropped (set to 0, the band mean after normalisation)
    with probability ``channel_drop`` (at least one channel kept); 1..``cutouts`` rectangles of 1/8-1/4 of
    the side are zeroed in all channels; half of the samples are blurred (Gaussian, sigma uniform in
    (0.5, ``blur_sigma``)). ``x`` itself is not modified."""
    b, c, h, w = x.shape
    dev = x.device
    drop = torch.rand(b, c, generator=generator) < channel_drop
    keep_one = torch.randint(0, c, (b,), generator=generator)
    drop[torch.arange(b), keep_one] = False
    holes = drop[:, :, None, None].expand(b, c, h, w).clone()
    for i in range(b):
        for _ in range(int(torch.randint(1, max(cutouts, 1) + 1, (1,), generator=generator))):
            side = int(torch.randint(max(h // 8, 1), max(h // 4, 2), (1,), generator=generator))
            y0 = int(torch.randint(0, h - side + 1, (1,), generator=generator))
            x0 = int(torch.randint(0, w - side + 1, (1,), generator=generator))
            if cutouts > 0:
                holes[i, :, y0 : y0 + side, x0 : x0 + side] = True
    out = x.clone()
    blur = torch.rand(b, generator=generator) < 0.5
    if blur_sigma > 0.5 and bool(blur.any()):
        sigma = 0.5 + float(torch.rand(1, generator=generator)) * (blur_sigma - 0.5)
        radius = max(1, math.ceil(2 * sigma))
        t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=dev)
        k = torch.exp(-(t**2) / (2 * sigma**2))
        k = (k / k.sum()).to(x.dtype)
        sel = out[blur.to(dev)]
        sel = F.conv2d(
            F.pad(sel, (radius, radius, 0, 0), mode="reflect"),
            k.view(1, 1, 1, -1).repeat(c, 1, 1, 1),
            groups=c,
        )
        sel = F.conv2d(
            F.pad(sel, (0, 0, radius, radius), mode="reflect"),
            k.view(1, 1, -1, 1).repeat(c, 1, 1, 1),
            groups=c,
        )
        out[blur.to(dev)] = sel
    holes = holes.to(dev)
    out[holes] = 0.0
    return out, holes


def augment_views(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random view per sample for SimSiam / MoCo (on any device): random resized crop (scale 0.35-1)
    back to the input size, flip, 90-degree rotation, per-band gain (x0.8-1.2) and offset (+-0.2 in
    normalised units), Gaussian noise (std 0.05), and one band in ten set to its mean."""
    b, c, h, w = x.shape
    dev = x.device
    scale = 0.35 + 0.65 * torch.rand(b, generator=generator)
    side = (scale.sqrt() * min(h, w)).clamp(min=8)
    cy = (torch.rand(b, generator=generator) * (h - side) + side / 2) / h * 2 - 1
    cx = (torch.rand(b, generator=generator) * (w - side) + side / 2) / w * 2 - 1
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = side / w
    theta[:, 1, 1] = side / h
    theta[:, 0, 2], theta[:, 1, 2] = cx, cy
    flip = torch.rand(b, generator=generator) < 0.5
    theta[flip, 0, 0] *= -1
    grid = F.affine_grid(theta.to(dev, x.dtype), [b, c, h, w], align_corners=False)
    v = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    k = int(torch.randint(0, 4, (1,), generator=generator))
    v = torch.rot90(v, k, (2, 3)) if h == w else v
    gain = (0.8 + 0.4 * torch.rand(b, c, 1, 1, generator=generator)).to(dev, x.dtype)
    offset = (0.4 * torch.rand(b, c, 1, 1, generator=generator) - 0.2).to(dev, x.dtype)
    noise = torch.randn(v.shape, generator=generator).to(dev, x.dtype) * 0.05
    drop = (torch.rand(b, c, 1, 1, generator=generator) < 0.1).to(dev)
    return torch.where(drop, torch.zeros_like(v), v * gain + offset + noise)


@register_model("ssl_encoder")
def build_ssl(**kwargs: Any) -> SSLNet:
    return SSLNet(**kwargs)


SSL_TASKS = ("sscl", "simsiam", "moco")


def ssl_encoder_state(
    path: str | Any, checkpoint: dict[str, Any] | None = None
) -> tuple[dict[str, torch.Tensor], Any]:
    """(encoder state dict, :class:`ModelMeta`) of a self-supervised checkpoint (task sscl, simsiam or
    moco; ``checkpoint``: its content when already read); anything else is refused with one line."""
    from worldclass.models.checkpoint import ModelMeta, model_state, read_checkpoint

    ckpt = checkpoint if checkpoint is not None else read_checkpoint(path)
    meta = ModelMeta.from_dict(ckpt["hyper_parameters"]["meta"])
    if meta.task not in SSL_TASKS:
        raise ConfigError(
            f"model.init_from {path}: a {meta.task} checkpoint; give one of task {'/'.join(SSL_TASKS)}"
        )
    state = model_state(ckpt["state_dict"])
    return {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}, meta


def load_encoder(target: nn.Module, state: dict[str, torch.Tensor], source: str) -> int:
    """Copy ``state`` into ``target`` by parameter name; every weight of ``target``'s convolutions and
    norms must be found with its shape (else one line naming the checkpoint and what differs). Heads
    (``fc``, ``head``, ``classifier``) are left alone. Returns the tensors copied."""
    own = target.state_dict()
    skip = ("fc.", "head.", "classifier.", "num_batches_tracked")
    wanted = [k for k in own if not any(s in k for s in skip)]
    missing = [k for k in wanted if k not in state]
    wrong = [k for k in wanted if k in state and state[k].shape != own[k].shape]
    if missing or wrong:
        what = (
            f"shape of {wrong[0]} {tuple(state[wrong[0]].shape)} vs {tuple(own[wrong[0]].shape)}"
            if wrong
            else f"{missing[0]} missing"
        )
        raise ConfigError(
            f"model.init_from {source}: its encoder does not fit this model ({len(missing)} missing, {len(wrong)} "
            f"of another shape; {what}); use the same backbone/encoder and bands as the pretraining run"
        )
    target.load_state_dict({k: state[k] for k in wanted}, strict=False)
    return len(wanted)
