"""LightningModule of the regression task (supervised or DML-S2R, see :mod:`worldclass.models.regression`).

Targets come from each batch's reference maps (:func:`worldclass.data.fractions.class_fractions`).
DML-S2R alternates by optimiser step: even steps fit the Siamese target differences on a labelled batch,
odd steps the decided triplets over the labelled + unlabelled batch; the neighbour bank (embeddings and
targets of every labelled training patch) is rebuilt before each validation. Logged: ``train/loss``,
``val/loss`` (MSE), ``val/rmse`` (monitored), ``val/r2``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from worldclass.data.fractions import class_fractions, target_classes
from worldclass.metrics.regression import regression_metrics
from worldclass.models.regression import (
    RegressionNet,
    decided_triplet_loss,
    difference_loss,
)
from worldclass.tasks.module import TaskModule


def masked_mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    keep = ~y.isnan()
    return ((pred - y.nan_to_num()) ** 2)[keep].mean() if keep.any() else pred.sum() * 0


class RegressionModule(TaskModule):
    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__(config, meta)
        self.save_hyperparameters()
        self.model: RegressionNet = RegressionNet(**self.meta.model["kwargs"])
        self.r = config["regression"]
        self.groups = target_classes(self.r["targets"])
        self.seed = int(config["trainer"]["seed"])
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []

    def targets(self, batch: dict[str, Any]) -> torch.Tensor:
        return class_fractions(batch["mask"], self.groups)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        m = self.model
        if m.method == "supervised":
            loss = masked_mse(m(batch["image"]), self.targets(batch))
        elif self.global_step % 2 == 0:  # 1: Siamese target differences on labelled pairs
            lab = batch["labelled"]
            loss = difference_loss(m.pair_differences(m.features(lab["image"])), self.targets(lab))
        else:  # 2: triplets over labelled + unlabelled, positives decided by the Siamese head
            lab, unl = batch["labelled"], batch["unlabelled"]
            n_lab = len(lab["image"])
            e = m.features(torch.cat([lab["image"], unl["image"]]))
            with torch.no_grad():
                decided = m.pair_differences(e.detach()).abs().mean(-1)
                y = self.targets(lab)
                known = (y[:, None] - y[None]).abs().mean(-1)  # labelled pairs: the true difference
                decided[:n_lab, :n_lab] = torch.where(known.isnan(), decided[:n_lab, :n_lab], known)
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.global_step)
            n = len(e)
            first = (torch.arange(n) + torch.randint(1, n, (n,), generator=g)) % n
            second = (first + torch.randint(1, max(n - 1, 2), (n,), generator=g)) % n
            second = torch.where(second == torch.arange(n), (second + 1) % n, second)
            cand = torch.stack([first, second], 1).to(e.device)
            loss = decided_triplet_loss(e, decided, cand, self.r["margin"])
        n = len(batch["image"]) if "image" in batch else len(batch["labelled"]["image"])
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        return loss

    def on_validation_epoch_start(self) -> None:
        if self.model.method != "dml-s2r":
            return
        dm: Any = self.trainer.datamodule  # type: ignore[attr-defined]
        embs, ys = [], []
        was = self.model.training
        self.model.eval()
        with torch.no_grad():
            for batch in dm.labelled_loader():
                embs.append(self.model.features(batch["image"].to(self.device)))
                ys.append(self.targets(batch).to(self.device))
        self.model.train(was)
        e, y = torch.cat(embs), torch.cat(ys)
        keep = ~y.isnan().any(1)
        self.model.bank_embedding = e[keep]
        self.model.bank_target = y[keep]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        pred, y = self.model(batch["image"]), self.targets(batch)
        self.log("val/loss", masked_mse(pred, y), batch_size=len(y), sync_dist=True)
        self._val.append((pred.detach().float().cpu(), y.cpu()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        pred = torch.cat([p for p, _ in self._val]).numpy()
        y = torch.cat([t for _, t in self._val]).numpy()
        self._val = []
        m = regression_metrics(pred, y, self.r["targets"])
        self.log("val/rmse", m["rmse"])
        self.log("val/r2", float(np.nan_to_num(m["r2"], nan=0.0)))
