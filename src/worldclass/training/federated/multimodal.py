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

The plain baseline on the same clients (any other algorithm with ``federated.modalities`` set) feeds the
missing modality as zero pixels and averages every weight over every client.
Feature whitening across clients (MM-FL's third module) is not implemented.
"""

from __future__ import annotations

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


def mask_missing(x: torch.Tensor, modality: str, s1_channels: int) -> torch.Tensor:
    """Input of a client that lacks a modality: its channels set to zero (the naive baseline)."""
    if modality == "both":
        return x
    x = x.clone()
    if modality == "s2":
        x[:, -s1_channels:] = 0
    else:
        x[:, :-s1_channels] = 0
    return x


def info_nce(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """Symmetric InfoNCE between paired rows of ``a`` and ``b`` (B, D): the matching row is the positive,
    the other rows of the batch the negatives."""
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = a @ b.T / tau
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


class MultiModal(Algorithm):
    name: ClassVar[str] = "mmfl"

    def __init__(self, mu: float = 0.1, tau: float = 0.5) -> None:
        self.mu, self.tau = mu, tau

    def setup(self, model: nn.Module, num_clients: int) -> None:
        super().setup(model, num_clients)
        net: Any = getattr(model, "net", None)
        if net is None or not hasattr(net, "s1_channels"):
            raise ConfigError("federated.algorithm mmfl needs model.fusion late with data.sensors [s2, s1]")
        keys = list(model.state_dict())
        self.branch = {m: {k for k in keys if k.startswith(f"net.{m}.")} for m in ("s2", "s1")}

    def forward(
        self, model: nn.Module, x: torch.Tensor, client: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        net: Any = model.net
        k, mod = net.s1_channels, client.get("modality", "both")
        f2 = net.s2(x[:, :-k]) if mod in ("s2", "both") else None
        f1 = net.s1(x[:, -k:]) if mod in ("s1", "both") else None
        ref = f2 if f2 is not None else f1
        assert ref is not None
        f2 = f2 if f2 is not None else ref.new_zeros(len(x), pooled_width(net.s2))
        f1 = f1 if f1 is not None else ref.new_zeros(len(x), pooled_width(net.s1))
        client["_pair"] = (f2, f1) if mod == "both" else None
        feats = torch.cat([f2, f1], 1)
        return feats, net.head(feats)

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
