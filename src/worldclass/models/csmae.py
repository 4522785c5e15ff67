"""Cross-sensor masked autoencoders (CSMAE) for S1 + S2 patches without labels, in every variant the
CSMAE study compares.

After Hackstein, Sumbul, Clasen, Demir, "Exploring Masked Autoencoders for Sensor-Agnostic Image
Retrieval in Remote Sensing", IEEE TGRS 2024 (our own compact implementation, not their code):

* sensor-specific patch embeddings (S2: ``s2_bands`` channels, S1: VV/VH) of ``patch_size`` px patches
  (120 px / 15 = an 8 x 8 token grid), fixed 2-D sin-cos positions and a learned sensor embedding;
* ``variant`` = encoder x decoder type, C = sensor-common, S = sensor-specific: ``cecd``, ``cesd``
  (default), ``secd``, ``sesd``. A common encoder is one ViT for both sensors; specific encoders are one
  ViT each. Specific decoders reconstruct their own sensor from either sensor's visible tokens; the
  common decoder is one decoder whose output holds the patches of both sensors (S2 channels, then S1),
  so one pass gives the uni-modal and the cross-modal reconstruction;
* ``masking``: ``random`` (positions drawn independently per sensor), ``same`` (S1 hides the positions
  S2 hides) or ``complementary`` (S1 shows exactly what S2 hides);
* losses: ``uni`` (masked patches of the same sensor, MAE), ``cross`` (all patches of the other sensor
  from one sensor's visible tokens) and ``contrastive`` (symmetric InfoNCE between the projected mean
  tokens of the S2 and S1 views of the same location, in-batch negatives); a term whose weight is 0 is
  not computed. ``norm_pix``: targets normalised per patch (mean 0, variance 1 over the patch's pixels and
  channels of one sensor), as MAE's ``norm_pix_loss``.

Input tensors are the worldclass-normalised patches (B, C, 120, 120); targets are those values.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worldclass.compat import ensure_torchvision_importable
from worldclass.models.registry import register_model

SENSORS = ("s2", "s1")
#: variant -> (encoder type, decoder type).
VARIANTS = {
    "cecd": ("common", "common"),
    "cesd": ("common", "specific"),
    "secd": ("specific", "common"),
    "sesd": ("specific", "specific"),
}
MASKINGS = ("random", "same", "complementary")
TERMS = ("uni", "cross", "contrastive")


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
    ``pooled`` (mean encoder token). Parameter names of the default variant are those of earlier
    worldclass checkpoints (``blocks``/``norm``: the common or the S2 encoder; ``s1_blocks``/``s1_norm``:
    the S1 encoder of ``se*`` variants; ``decoders.s2``/``s1`` or ``decoders.common``)."""

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
        variant: str = "cesd",
        masking: str = "random",
        norm_pix: bool = False,
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"patch_size {patch_size} must divide the image size {image_size}")
        if variant not in VARIANTS or masking not in MASKINGS:
            raise ValueError(
                f"variant {variant!r} / masking {masking!r}: use {list(VARIANTS)} / {list(MASKINGS)}"
            )
        self.patch, self.grid = patch_size, image_size // patch_size
        self.tokens = self.grid**2
        self.mask_ratio, self.variant, self.masking, self.norm_pix = mask_ratio, variant, masking, norm_pix
        self.encoder_type, self.decoder_type = VARIANTS[variant]
        self.channels = {"s2": s2_bands, "s1": s1_bands}
        self.embed_patches = nn.ModuleDict(
            {s: nn.Conv2d(c, dim, patch_size, patch_size) for s, c in self.channels.items()}
        )
        self.sensor_embedding = nn.ParameterDict({s: nn.Parameter(torch.zeros(1, 1, dim)) for s in SENSORS})
        self.register_buffer("pos", sincos_2d(self.grid, dim), persistent=False)
        self.blocks = _blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim)
        if self.encoder_type == "specific":
            self.s1_blocks = _blocks(dim, depth, heads)
            self.s1_norm = nn.LayerNorm(dim)
        outputs = {s: patch_size * patch_size * c for s, c in self.channels.items()}
        if self.decoder_type == "common":
            outputs = {"common": patch_size * patch_size * (s2_bands + s1_bands)}
        self.decoders = nn.ModuleDict(
            {
                s: Decoder(
                    dim, decoder_dim, decoder_depth, max(1, decoder_dim // 64), self.tokens, self.grid, n
                )
                for s, n in outputs.items()
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
        own = self.encoder_type == "specific" and sensor == "s1"
        for b in self.s1_blocks if own else self.blocks:
            t = b(t)
        return (self.s1_norm if own else self.norm)(t)  # type: ignore[no-any-return]

    def embed(self, x: torch.Tensor, sensor: str, layer: str = "projection") -> torch.Tensor:
        """(B, C_sensor, H, W) -> (B, proj_dim) (``projection``) or (B, dim) (``pooled``)."""
        pooled = self.encode(x, sensor).mean(1)
        return self.projection(pooled) if layer == "projection" else pooled

    def reconstruct(self, latent: torch.Tensor, keep: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Both sensors' patches (B, N, patch*patch*C_sensor) from one sensor's visible tokens."""
        if self.decoder_type == "specific":
            return {t: self.decoders[t](latent, keep) for t in SENSORS}
        out = self.decoders["common"](latent, keep)
        b, n, _ = out.shape
        out = out.reshape(b, n, self.patch * self.patch, -1)
        c2 = self.channels["s2"]
        return {"s2": out[..., :c2].reshape(b, n, -1), "s1": out[..., c2:].reshape(b, n, -1)}

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction target of one sensor's input: its patches, normalised per patch with ``norm_pix``."""
        t = self.patchify(x)
        if self.norm_pix:
            t = (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + 1e-6).sqrt()
        return t

    def masks(self, b: int, device: torch.device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per sensor (visible token indices (B, n) sorted, hidden map (B, N) with 1 = hidden) by ``masking``."""
        n_keep = max(1, round(self.tokens * (1 - self.mask_ratio)))

        def draw() -> tuple[torch.Tensor, torch.Tensor]:
            keep = torch.rand(b, self.tokens, device=device).argsort(1)[:, :n_keep].sort(1).values
            hidden = torch.ones(b, self.tokens, device=device)
            hidden.scatter_(1, keep, 0.0)
            return keep, hidden

        s2 = draw()
        if self.masking == "random":
            return {"s2": s2, "s1": draw()}
        if self.masking == "same":
            return {"s2": s2, "s1": s2}
        hidden_first = torch.sort(s2[1], dim=1, descending=True, stable=True).indices
        keep1 = hidden_first[:, : self.tokens - n_keep].sort(1).values
        return {"s2": s2, "s1": (keep1, 1.0 - s2[1])}

    def losses(
        self,
        s2: torch.Tensor,
        s1: torch.Tensor,
        temperature: float = 0.1,
        weights: dict[str, float] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Loss terms for a batch of paired patches: ``uni``, ``cross``, ``contrastive`` (a term whose weight
        in ``weights`` is 0 is left at 0 and not computed)."""
        need = {t for t in TERMS if weights is None or weights.get(t, 1.0) != 0}
        inputs = {"s2": s2, "s1": s1}
        targets = {s: self.target(v) for s, v in inputs.items()}
        uni = cross = con = s2.new_zeros(())
        pooled = {}
        for s, (keep, hidden) in self.masks(s2.shape[0], s2.device).items():
            latent = self.encode(inputs[s], s, keep)
            pooled[s] = F.normalize(self.projection(latent.mean(1)), dim=-1)
            if not need & {"uni", "cross"}:
                continue
            for t, rec in self.reconstruct(latent, keep).items():
                err = (rec - targets[t]).pow(2).mean(-1)
                if t == s and "uni" in need:
                    uni = uni + (err * hidden).sum() / hidden.sum() / len(SENSORS)
                elif t != s and "cross" in need:
                    cross = cross + err.mean() / len(SENSORS)
        if "contrastive" in need:
            logits = pooled["s2"] @ pooled["s1"].T / temperature
            labels = torch.arange(len(logits), device=logits.device)
            con = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        return {"uni": uni, "cross": cross, "contrastive": con}


@register_model("csmae")
def csmae(**kwargs: Any) -> CrossSensorMAE:
    """Registry builder of :class:`CrossSensorMAE` (keyword arguments as its constructor)."""
    return CrossSensorMAE(**kwargs)
