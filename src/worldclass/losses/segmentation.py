"""Segmentation losses on logits (B, K, H, W) and masks (B, H, W) int64 with ignore index 255.

* ``ce``: cross-entropy.
* ``iou``: soft IoU (Jaccard) loss ``1 - mean_k sum(p_k y_k) / sum(p_k + y_k - p_k y_k)`` over softmax
  probabilities, summed over the batch's valid pixels, averaged over classes present in the batch or
  predicted (Rahman & Wang 2016; the seed's CE + soft IoU recipe).
* ``ce+iou``: their sum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worldclass.data.nomenclature import IGNORE_INDEX
from worldclass.errors import ConfigError

SEGMENTATION_LOSSES = ("ce", "iou", "ce+iou")


def soft_iou_loss(logits: torch.Tensor, mask: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    k = logits.shape[1]
    valid = (mask != ignore_index).unsqueeze(1).float()
    p = torch.softmax(logits.float(), 1) * valid
    y = F.one_hot(mask.clamp(max=k - 1) * (mask != ignore_index), k).permute(0, 3, 1, 2).float() * valid
    inter = (p * y).sum((0, 2, 3))
    union = (p + y - p * y).sum((0, 2, 3))
    present = union > 0
    if not present.any():
        return logits.sum() * 0.0
    return 1 - (inter[present] / union[present]).mean()


class SegmentationLoss(nn.Module):
    def __init__(self, name: str = "ce+iou") -> None:
        super().__init__()
        if name not in SEGMENTATION_LOSSES:
            raise ConfigError(
                f"loss.name {name!r} for segmentation: choose one of {list(SEGMENTATION_LOSSES)}"
            )
        self.name = name

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        loss = logits.sum() * 0.0
        if "ce" in self.name.split("+"):
            loss = loss + F.cross_entropy(logits.float(), mask, ignore_index=IGNORE_INDEX)
        if "iou" in self.name.split("+"):
            loss = loss + soft_iou_loss(logits, mask)
        return loss
