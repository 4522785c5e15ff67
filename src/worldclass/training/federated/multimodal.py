"""Multi-modal federated learning (after MM-FL, Büyüktaş, Sumbul, Demir): clients hold S2 only, S1 only or
both, and still train one late-fusion model together.

The model is the classification task's late-fusion :class:`~worldclass.models.classifier.SceneClassifier`
(``model.fusion: late``, ``data.sensors: [s2, s1]``): an S2 encoder, an S1 encoder, a head on their
concatenated pooled features. A client:

- runs only the encoders of the modalities it holds; the features of a missing modality are zeros (its
  encoder is neither run nor trained, and its pixels are never read into the model);
- sends up only what it trained (its encoders and the head), so the server averages each encoder over the
  clients that hold its modality and the head over all (iterative model averaging per part);
- with both modalities adds ``mu`` x a symmetric InfoNCE term (temperature ``tau``) between the S2 and S1
  features of the same patches: a lower bound on their mutual information, pulling the two encoders'
  views of one place together.

- with ``whiten`` (``federated.whiten``): each modality's pooled features are whitened with the
  client's own running statistics before the head, ``(f - m_c) S_c^-1/2`` (ZCA; ``m_c``, ``S_c``: the
  client's exponential running mean and covariance of that modality's features, never sent), so the
  shared head sees features of the same first and second moments on every client whatever its country
  or sensor gains. The whitening is affine, so it folds exactly into the linear head: the model a
  client or the server evaluates (and the checkpoint) is a plain late-fusion classifier; the server
  folds the example-weighted mixture of the clients' statistics.

The plain baseline on the same clients (any other algorithm with ``federated.modalities`` set) runs the
same model the same way (a missing modality's features are zeros) but exchanges and averages every
weight over every client, so an encoder's update is diluted by the clients that cannot train it. (Zero
pixels instead of zero features are not a usable baseline: BatchNorm layers of an encoder fed a
constant input give NaN gradients at the first step.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from worldclass.errors import ConfigError
from worldclass.models.classifier import pooled_width
from worldclass.training.federated.algorithms import Algorithm, State, Upload, weighted_mean

MODALITIES = ("s2", "s1", "both")


def assign_modalities(clients: list[str], spec: str | None) -> dict[str, str]:
    """Modality of each client: ``spec`` ``NAME=s2|s1|both,...`` (unnamed clients: both), or
    ``cycle`` / None: s2, s1, both in turn over the sorted client names."""
    names = sorted(clients)
    if spec in (None, "", "cycle"):
        return {n: MODALITIES[i % 3] for i, n in enumerate(names)}
    out = dict.fromkeys(names, "both")
    for part in str(spec).split(","):
        name, _, mod = part.partition("=")
        if name not in out or mod not in MODALITIES:
            raise ConfigError(
                f"federated.modalities {part!r}: use CLIENT=s2|s1|both with clients {names} (or 'cycle')"
            )
        out[name] = mod
    return out


def late_forward(
    model: nn.Module,
    x: torch.Tensor,
    modality: str,
    transform: Callable[[torch.Tensor, str], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(f2, f1, features, logits)`` of the late-fusion ``model`` on ``x`` (B, C_s2 + C_s1, H, W) for a
    client holding ``modality`` (s2 | s1 | both): only the held encoders run; a missing modality's
    pooled features are zeros (its pixels are never read); ``transform(f, "s2"|"s1")`` is applied to the
    features of each held modality before the head."""
    net: Any = model.net
    k = int(net.s1_channels)
    f2 = net.s2(x[:, :-k]) if modality in ("s2", "both") else None
    f1 = net.s1(x[:, -k:]) if modality in ("s1", "both") else None
    if transform is not None:
        f2 = transform(f2, "s2") if f2 is not None else None
        f1 = transform(f1, "s1") if f1 is not None else None
    ref = f2 if f2 is not None else f1
    assert ref is not None
    f2 = f2 if f2 is not None else ref.new_zeros(len(x), pooled_width(net.s2))
    f1 = f1 if f1 is not None else ref.new_zeros(len(x), pooled_width(net.s1))
    feats = torch.cat([f2, f1], 1)
    return f2, f1, feats, net.head(feats)


