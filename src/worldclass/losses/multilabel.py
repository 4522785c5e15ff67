"""Multi-label losses: BCE, class-weighted BCE (CW), dynamic class-weighted BCE (DCW), focal, label smoothing
(``smooth``, :mod:`worldclass.losses.noisy_labels`).

Class weights are BCE ``pos_weight`` values (weight of the positive term of class c):
``pos_weight_c = clip((neg_c / pos_c) ** power, 1, max_weight)`` from label counts.

* **CW**: counts of the training split, fixed for the whole run.
* **DCW**: recomputed at the start of every epoch from the label counts of the samples that epoch will
  actually draw (after MROS or any sampler). Because those counts already include the oversampling, DCW
  only corrects the imbalance the sampler left -- it never corrects the same imbalance twice. Without a
  sampler it equals CW recomputed per epoch.
* **focal**: sigmoid focal loss (Lin et al. 2017), ``alpha`` for positives, focusing ``gamma``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from worldclass.errors import ConfigError

MULTILABEL_LOSSES = ("bce", "cw", "dcw", "focal", "smooth")


def pos_weights(
    counts: npt.ArrayLike, n: int, *, power: float = 0.5, max_weight: float = 50.0
) -> npt.NDArray[np.float32]:
    """(C,) BCE pos_weight from positive counts per class over ``n`` samples (classes absent -> max)."""
    pos = np.asarray(counts, np.float64)
    neg = np.maximum(n - pos, 0.0)
    ratio = np.where(pos > 0, neg / np.where(pos > 0, pos, 1.0), max_weight)
    return np.clip(ratio**power, 1.0, max_weight).astype(np.float32)


class WeightedBCE(nn.Module):
    """BCE-with-logits with a per-class ``pos_weight`` buffer (all ones = plain BCE)."""

    def __init__(
        self,
        num_classes: int,
        weights: npt.ArrayLike | None = None,
        *,
        dynamic: bool = False,
        power: float = 0.5,
        max_weight: float = 50.0,
    ) -> None:
        super().__init__()
        w = (
            torch.ones(num_classes)
            if weights is None
            else torch.as_tensor(np.asarray(weights), dtype=torch.float32)
        )
        self.register_buffer("pos_weight", w)
        self.dynamic, self.power, self.max_weight = dynamic, power, max_weight

    def update(self, counts: npt.ArrayLike, n: int) -> None:
        """Set class weights from label counts of ``n`` samples (DCW calls this every epoch)."""
        w = pos_weights(counts, n, power=self.power, max_weight=self.max_weight)
        self.get_buffer("pos_weight").copy_(torch.from_numpy(w))

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(B, C) logits and targets -> (B,) loss of each sample (mean over classes)."""
        pw = self.get_buffer("pos_weight").to(logits.dtype)
        loss = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pw, reduction="none")
        return loss.mean(1)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.per_sample(logits, targets).mean()


class FocalLoss(nn.Module):
    """Sigmoid focal loss averaged over samples and classes."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(B, C) logits and targets -> (B,) loss of each sample (mean over classes)."""
        p = torch.sigmoid(logits)
        ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        a_t = self.alpha * targets + (1 - self.alpha) * (1 - targets)
        return (a_t * (1 - p_t) ** self.gamma * ce).mean(1)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.per_sample(logits, targets).mean()


def build_loss(
    name: str, num_classes: int, train_counts: npt.ArrayLike | None = None, n_train: int = 0, **kwargs: Any
) -> nn.Module:
    """Loss by name (see :data:`MULTILABEL_LOSSES`); CW and DCW start from the training-split counts.
    Every loss also has ``per_sample(logits, targets) -> (B,)`` (the noise-robust training options use it)."""
    if name == "bce":
        return WeightedBCE(num_classes)
    if name in ("cw", "dcw"):
        if train_counts is None:
            raise ConfigError(f"loss {name!r} needs training label counts")
        loss = WeightedBCE(num_classes, dynamic=name == "dcw", **kwargs)
        loss.update(train_counts, n_train)
        return loss
    if name == "focal":
        return FocalLoss(**kwargs)
    if name == "smooth":
        from worldclass.losses.noisy_labels import LabelSmoothingBCE

        return LabelSmoothingBCE(**kwargs)
    raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(MULTILABEL_LOSSES)}")
