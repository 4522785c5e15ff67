"""A supervised variational branch on image features, for label-noise robust training (SVAE / GRID style).

``GenerativeBranch(feature_dim, num_classes, latent_dim)`` takes pooled features ``f`` (B, D) of any
backbone: an encoder gives ``mu, log_var`` (B, latent_dim), ``z`` is sampled (the mean in eval mode), a
decoder reconstructs the features (MSE against the *detached* features, so the branch cannot pull the
backbone towards easy-to-reconstruct features) and a linear head classifies ``z`` (B, num_classes). Its
per-sample losses (reconstruction, KL to N(0, I)) come back with the logits; the task adds its own
classification loss of those logits. The branch is trained with the task and is not part of the saved
model (checkpoints keep ``model.*`` only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class GenerativeOutput:
    """``logits`` (B, num_classes) of the latent head; ``reconstruction`` and ``kl`` (B,) per sample
    (mean over feature / latent dimensions)."""

    logits: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


class GenerativeBranch(nn.Module):
    def __init__(self, feature_dim: int, num_classes: int, latent_dim: int = 128) -> None:
        super().__init__()
        hidden = max(latent_dim, min(feature_dim, 512))
        self.encoder = nn.Sequential(
            nn.Linear(feature_dim, hidden), nn.GELU(), nn.Linear(hidden, 2 * latent_dim)
        )
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.GELU(), nn.Linear(hidden, feature_dim))
        self.head = nn.Linear(latent_dim, num_classes)

    def forward(self, features: torch.Tensor) -> GenerativeOutput:
        """``features`` (B, feature_dim) -> :class:`GenerativeOutput`."""
        f = features.float()
        mu, log_var = self.encoder(f).chunk(2, dim=1)
        log_var = log_var.clamp(-10, 10)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var) if self.training else mu
        recon = (self.decoder(z) - f.detach()).pow(2).mean(1)
        kl = 0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var).mean(1)
        return GenerativeOutput(self.head(z), recon, kl)
