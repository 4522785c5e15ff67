"""Self-supervised cross-modal retrieval between S1 and S2 (SS-CM-RSIR).

After Sumbul, Müller, Demir, "A novel self-supervised cross-modal image retrieval method in remote
sensing", ICIP 2022 (our own implementation from the paper's description, not their code): one encoder
per modality (a timm backbone with ``in_chans`` = that modality's bands: S2 and S1 differ too much for
shared weights) and a projection head each into one shared space (``proj_dim``). Three losses on a
batch of co-located pairs, projections L2-normalised:

* :func:`mutual_information_nce`: inter-modal mutual-information maximisation through its InfoNCE bound
  (``I(z2; z1) >= log B - loss``): the two modalities of a location against the other locations;
* :func:`angular_distance`: the mean angle (radians) between the two modalities of each location,
  minimised to remove the inter-modal discrepancy that InfoNCE's relative ranking leaves;
* :func:`intra_modal_similarity`: within each modality, ``1 - cos`` to each image's ``k`` most similar
  other images of the batch (neighbours chosen without gradient), raised towards 1 so that similar
  scenes cluster within a modality too.

``embed(x, sensor, layer)``: ``projection`` (the shared space) or ``pooled`` (the modality's encoder
output) of S2 (B, C_s2, H, W) or S1 (B, C_s1, H, W) worldclass-normalised patches.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worldclass.models.registry import register_model

SENSORS = ("s2", "s1")


def mutual_information_nce(z2: torch.Tensor, z1: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE of (B, D) L2-normalised embeddings whose row i of each is the same location."""
    logits = z2 @ z1.T / temperature
    target = torch.arange(len(z2), device=z2.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def angular_distance(z2: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """Mean angle in radians (0..pi) between rows of two (B, D) L2-normalised embeddings."""
    cos = (z2 * z1).sum(1).clamp(-1 + 1e-6, 1 - 1e-6)
    return torch.acos(cos).mean()


def intra_modal_similarity(z: torch.Tensor, k: int) -> torch.Tensor:
    """Mean ``1 - cos`` between each row of (B, D) L2-normalised ``z`` and its ``k`` most similar other
    rows (neighbours found without gradient; k is capped at B - 1)."""
    sim = z @ z.T
    k = max(1, min(k, len(z) - 1))
    with torch.no_grad():
        own = torch.eye(len(z), dtype=torch.bool, device=z.device)
        nearest = sim.masked_fill(own, -math.inf).topk(k, dim=1).indices
    return (1 - sim.gather(1, nearest)).mean()


def _head(features: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True), nn.Linear(hidden, out)
    )


class CrossModalNet(nn.Module):
    """One timm encoder and one projection head per modality (see module docstring)."""

    embedding_layers = ("projection", "pooled")

    def __init__(
        self, backbone: str, s2_bands: int, s1_bands: int = 2, proj_dim: int = 128, hidden_dim: int = 512
    ) -> None:
        super().__init__()
        from worldclass.models.ssl import timm_encoder

        self.channels = {"s2": s2_bands, "s1": s1_bands}
        self.encoders = nn.ModuleDict({s: timm_encoder(backbone, c) for s, c in self.channels.items()})
        features = {s: int(e.num_features) for s, e in self.encoders.items()}  # type: ignore[arg-type]
        self.heads = nn.ModuleDict({s: _head(features[s], hidden_dim, proj_dim) for s in SENSORS})

    def embed(self, x: torch.Tensor, sensor: str, layer: str = "projection") -> torch.Tensor:
        """(B, C_sensor, H, W) -> (B, proj_dim) (``projection``) or (B, features) (``pooled``)."""
        pooled: torch.Tensor = self.encoders[sensor](x)
        return self.heads[sensor](pooled) if layer == "projection" else pooled

    def losses(
        self, s2: torch.Tensor, s1: torch.Tensor, *, temperature: float = 0.2, neighbours: int = 1
    ) -> dict[str, torch.Tensor]:
        """``mi`` (InfoNCE), ``angle`` (radians), ``intra`` (both modalities averaged) of a batch of pairs."""
        z2 = F.normalize(self.embed(s2, "s2"), dim=1)
        z1 = F.normalize(self.embed(s1, "s1"), dim=1)
        return {
            "mi": mutual_information_nce(z2, z1, temperature),
            "angle": angular_distance(z2, z1),
            "intra": (intra_modal_similarity(z2, neighbours) + intra_modal_similarity(z1, neighbours)) / 2,
        }


@register_model("crossmodal")
def crossmodal(**kwargs: Any) -> CrossModalNet:
    """Registry builder of :class:`CrossModalNet` (keyword arguments as its constructor)."""
    return CrossModalNet(**kwargs)
