"""LightningModule for cross-sensor self-supervised pretraining on unlabeled S1 + S2 pairs.

Batches come from the same BigEarthNet DataModule as classification (``sensors: [s2, s1]``); labels are
ignored. The channel split follows worldclass band order: S2 bands first, then VV, VH. Logged:
``train/loss`` and its terms, ``val/loss`` (monitored, lower is better) and ``val/pair_top1``: the
share of validation S1 patches whose nearest S2 embedding in the batch is their own pair (a label-free
check that the two sensors share one space).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from worldclass.errors import ConfigError
from worldclass.models.checkpoint import ModelMeta, load_task_module
from worldclass.ssl.csmae import build_csmae
from worldclass.training.schedule import warmup_cosine


class SSLModule(L.LightningModule):
    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.meta = ModelMeta.from_dict(meta)
        self.n_s1 = sum(b in ("VV", "VH") for b in self.meta.bands)
        self.n_s2 = len(self.meta.bands) - self.n_s1
        if not self.n_s1 or not self.n_s2:
            raise ConfigError("task ssl learns across sensors: set data.sensors to [s2, s1]")
        self.cfg = config["ssl"]
        self.model = build_csmae(self.n_s2, self.n_s1, self.cfg)

    def _split(self, x: torch.Tensor, augment: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if augment:  # the same random D4 transform for both sensors of a pair
            k = int(torch.randint(0, 4, ()).item())
            x = torch.rot90(x, k, (2, 3))
            if torch.rand(()) < 0.5:
                x = x.flip(3)
        return x[:, : self.n_s2], x[:, self.n_s2 :]

    def _loss(self, batch: dict[str, Any], augment: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s2, s1 = self._split(batch["image"], augment)
        terms = self.model.losses(s2, s1, self.cfg["temperature"])
        total = terms["uni"] + self.cfg["cross_weight"] * terms["cross"] + self.cfg["contrastive_weight"] * terms["contrastive"]  # fmt: skip
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
        e2, e1 = (
            F.normalize(self.model.embed(s2, "s2"), dim=-1),
            F.normalize(self.model.embed(s1, "s1"), dim=-1),
        )
        top1 = ((e1 @ e2.T).argmax(1) == torch.arange(len(e1), device=e1.device)).float().mean()
        n = len(batch["image"])
        self.log("val/loss", loss, prog_bar=True, batch_size=n)
        self.log("val/pair_top1", top1, batch_size=n)

    def configure_optimizers(self) -> Any:
        return warmup_cosine(self, self.hparams["config"]["optim"])


def load_ssl_module(path: str | Path) -> SSLModule:
    """Rebuild a pretrained cross-sensor module from its checkpoint."""
    return load_task_module(path, "ssl", lambda hp: SSLModule(hp["config"], hp["meta"]))
