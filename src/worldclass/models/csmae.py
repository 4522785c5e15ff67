"""Cross-sensor masked autoencoder (CSMAE-style, variant CESD) for S1 + S2 patches without labels.

After Hackstein, Sumbul, Clasen, Demir, "Exploring Masked Autoencoders for Sensor-Agnostic Image
Retrieval in Remote Sensing", IEEE TGRS 2024 (our own compact implementation, not their code):

* sensor-specific patch embeddings (S2: ``s2_bands`` channels, S1: VV/VH) of ``patch_size`` px patches
  (120 px / 15 = an 8 x 8 token grid), fixed 2-D sin-cos positions and a learned sensor embedding;
* a **sensor-common encoder** (one ViT shared by both sensors: "CE");
* **sensor-specific decoders** ("SD"): from the visible tokens of either sensor, each decoder
  reconstructs the patches of its own sensor;
* losses: uni-modal reconstruction (masked patches of the same sensor, MAE), cross-modal reconstruction
  (all patches of the other sensor from one sensor's visible tokens), and a symmetric InfoNCE between
  the projected mean tokens of the S2 and S1 views of the same location (in-batch negatives).

Masking: ``mask_ratio`` of the tokens, drawn independently per sensor and sample. Input tensors are the
worldclass-normalised patches (B, C, 120, 120); targets are those normalised values.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worldclass.compat import ensure_torchvision_importable
from worldclass.models.registry import register_model

SENSORS = ("s2", "s1")


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """(1, grid*grid, dim) fixed 2-D sine-cosine position embedding (row-major token order)."""
    assert dim % 4 == 0, "embedding dim must be a multiple of 4"
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))
    ys, xs = torch.meshgrid(
        torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32), indexing="ij"
    )
    parts = []
    for coord in (ys.flatten(), xs.flatten()):
        angle = coord[:, None] * omega[None]
        parts += [angle.sin(), angle.cos()]
    return torch.cat(parts, 1)[None]


def _blocks(dim: int, depth: int, heads: int) -> nn.ModuleList:
    ensure_torchvision_importable()
    from timm.models.vision_transformer import Block

    return nn.ModuleList([Block(dim, heads, mlp_ratio=4.0, qkv_bias=True) for _ in range(depth)])


class Decoder(nn.Module):
    """Visible tokens (B, n_keep, dim) + their positions -> all patches (B, N, patch*patch*channels)."""

    def __init__(
        self, dim: int, decoder_dim: int, depth: int, heads: int, tokens: int, grid: int, out: int
    ) -> None:
        super().__init__()
        self.tokens = tokens
        self.inp = nn.Linear(dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.register_buffer("pos", sincos_2d(grid, decoder_dim), persistent=False)
        self.blocks = _blocks(decoder_dim, depth, heads)
        self.norm = nn.LayerNorm(decoder_dim)
        self.out = nn.Linear(decoder_dim, out)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, latent: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        z = self.inp(latent)
        if keep is not None:
            full = self.mask_token.expand(z.shape[0], self.tokens, -1).clone()
            full.scatter_(1, keep[..., None].expand(-1, -1, z.shape[-1]), z)
            z = full
        z = z + self.pos
        for b in self.blocks:
            z = b(z)
        return self.out(self.norm(z))  # type: ignore[no-any-return]


class CrossSensorMAE(nn.Module):
    """See module docstring. ``embed(x, sensor, layer)`` gives retrieval embeddings of unmasked patches
    of either sensor in one shared space: ``projection`` (the space the contrastive loss aligns) or
    ``pooled`` (mean encoder token)."""

    embedding_layers = ("projection", "pooled")

    def __init__(
        self,
        s2_bands: int,
        s1_bands: int = 2,
        *,
        image_size: int = 120,
        patch_size: int = 15,
        dim: int = 192,
        depth: int = 4,
        heads: int = 3,
        decoder_dim: int = 128,
        decoder_depth: int = 2,
        proj_dim: int = 128,
        mask_ratio: float = 0.5,
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"patch_size {patch_size} must divide the image size {image_size}")
        self.patch, self.grid = patch_size, image_size // patch_size
        self.tokens = self.grid**2
        self.mask_ratio = mask_ratio
        self.channels = {"s2": s2_bands, "s1": s1_bands}
        self.embed_patches = nn.ModuleDict(
            {s: nn.Conv2d(c, dim, patch_size, patch_size) for s, c in self.channels.items()}
        )
        self.sensor_embedding = nn.ParameterDict({s: nn.Parameter(torch.zeros(1, 1, dim)) for s in SENSORS})
        self.register_buffer("pos", sincos_2d(self.grid, dim), persistent=False)
        self.blocks = _blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim)
        self.decoders = nn.ModuleDict(
            {
                s: Decoder(
                    dim,
                    decoder_dim,
                    decoder_depth,
                    max(1, decoder_dim // 64),
                    self.tokens,
                    self.grid,
                    patch_size * patch_size * c,
                )
                for s, c in self.channels.items()
            }
        )
        self.projection = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, proj_dim))
        for p in self.sensor_embedding.values():
            nn.init.normal_(p, std=0.02)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, N, patch*patch*C), row-major tokens."""
        b, c, _, _ = x.shape
        p, g = self.patch, self.grid
        return x.reshape(b, c, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(b, g * g, p * p * c)

    def encode(self, x: torch.Tensor, sensor: str, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens of the visible patches (B, n_keep or N, dim)."""
        t = (
            self.embed_patches[sensor](x).flatten(2).transpose(1, 2)
            + self.pos
            + self.sensor_embedding[sensor]
        )
        if keep is not None:
            t = torch.gather(t, 1, keep[..., None].expand(-1, -1, t.shape[-1]))
        for b in self.blocks:
            t = b(t)
        return self.norm(t)  # type: ignore[no-any-return]

    def embed(self, x: torch.Tensor, sensor: str, layer: str = "projection") -> torch.Tensor:
        """(B, C_sensor, H, W) -> (B, proj_dim) (``projection``) or (B, dim) (``pooled``)."""
        pooled = self.encode(x, sensor).mean(1)
        return self.projection(pooled) if layer == "projection" else pooled

    def _keep(self, b: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        n_keep = max(1, round(self.tokens * (1 - self.mask_ratio)))
        order = torch.rand(b, self.tokens, device=device).argsort(1)
        keep = order[:, :n_keep].sort(1).values
        masked = torch.ones(b, self.tokens, device=device)
        masked.scatter_(1, keep, 0.0)
        return keep, masked

    def losses(self, s2: torch.Tensor, s1: torch.Tensor, temperature: float = 0.1) -> dict[str, torch.Tensor]:
        """Loss terms for a batch of paired patches: ``uni``, ``cross``, ``contrastive``."""
        inputs = {"s2": s2, "s1": s1}
        targets = {s: self.patchify(v) for s, v in inputs.items()}
        uni = cross = s2.new_zeros(())
        pooled = {}
        for s in SENSORS:
            keep, masked = self._keep(s2.shape[0], s2.device)
            latent = self.encode(inputs[s], s, keep)
            pooled[s] = F.normalize(self.projection(latent.mean(1)), dim=-1)
            for t in SENSORS:
                err = (self.decoders[t](latent, keep) - targets[t]).pow(2).mean(-1)
                if t == s:
                    uni = uni + (err * masked).sum() / masked.sum() / len(SENSORS)
                else:
                    cross = cross + err.mean() / len(SENSORS)
        logits = pooled["s2"] @ pooled["s1"].T / temperature
        labels = torch.arange(len(logits), device=logits.device)
        con = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        return {"uni": uni, "cross": cross, "contrastive": con}


@register_model("csmae")
def csmae(**kwargs: Any) -> CrossSensorMAE:
    """Registry builder of :class:`CrossSensorMAE` (keyword arguments as its constructor)."""
    return CrossSensorMAE(**kwargs)
