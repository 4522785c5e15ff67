"""LightningModule of ``sscm``: the three SS-CM-RSIR losses on co-located S2/S1 pairs (channels split by
band order: S2 bands, then VV, VH), the same random D4 transform for both modalities of a pair. Logged:
``train/loss`` and its terms, ``val/loss`` (monitored) and ``val/pair_top1`` (share of validation S1
patches whose nearest S2 embedding in the batch is their own pair)."""

from __future__ import annotations

from typing import Any

import torch

from worldclass.models.crossmodal import CrossModalNet
from worldclass.tasks.module import PairedSensorModule


class CrossModalModule(PairedSensorModule):
    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__(config, meta)
        self.save_hyperparameters()
        self.model: CrossModalNet = CrossModalNet(**self.meta.model["kwargs"])
        self.loss_cfg = config["loss"]

    def _loss(self, batch: dict[str, Any], augment: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s2, s1 = self._split(batch["image"], augment)
        lc = self.loss_cfg
        terms = self.model.losses(s2, s1, temperature=lc["temperature"], neighbours=lc["neighbours"])
        total = (
            lc["mi_weight"] * terms["mi"]
            + lc["angle_weight"] * terms["angle"]
            + lc["intra_weight"] * terms["intra"]
        )
        return total, terms

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        loss, terms = self._loss(batch, augment=False)
        top1 = self.pair_top1(batch["image"])
        n = len(batch["image"])
        self.log("val/loss", loss, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val/angle", terms["angle"], batch_size=n, sync_dist=True)
        self.log("val/pair_top1", top1, batch_size=n)
