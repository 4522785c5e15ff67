"""LightningModule of the alignment task: :class:`~worldclass.models.align.AlignmentNet`, L2 loss on the
displacement field after every stage (coarse stages learn the large-scale part) plus each stage's
auxiliary segmentation loss (BCE against the true map, pooled to the stage); validation logs
``val/epe`` (mean end-point error, px) and ``val/epe_identity`` (the error of not moving the map)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from worldclass.models.align import AlignmentNet
from worldclass.tasks.module import TaskModule


class AlignmentModule(TaskModule):
    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__(config, meta)
        self.save_hyperparameters()
        self.model: AlignmentNet = AlignmentNet(**self.meta.model["kwargs"])
        self._err: list[torch.Tensor] = []
        self._index: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)
        return out

    def _loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        fields, segs = self.model.forward_all(batch["image"])
        truth = batch["field"]
        loss = torch.stack([(f - truth).pow(2).sum(1).mean() for f in fields]).mean()
        maps = batch["maps"].float()  # (B, K, H, W) true map rasters
        for seg in segs:
            target = F.adaptive_avg_pool2d(maps, (seg.shape[-2], seg.shape[-1]))
            loss = loss + F.binary_cross_entropy_with_logits(seg, target)
        return loss, fields[-1]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["field"]))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        loss, field = self._loss(batch)
        n = len(batch["field"])
        self.log("val/loss", loss, batch_size=n, sync_dist=True)
        epe = (field - batch["field"]).norm(dim=1).mean((1, 2))
        self._err.append(torch.stack([epe, batch["field"].norm(dim=1).mean((1, 2))], 1))
        self._index.append(torch.as_tensor(batch["index"], dtype=torch.int64, device=epe.device))

    def on_validation_epoch_end(self) -> None:
        if not self._err:
            return
        err, index = torch.cat(self._err), torch.cat(self._index)
        self._err.clear()
        self._index.clear()
        _, unique = self.gather_unique(index, err)  # each window once across ranks
        mean = unique.mean(0)
        self.log("val/epe", float(mean[0]), prog_bar=True, sync_dist=False)
        self.log("val/epe_identity", float(mean[1]), sync_dist=False)
