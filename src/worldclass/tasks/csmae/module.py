"""LightningModule for cross-sensor self-supervised pretraining on unlabeled S1 + S2 pairs.

Batches come from the same BigEarthNet DataModule as classification (``sensors: [s2, s1]``); labels are
ignored. The channel split follows worldclass band order: S2 bands first, then VV, VH. Logged:
``train/loss`` and its terms, ``val/loss`` (monitored, lower is better) and ``val/pair_top1``: the
share of validation S1 patches whose nearest S2 embedding in the batch is their own pair (a label-free
check that the two sensors share one space).
"""

from __future__ import annotations

from typing import Any

import torch

from worldclass.models.csmae import CrossSensorMAE
from worldclass.tasks.module import PairedSensorModule


class CSMAEModule(PairedSensorModule):
    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__(config, meta)
        self.save_hyperparameters()
        self.model: CrossSensorMAE = CrossSensorMAE(**self.meta.model["kwargs"])
        self.loss_cfg = config["loss"]

    def _loss(self, batch: dict[str, Any], augment: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s2, s1 = self._split(batch["image"], augment)
        lc = self.loss_cfg
        weights = {
            "uni": lc.get("uni_weight", 1.0),
            "cross": lc["cross_weight"],
            "contrastive": lc["contrastive_weight"],
        }
        terms = self.model.losses(s2, s1, lc["temperature"], weights)
        total = sum(weights[k] * terms[k] for k in weights)
        return total, terms

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        state = torch.get_rng_state()
        torch.manual_seed(batch_idx)  # the same masks every epoch: comparable validation losses
        loss, _ = self._loss(batch, augment=False)
        torch.set_rng_state(state)
        top1 = self.pair_top1(batch["image"])
        n = len(batch["image"])
        self.log("val/loss", loss, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val/pair_top1", top1, batch_size=n)
