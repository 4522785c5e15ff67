"""Label-noise robust training of the classification task (config section ``robust``), with any backbone
and any ``loss.name``: the configured loss gives each sample's task loss and each method decides what of it
trains the network.

* ``none``: the configured loss (``loss.name: smooth`` is label smoothing).
* ``elr``: task loss + early-learning regularisation over each training sample's running prediction.
* ``coteaching``: a second network of the same spec (``peer``); each trains on the other's small-loss
  share ``1 - forget_rate`` (ramped over ``warmup_epochs``); the first network is the one saved.
* ``svae``: a supervised VAE branch on the pooled features; per-sample weights of the task loss from its
  loss against the SVAE loss (1 during ``warmup_epochs``); the SVAE loss is added for every sample.
* ``grid``: the same branch; the ``noisy_share`` of each batch with the highest suspicion updates the
  backbone through the generative loss, the rest through the task loss; the branch itself learns from all
  samples (on detached features for the rest).

The extra parts (peer network, VAE branch, ELR targets) live in :class:`RobustTraining`, outside
``model``, so checkpoints load as plain classifiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from worldclass.config import choice, setting
from worldclass.losses.noisy_labels import (
    ELRLoss,
    coteaching_select,
    forget_rate,
    grid_route,
    svae_weights,
)
from worldclass.models.classifier import SceneClassifier
from worldclass.models.generative import GenerativeBranch, GenerativeOutput

ROBUST_METHODS = ("none", "elr", "coteaching", "svae", "grid")


@dataclass
class RobustConfig:
    """Noise-robust training (see :mod:`worldclass.tasks.classification.robust`)."""

    method: str = choice(
        "none", ROBUST_METHODS, "Noise-robust training of the labels given (none: plain loss)"
    )
    elr_beta: float = setting(0.7, "ELR: running-target momentum in [0, 1)")
    elr_lambda: float = setting(
        1.0, "ELR: weight of the regulariser (3, the single-label default, collapses multi-label BCE)"
    )
    forget_rate: float = setting(0.2, "Co-teaching: final share of each batch left out, in [0, 1)")
    warmup_epochs: int = setting(2, "Co-teaching: forget-rate ramp; svae/grid: epochs before weighting")
    noisy_share: float = setting(0.2, "GRID: share of each batch routed through the generative loss")
    latent_dim: int = setting(128, "SVAE/GRID: latent size of the variational branch")
    kl_weight: float = setting(0.1, "SVAE/GRID: weight of the KL term")
    temperature: float = setting(0.5, "SVAE: softness of the weights (smaller = sharper)")

    def problems(self) -> list[str]:
        bad = []
        if not 0 <= self.elr_beta < 1:
            bad.append(f"robust.elr_beta {self.elr_beta!r}: use [0, 1)")
        for key in ("forget_rate", "noisy_share"):
            if not 0 <= getattr(self, key) < 1:
                bad.append(f"robust.{key} {getattr(self, key)!r}: use [0, 1)")
        if self.latent_dim < 1 or self.temperature <= 0 or self.warmup_epochs < 0:
            bad.append("robust.latent_dim >= 1, robust.temperature > 0 and robust.warmup_epochs >= 0")
        return bad


class RobustTraining(nn.Module):
    """The training-only parts of ``rc["method"]`` for ``model`` over ``num_samples`` training samples;
    :meth:`loss` gives a batch's training loss."""

    def __init__(self, rc: dict[str, Any], model: SceneClassifier, num_samples: int) -> None:
        super().__init__()
        self.rc = rc
        self.method = rc["method"]
        if self.method == "elr":
            self.elr = ELRLoss(num_samples, model.num_classes, beta=rc["elr_beta"], lam=rc["elr_lambda"])
        elif self.method == "coteaching":
            self.peer = SceneClassifier(**model.spec)
        elif self.method in ("svae", "grid"):
            self.branch = GenerativeBranch(model.feature_dim, model.num_classes, rc["latent_dim"])

    def _generative(self, task: nn.Module, feats: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out: GenerativeOutput = self.branch(feats)
        per: torch.Tensor = task.per_sample(out.logits, y)  # type: ignore[operator]
        kl_weight = float(self.rc["kl_weight"])
        return per + out.reconstruction + kl_weight * out.kl

    def loss(
        self, model: SceneClassifier, task: nn.Module, batch: dict[str, Any], epoch: int
    ) -> dict[str, torch.Tensor]:
        """Training loss of ``batch`` (``image``, ``label``, ``index``) under ``task`` (a loss with
        ``per_sample``) at ``epoch``: ``{"loss": scalar, ...}`` plus what is worth logging."""
        x, y = batch["image"], batch["label"]
        if self.method == "elr":
            logits = model(x)
            index = torch.as_tensor(batch["index"], device=logits.device)
            return {"loss": task(logits, y) + self.elr.penalty(logits, index).mean()}
        if self.method == "coteaching":
            la: torch.Tensor = task.per_sample(model(x), y)  # type: ignore[operator]
            lb: torch.Tensor = task.per_sample(self.peer(x), y)  # type: ignore[operator]
            rate = forget_rate(epoch, self.rc["forget_rate"], self.rc["warmup_epochs"])
            for_a, for_b = coteaching_select(la, lb, rate)
            return {"loss": la[for_a].mean() + lb[for_b].mean(), "forget_rate": torch.tensor(rate)}
        feats, logits = model.features_logits(x)
        dis: torch.Tensor = task.per_sample(logits, y)  # type: ignore[operator]
        warm = epoch < self.rc["warmup_epochs"]
        if self.method == "svae":
            gen = self._generative(task, feats, y)
            w = torch.ones_like(dis) if warm else svae_weights(dis, gen, self.rc["temperature"])
            return {"loss": (w * dis).sum() / w.sum() + gen.mean(), "weight": w.mean()}
        if warm:
            noisy = torch.zeros_like(dis, dtype=torch.bool)
        else:
            with torch.no_grad():
                noisy = grid_route(dis, self._generative(task, feats, y), self.rc["noisy_share"])
        routed = self._generative(task, torch.where(noisy[:, None], feats, feats.detach()), y)
        loss = (dis * (~noisy)).sum() / len(dis) + routed.mean()
        return {"loss": loss, "routed": noisy.float().mean()}
