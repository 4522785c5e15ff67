"""Patch-level regression (e.g. the forest fraction of a patch) with few labels: supervised, or DML-S2R.

**DML-S2R** (after Zell, Sumbul, Demir, "Deep metric learning-based semi-supervised regression with
alternate learning", ICIP 2022; our implementation from the paper's description, not their code):

1. a Siamese head ``siamese([e_i, e_j])`` learns the target difference ``y_i - y_j`` on labelled pairs
   (:func:`difference_loss`, all ordered pairs of a labelled batch);
2. triplet metric learning over labelled and unlabelled patches (:func:`decided_triplet_loss`): for each
   anchor two other patches are drawn, the one with the smaller predicted ``|y_a - y_c|`` (true
   difference for labelled pairs, the Siamese head's otherwise) is the positive;
3. the two are trained alternately (even steps 1, odd steps 2), end to end through the encoder;
4. prediction by regression in the learned space: the distance-weighted mean target of the ``neighbours``
   nearest labelled patches (:func:`knn_regression`; their embeddings and targets are kept in the
   model, ``bank_embedding`` / ``bank_target``, refreshed before every validation and saved with it).

**Supervised**: the same encoder and embedding with a linear head, MSE on the labelled patches only.
Inputs: worldclass-normalised patches (B, C, H, W); targets (B, T) shares in [0, 1].
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worldclass.models.registry import register_model

METHODS = ("supervised", "dml-s2r")


def difference_loss(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MSE between predicted differences ``pred`` (B, B, T) [i, j] and ``y_i - y_j`` over the ordered pairs
    i != j (NaN targets left out)."""
    diff = y[:, None] - y[None]
    own = torch.eye(len(y), dtype=torch.bool, device=y.device)[..., None].expand_as(diff)
    keep = ~own & ~diff.isnan()
    return ((pred - diff.nan_to_num()) ** 2)[keep].mean() if keep.any() else pred.sum() * 0


def decided_triplet_loss(
    emb: torch.Tensor, difference: torch.Tensor, candidates: torch.Tensor, margin: float
) -> torch.Tensor:
    """Triplet loss on L2-normalised ``emb`` (N, D): anchors ``arange(N)``, ``candidates`` (N, 2) other
    rows; ``difference`` (N, N) the (predicted or true) target distance deciding which candidate is the
    positive (the smaller) and which the negative. ``max(0, d(a, p) - d(a, n) + margin)``, Euclidean."""
    a = torch.arange(len(emb), device=emb.device)
    c0, c1 = candidates[:, 0], candidates[:, 1]
    first_closer = difference[a, c0] <= difference[a, c1]
    pos = torch.where(first_closer, c0, c1)
    neg = torch.where(first_closer, c1, c0)
    d_pos = (emb - emb[pos]).norm(dim=1)
    d_neg = (emb - emb[neg]).norm(dim=1)
    return F.relu(d_pos - d_neg + margin).mean()


def knn_regression(query: torch.Tensor, bank: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """(Q, D) embeddings -> (Q, T): inverse-distance-weighted mean of the targets of the ``k`` nearest of
    the (N, D) ``bank`` (an exact match takes its own target)."""
    d = torch.cdist(query, bank)
    k = min(k, len(bank))
    dist, idx = d.topk(k, dim=1, largest=False)
    w = 1.0 / dist.clamp(min=1e-8)
    exact = dist <= 1e-8
    w = torch.where(exact.any(1, keepdim=True), exact.float(), w)
    return (w[..., None] * targets[idx]).sum(1) / w.sum(1, keepdim=True)


class RegressionNet(nn.Module):
    """timm ``backbone`` -> embedding (``embed_dim``, L2-normalised for DML-S2R) -> ``targets`` outputs."""

    embedding_layers = ("embedding", "pooled")

    def __init__(
        self,
        backbone: str,
        in_chans: int,
        targets: int,
        *,
        embed_dim: int = 128,
        method: str = "supervised",
        neighbours: int = 5,
    ) -> None:
        super().__init__()
        from worldclass.models.ssl import timm_encoder

        if method not in METHODS:
            raise ValueError(f"method {method!r}: use {list(METHODS)}")
        self.method, self.neighbours = method, neighbours
        self.encoder = timm_encoder(backbone, in_chans)
        self.embedding = nn.Linear(int(self.encoder.num_features), embed_dim)  # type: ignore[arg-type]
        self.head = nn.Linear(embed_dim, targets)
        if method == "dml-s2r":
            self.siamese = nn.Sequential(
                nn.Linear(2 * embed_dim, embed_dim), nn.ReLU(True), nn.Linear(embed_dim, targets)
            )
        self.register_buffer("bank_embedding", torch.zeros(0, embed_dim))
        self.register_buffer("bank_target", torch.zeros(0, targets))

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        for name in ("bank_embedding", "bank_target"):  # the bank's size is known only from the checkpoint
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def bank(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The labelled neighbours' (N, embed_dim) embeddings and (N, T) targets."""
        emb: Any = self.bank_embedding
        targets: Any = self.bank_target
        return emb, targets

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, embed_dim) embedding (L2-normalised for DML-S2R)."""
        e = self.embedding(self.encoder(x))
        return F.normalize(e, dim=1) if self.method == "dml-s2r" else e

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, T) predicted targets (DML-S2R: k-NN over the bank, the head while it is empty)."""
        e = self.features(x)
        bank, targets = self.bank()
        if self.method == "dml-s2r" and len(bank):
            return knn_regression(e, bank, targets, self.neighbours)
        out: torch.Tensor = self.head(e)
        return out

    def pair_differences(self, e: torch.Tensor) -> torch.Tensor:
        """(B, D) embeddings -> (B, B, T) predicted ``y_i - y_j`` of every ordered pair."""
        b = len(e)
        pairs = torch.cat([e[:, None].expand(b, b, -1), e[None].expand(b, b, -1)], dim=2)
        out: torch.Tensor = self.siamese(pairs)
        return out

    def embed(self, x: torch.Tensor, sensor: str = "", layer: str = "embedding") -> torch.Tensor:
        return self.features(x) if layer == "embedding" else self.encoder(x)


@register_model("regression")
def regression(**kwargs: Any) -> RegressionNet:
    """Registry builder of :class:`RegressionNet` (keyword arguments as its constructor)."""
    return RegressionNet(**kwargs)