def info_nce(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """Symmetric InfoNCE between paired rows of ``a`` and ``b`` (B, D): the matching row is the positive,
    the other rows of the batch the negatives."""
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = a @ b.T / tau
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


class MultiModal(Algorithm):
    name: ClassVar[str] = "mmfl"

    def __init__(
        self,
        mu: float = 0.1,
        tau: float = 0.5,
        *,
        whiten: bool = False,
        momentum: float = 0.1,
        eps: float = 1e-3,
    ) -> None:
        self.mu, self.tau = mu, tau
        self.whiten, self.stat_momentum, self.eps = whiten, momentum, eps

    def setup(self, model: nn.Module, num_clients: int) -> None:
        super().setup(model, num_clients)
        net: Any = getattr(model, "net", None)
        if net is None or not hasattr(net, "s1_channels"):
            raise ConfigError("federated.algorithm mmfl needs model.fusion late with data.sensors [s2, s1]")
        keys = list(model.state_dict())
        self.branch = {m: {k for k in keys if k.startswith(f"net.{m}.")} for m in ("s2", "s1")}
        self.widths = {"s2": pooled_width(net.s2), "s1": pooled_width(net.s1)}

    def _whitened(self, f: torch.Tensor, modality: str, client: dict[str, Any], train: bool) -> torch.Tensor:
        """``f`` (B, D) whitened with the client's running statistics of ``modality`` (updated first from
        this batch when ``train``)."""
        stats = client.setdefault("whiten", {})
        x = f.detach().double()
        if train and len(x) > 1:
            mean, cov = x.mean(0), torch.cov(x.T, correction=0).reshape(x.shape[1], x.shape[1])
            if f"{modality}/mean" not in stats:
                stats[f"{modality}/mean"], stats[f"{modality}/cov"] = mean, cov
            else:
                m = self.stat_momentum
                stats[f"{modality}/mean"] = (1 - m) * stats[f"{modality}/mean"] + m * mean
                stats[f"{modality}/cov"] = (1 - m) * stats[f"{modality}/cov"] + m * cov
        if f"{modality}/mean" not in stats:
            return f
        w = inverse_sqrt(stats[f"{modality}/cov"], self.eps).to(f.dtype)
        out: torch.Tensor = (f - stats[f"{modality}/mean"].to(f.dtype)) @ w
        return out

    def forward(
        self, model: nn.Module, x: torch.Tensor, client: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mod = client.get("modality", "both")
        white = (lambda f, m: self._whitened(f, m, client, model.training)) if self.whiten else None
        f2, f1, feats, logits = late_forward(model, x, mod, white)
        client["_pair"] = (f2, f1) if mod == "both" else None
        return feats, logits

    def loss_term(
        self, model: nn.Module, x: torch.Tensor, features: torch.Tensor, client: dict[str, Any]
    ) -> torch.Tensor | None:
        pair = client.pop("_pair", None)
        if pair is None or self.mu == 0:
            return None
        f2, f1 = pair
        n = min(f2.shape[1], f1.shape[1])
        return self.mu * info_nce(f2[:, :n], f1[:, :n], self.tau)

    def upload_keys(self, keys: list[str], client: dict[str, Any]) -> list[str]:
        mod = client.get("modality", "both")
        skip = set() if mod == "both" else self.branch["s1" if mod == "s2" else "s2"]
        return [k for k in keys if k not in skip]

    def aggregate(self, global_state: State, uploads: list[Upload]) -> State:
        out = dict(global_state)
        for k in global_state:
            holders = [u for u in uploads if k in u.state]
            if holders:
                out[k] = weighted_mean([u.state for u in holders], [u.num_examples for u in holders], [k])[k]
        return out

    def evaluation_state(self, global_state: State, clients: list[tuple[dict[str, Any], int]]) -> State:
        """With ``whiten``: the global weights with the clients' whitening folded into the head's linear
        layer (``A W (f - m) + b`` = ``(A W) f + (b - A W m)``; per modality the example-weighted mixture
        of the statistics of the clients that hold it)."""
        if not self.whiten:
            return global_state
        w_parts, m_parts = [], []
        for mod in ("s2", "s1"):
            held = [(c["whiten"], n) for c, n in clients if f"{mod}/mean" in c.get("whiten", {})]
            d = self.widths[mod]
            if not held:
                w_parts.append(torch.eye(d, dtype=torch.float64))
                m_parts.append(torch.zeros(d, dtype=torch.float64))
                continue
            p = torch.tensor([float(n) for _, n in held], dtype=torch.float64)
            p = p / p.sum()
            means = torch.stack([st[f"{mod}/mean"] for st, _ in held])  # (clients, D)
            covs = torch.stack([st[f"{mod}/cov"] for st, _ in held])  # (clients, D, D)
            mean = (p[:, None] * means).sum(0)
            second = (p[:, None, None] * (covs + means[:, :, None] * means[:, None, :])).sum(0)
            w_parts.append(inverse_sqrt(second - torch.outer(mean, mean), self.eps))
            m_parts.append(mean)
        w, m = torch.block_diag(*w_parts), torch.cat(m_parts)
        wk, bk = "net.head.1.weight", "net.head.1.bias"
        a = global_state[wk].double()
        folded = a @ w
        return {
            **global_state,
            wk: folded.to(global_state[wk].dtype),
            bk: (global_state[bk].double() - folded @ m).to(global_state[bk].dtype),
        }


def inverse_sqrt(cov: torch.Tensor, eps: float) -> torch.Tensor:
    """``(cov + eps I)^-1/2`` of a symmetric PSD matrix (ZCA whitening), float64."""
    c = cov.double()
    vals, vecs = torch.linalg.eigh(c + eps * torch.eye(len(c), dtype=c.dtype))
    out: torch.Tensor = (vecs * vals.clamp_min(eps).rsqrt()) @ vecs.T
    return out
