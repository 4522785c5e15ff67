"""ANNEAL pair mode: deep metric learning from answered image pairs, and which pairs to ask next.

After Hoxha et al., "Annotation cost-efficient active learning for deep metric learning driven remote
sensing image retrieval" (arXiv 2406.10107; IGARSS 2023 arXiv 2306.11605). The annotator answers
similar / dissimilar for a pair instead of assigning land-cover labels.

* :class:`MetricModel`: ``z = normalise(x + g(x))`` on frozen (N, D) embeddings, ``g`` an MLP whose last
  layer starts at zero (so round 0 ranks like the raw embeddings); contrastive loss on answered pairs:
  ``d^2`` for similar, ``max(0, margin - d)^2`` for dissimilar, ``d`` the Euclidean distance of unit vectors.
* :func:`threshold`: the distance separating similar from dissimilar answered pairs (best balanced accuracy).
* Uncertainty: ``mgue`` (metric-guided): ``-|d - t|``; ``bcgue`` (binary-classifier-guided): a classifier on
  the pair representation ``[|z_a - z_b|, z_a * z_b]`` trained on the answered pairs, ``1 - |2p - 1|``.
* Diversity (``+kmeans``): k-means on the pair representations of the ``pre_factor * k`` most uncertain
  pairs, the most uncertain pair of each cluster (ANNEAL's clustering-based selection).
* Candidates: each anchor's ``neighbours`` nearest pool images in the current metric space (unordered,
  without self-pairs and pairs already answered).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from worldclass.errors import ConfigError
from worldclass.training.active.learners import HeadSettings, train_steps
from worldclass.training.active.strategies import kmeans, top

PAIR_STRATEGIES = ("random", "mgue", "bcgue", "mgue+kmeans", "bcgue+kmeans")


class Residual(nn.Module):
    """x + MLP(x), the MLP's last layer zero at start."""

    def __init__(self, dim: int, s: HeadSettings) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(dim, s.hidden), nn.ReLU(), nn.Dropout(s.dropout), nn.Linear(s.hidden, dim)
        )
        last = self.mlp[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(x + self.mlp(x), dim=-1)


def contrastive(za: torch.Tensor, zb: torch.Tensor, sim: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean contrastive loss of unit vectors (P, E) with answers ``sim`` (P,) in {0, 1}."""
    d = (za - zb).pow(2).sum(-1).clamp_min(1e-12).sqrt()
    return (sim * d.pow(2) + (1 - sim) * torch.relu(margin - d).pow(2)).mean()


def pair_repr(z: npt.NDArray[np.float32], pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """(P, 2E) pair representation ``[|z_a - z_b|, z_a * z_b]`` (symmetric in a, b)."""
    a, b = z[pairs[:, 0]], z[pairs[:, 1]]
    return np.concatenate([np.abs(a - b), a * b], 1).astype(np.float32)


def distances(z: npt.NDArray[np.float32], pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = np.linalg.norm(z[pairs[:, 0]] - z[pairs[:, 1]], axis=1).astype(np.float32)
    return out


def threshold(d: npt.ArrayLike, similar: npt.ArrayLike) -> float:
    """Distance t with ``d < t`` -> similar that maximises balanced accuracy on answered pairs (midpoint
    between neighbouring distances); with one answer class only, the median distance."""
    d = np.asarray(d, np.float64)
    s = np.asarray(similar, bool)
    if s.all() or not s.any():
        return float(np.median(d)) if len(d) else 1.0
    order = np.argsort(d, kind="stable")
    ds, ss = d[order], s[order]
    tp = np.concatenate([[0], np.cumsum(ss)])  # similar pairs below cut i
    tn = (~ss).sum() - np.concatenate([[0], np.cumsum(~ss)])  # dissimilar pairs at/after cut i
    bacc = tp / s.sum() + tn / (~s).sum()
    i = int(np.argmax(bacc))
    if i == 0:
        return float(ds[0])
    if i == len(ds):
        return float(ds[-1]) + 1e-6
    return float((ds[i - 1] + ds[i]) / 2)


class MetricModel:
    """Metric space on frozen embeddings, trained from answered pairs; plus the pair classifier (BCGUE)."""

    def __init__(self, dim: int, settings: HeadSettings | None = None, margin: float = 0.8) -> None:
        self.s = settings or HeadSettings()
        self.dim, self.margin = dim, margin
        self.net = Residual(dim, self.s)
        self.clf = nn.Sequential(nn.Linear(2 * dim, 64), nn.ReLU(), nn.Linear(64, 1))
        self.t = 1.0

    def fit(self, x: npt.ArrayLike, pairs: npt.ArrayLike, similar: npt.ArrayLike, seed: int) -> None:
        """Refit from scratch on (P, 2) pool-row pairs with answers ``similar`` (P,)."""
        torch.manual_seed(seed)
        self.net = Residual(self.dim, self.s)
        self.clf = nn.Sequential(nn.Linear(2 * self.dim, 64), nn.ReLU(), nn.Linear(64, 1))
        xt = torch.as_tensor(np.asarray(x, np.float32))
        p = torch.as_tensor(np.asarray(pairs, np.int64))
        y = torch.as_tensor(np.asarray(similar, np.float32))
        if len(p):
            gen = torch.Generator().manual_seed(seed)
            a, b = xt[p[:, 0]], xt[p[:, 1]]
            train_steps(
                self.net,
                lambda net, u, v, w: contrastive(net(u), net(v), w, self.margin),
                len(p),
                self.s,
                gen,
                a,
                b,
                y,
            )
            self.net.eval()
            z = self.embed(x)
            pn = p.numpy()
            self.t = threshold(distances(z, pn), similar)
            r = torch.from_numpy(pair_repr(z, pn))
            bce = nn.BCEWithLogitsLoss()
            train_steps(self.clf, lambda net, u, w: bce(net(u)[:, 0], w), len(p), self.s, gen, r, y)
        self.net.eval()
        self.clf.eval()

    @torch.no_grad()
    def embed(self, x: npt.ArrayLike, chunk: int = 65536) -> npt.NDArray[np.float32]:
        """(N, D) unit vectors in the learned metric space."""
        self.net.eval()
        a = np.asarray(x, np.float32)
        parts = [self.net(torch.from_numpy(a[i : i + chunk])) for i in range(0, len(a), chunk)]
        return torch.cat(parts).numpy() if parts else np.zeros((0, self.dim), np.float32)

    @torch.no_grad()
    def pair_probability(
        self, z: npt.NDArray[np.float32], pairs: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """(P,) probability that each pair is similar, from the pair classifier."""
        self.clf.eval()
        out: npt.NDArray[np.float32] = torch.sigmoid(
            self.clf(torch.from_numpy(pair_repr(z, pairs)))[:, 0]
        ).numpy()
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "metric", "net": self.net.state_dict(), "clf": self.clf.state_dict(), "t": self.t}


def candidate_pairs(
    z: npt.NDArray[np.float32],
    anchors: npt.NDArray[np.int64],
    neighbours: int,
    answered: set[tuple[int, int]],
) -> npt.NDArray[np.int64]:
    """(P, 2) unordered pool-row pairs (a < b): each anchor with its ``neighbours`` nearest rows by cosine
    (exact inner-product search, faiss), minus self-pairs and ``answered`` pairs; sorted, unique."""
    import faiss

    index = faiss.IndexFlatIP(z.shape[1])
    index.add(np.ascontiguousarray(z, np.float32))
    _, nn_idx = index.search(np.ascontiguousarray(z[anchors], np.float32), neighbours + 1)
    a = np.repeat(anchors, nn_idx.shape[1])
    b = nn_idx.reshape(-1).astype(np.int64)
    keep = (b >= 0) & (a != b)
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    pairs = np.unique(np.stack([lo, hi], 1), axis=0)
    if answered and len(pairs):
        done = np.array(sorted(answered), np.int64).reshape(-1, 2)
        key = pairs[:, 0] * (len(z) + 1) + pairs[:, 1]
        pairs = pairs[~np.isin(key, done[:, 0] * (len(z) + 1) + done[:, 1])]
    return pairs.astype(np.int64)


def select_pairs(
    strategy: str,
    k: int,
    model: MetricModel,
    z: npt.NDArray[np.float32],
    candidates: npt.NDArray[np.int64],
    seed: int,
    pre_factor: int = 5,
) -> npt.NDArray[np.int64]:
    """Rows of ``candidates`` to ask next, best first (at most ``k``)."""
    if strategy not in PAIR_STRATEGIES:
        raise ConfigError(f"pair strategy {strategy!r}: choose one of {', '.join(PAIR_STRATEGIES)}")
    n = len(candidates)
    k = min(k, n)
    if strategy == "random":
        return np.random.default_rng(seed).permutation(n)[:k].astype(np.int64)
    unc, _, div = strategy.partition("+")
    if unc == "mgue":
        score = -np.abs(distances(z, candidates) - model.t).astype(np.float64)
    else:
        score = (1.0 - np.abs(2.0 * model.pair_probability(z, candidates) - 1.0)).astype(np.float64)
    if not div:
        return top(score, k)
    cand = top(score, min(n, pre_factor * k))
    return cand[kmeans(pair_repr(z, candidates[cand]), k, seed, score[cand])]
