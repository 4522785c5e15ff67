"""Deep hashing head: float embeddings (N, D) -> compact binary codes (N, bits/8 bytes) for Hamming search.

``h = tanh(sqrt(D) * (W x + MLP(x)))``: ``W`` starts as a random-hyperplane projection (SimHash, whose
sign codes already approximate the angle between vectors) and the residual MLP ``D -> hidden -> bits``
starts at zero; both are trained on the embedding set itself with three losses in the spirit of RSiM's
joint compression + hashing work (SCI-CBIR):

* pairwise similarity: ``<h_i, h_j> / bits`` should equal a target similarity ``s_ij`` in [-1, 1]; the
  target is ``1 - 2·angle(x_i, x_j)/π`` of the float embeddings (``supervision="embedding"``,
  unsupervised: the codes compress what the encoder learned; it is the expected code similarity of
  SimHash) or ``2 * Jaccard(Y_i, Y_j) - 1`` of the labels (``"labels"``);
* quantisation: ``(|h| - 1)^2`` pulls outputs to ±1 so the sign loses little;
* bit balance: the batch mean of every bit should be 0 (each bit splits the archive in half).

Codes are ``sign(h) > 0`` packed MSB-first with :func:`numpy.packbits` (faiss binary index layout).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from worldclass.errors import ConfigError


@dataclass
class HashConfig:
    dim: int
    bits: int = 64
    hidden: int = 512
    supervision: str = "embedding"  # embedding | labels
    steps: int = 600
    batch_size: int = 256
    lr: float = 1e-3
    quantization_weight: float = 0.1
    balance_weight: float = 0.1
    seed: int = 0


class HashHead(nn.Module):
    """(B, dim) float -> (B, bits) in (-1, 1)."""

    def __init__(self, cfg: HashConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.proj = nn.Linear(cfg.dim, cfg.bits, bias=False)
        last = nn.Linear(cfg.hidden, cfg.bits)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, cfg.hidden), nn.ReLU(), last)
        with torch.no_grad():
            w = torch.randn(cfg.bits, cfg.dim, generator=torch.Generator().manual_seed(cfg.seed))
            self.proj.weight.copy_(w / w.norm(dim=1, keepdim=True))
            last.weight.zero_()
            last.bias.zero_()
        self.scale = float(cfg.dim) ** 0.5

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.scale * (self.proj(x) + self.mlp(x))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.logits(x))

    def codes(self, vectors: npt.ArrayLike, batch: int = 65536) -> npt.NDArray[np.uint8]:
        """Packed binary codes (N, bits // 8) uint8."""
        v = np.asarray(vectors, dtype=np.float32)
        out = np.empty((len(v), self.cfg.bits // 8), np.uint8)
        self.eval()
        with torch.inference_mode():
            for i in range(0, len(v), batch):
                h = self.logits(torch.from_numpy(np.ascontiguousarray(v[i : i + batch]))).numpy()
                out[i : i + batch] = np.packbits(h > 0, axis=1)
        return out

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        save_file(
            {k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / "hash_head.safetensors")
        )
        (folder / "hash_head.json").write_text(json.dumps(asdict(self.cfg)))

    @classmethod
    def load(cls, folder: Path) -> HashHead:
        from safetensors.torch import load_file

        head = cls(HashConfig(**json.loads((folder / "hash_head.json").read_text())))
        head.load_state_dict(load_file(str(folder / "hash_head.safetensors")))
        return head.eval()


def _targets(v: torch.Tensor, y: torch.Tensor | None, supervision: str) -> torch.Tensor:
    if supervision == "labels":
        assert y is not None
        inter = y @ y.T
        union = y.sum(1, keepdim=True) + y.sum(1) - inter
        return 2 * torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(inter)) - 1
    return 1 - 2 * torch.arccos((v @ v.T).clamp(-1, 1)) / torch.pi


def train_hash_head(
    vectors: npt.ArrayLike, cfg: HashConfig, labels: npt.ArrayLike | None = None
) -> tuple[HashHead, dict[str, Any]]:
    """Train a head on (N, dim) L2-normalised vectors (and (N, C) labels for ``supervision="labels"``).

    Returns the head (eval mode) and a log with the final loss terms."""
    if cfg.bits % 8 or not 8 <= cfg.bits <= 1024:
        raise ConfigError(f"--bits {cfg.bits}: use a multiple of 8 between 8 and 1024")
    if cfg.supervision not in ("embedding", "labels"):
        raise ConfigError(f"hash supervision {cfg.supervision!r}: choose embedding or labels")
    v_all = torch.from_numpy(np.ascontiguousarray(np.asarray(vectors, dtype=np.float32)))
    y_all = None
    if cfg.supervision == "labels":
        if labels is None or not np.asarray(labels).any():
            raise ConfigError(
                "hash supervision 'labels' needs labelled embeddings; use --hash-supervision embedding"
            )
        y_all = torch.from_numpy(np.asarray(labels, dtype=np.float32))
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    head = HashHead(cfg)
    opt = torch.optim.Adam(head.parameters(), lr=cfg.lr)
    n = len(v_all)
    terms = {"similarity": 0.0, "quantization": 0.0, "balance": 0.0}
    head.train()
    for _ in range(cfg.steps):
        idx = torch.randint(0, n, (min(cfg.batch_size, n),), generator=gen)
        v = v_all[idx]
        h = head(v)
        target = _targets(v, y_all[idx] if y_all is not None else None, cfg.supervision)
        sim = ((h @ h.T) / cfg.bits - target).pow(2).mean()
        quant = (h.abs() - 1).pow(2).mean()
        balance = h.mean(0).pow(2).mean()
        loss = sim + cfg.quantization_weight * quant + cfg.balance_weight * balance
        opt.zero_grad()
        loss.backward()
        opt.step()
        terms = {"similarity": sim.item(), "quantization": quant.item(), "balance": balance.item()}
    return head.eval(), terms
