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
import torch.nn.functional as F

from worldclass.models.csmae import CrossSensorMAE
from worldclass.tasks.module import TaskModule, split_pair


class CSMAEModule(TaskModule):
    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__(config, meta)
        self.save_hyperparameters()
        self.model: CrossSensorMAE = CrossSensorMAE(**self.meta.model["kwargs"])
        self.n_s2 = self.model.channels["s2"]
        self.loss_cfg = config["loss"]

    def _split(self, x: torch.Tensor, augment: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return split_pair(x, self.n_s2, augment)

    def _loss(self, batch: dict[str, Any], augment: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s2, s1 = self._split(batch["image"], augment)
        lc = self.loss_cfg
        weights = {
            "uni": lc.get("uni_weight", 1.0),
            "cross": lc["cross_weight"],
            "contrastive": lc["contrastive_weight"],
        }
        terms = self.model.losses(s2, s1, lc["temperature"], weights)
        total = (
            weights["uni"] * terms["uni"]
            + lc["cross_weight"] * terms["cross"]
            + lc["contrastive_weight"] * terms["contrastive"]
        )
        return total, terms

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss, terms = self._loss(batch, augment=True)
        n = len(batch["image"])
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        for k, v in terms.items():
            self.log(f"train/{k}", v, batch_size=n)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        state = torch.get_rng_state()
        torch.manual_seed(batch_idx)  # the same masks every epoch: comparable validation losses
        loss, _ = self._loss(batch, augment=False)
        torch.set_rng_state(state)
        s2, s1 = self._split(batch["image"], augment=False)
        e2 = F.normalize(self.model.embed(s2, "s2"), dim=-1)
        e1 = F.normalize(self.model.embed(s1, "s1"), dim=-1)
        top1 = ((e1 @ e2.T).argmax(1) == torch.arange(len(e1), device=e1.device)).float().mean()
        n = len(batch["image"])
        self.log("val/loss", loss, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val/pair_top1", top1, batch_size=n)
