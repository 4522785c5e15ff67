"""Losses by task family. Each family's valid names live in one tuple here:
:data:`MULTILABEL_LOSSES` (``bce``, ``cw``, ``dcw``, ``focal``) and :data:`SEGMENTATION_LOSSES`
(``ce``, ``iou``, ``ce+iou``). Config sections, builders and the CLI read these tuples.

Imports: numpy, torch, :mod:`worldclass.errors`, :mod:`worldclass.data.nomenclature` (ignore index).
"""

from worldclass.losses.multilabel import MULTILABEL_LOSSES, FocalLoss, WeightedBCE, build_loss, pos_weights
from worldclass.losses.noisy_labels import ELRLoss, LabelSmoothingBCE, coteaching_select, forget_rate
from worldclass.losses.segmentation import SEGMENTATION_LOSSES, SegmentationLoss, soft_iou_loss

__all__ = [
    "MULTILABEL_LOSSES",
    "SEGMENTATION_LOSSES",
    "ELRLoss",
    "FocalLoss",
    "LabelSmoothingBCE",
    "SegmentationLoss",
    "WeightedBCE",
    "build_loss",
    "coteaching_select",
    "forget_rate",
    "pos_weights",
    "soft_iou_loss",
]
