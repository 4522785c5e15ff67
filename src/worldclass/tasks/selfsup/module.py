"""LightningModule of the self-supervised tasks: one training step per method, deterministic validation
losses, and collapse monitoring.

Every step draws its randomness (views, channel pairs, pixel positions, degradations) from a generator
seeded with (run seed, global step), so a resumed run repeats an uninterrupted one. Logged per epoch:
``val/loss``, ``val/emb_std`` (std of the L2-normalised pooled embeddings per dimension, times
sqrt(dim): ~1 for well spread embeddings, 0 when every input maps to one point) and ``val/emb_cos``
(mean pairwise cosine, 1 when collapsed); a warning line is printed when the representation collapsed.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import torch
import torch.nn.functional as F

from worldclass.errors import ConfigError
from worldclass.models.ssl import SSLNet, augment_views, degrade, pixel_info_nce
from worldclass.tasks.module import TaskModule

#: Below this ``emb_std`` or above this ``emb_cos`` the representation counts as collapsed.
COLLAPSE_STD = 0.1
COLLAPSE_COS = 0.999  # pooled ReLU features are all positive: healthy ones reach a cosine of 0.95


def collapse_stats(emb: torch.Tensor) -> tuple[float, float]:
    """(emb_std, emb_cos) of (N, D) embeddings (see the module docstring)."""
    z = F.normalize(emb.float(), dim=1)
    std = float(z.std(0).mean()) * math.sqrt(z.shape[1])
    n = len(z)
    cos = float(((z @ z.T).sum() - n) / max(n * (n - 1), 1))
    return std, cos


class SSLModule(TaskModule):
    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__(config, meta)
        self.save_hyperparameters()
        self.model: SSLNet = SSLNet(**self.meta.model["kwargs"])
        self.s = config["ssl"]
        self.seed = int(config["trainer"]["seed"])
        if self.model.method == "moco":
            from worldclass.compat import ensure_torchvision_importable

            ensure_torchvision_importable()
            try:
                from lightly.loss import NTXentLoss
            except ImportError:
                raise ConfigError("task moco needs lightly: pip install 'worldclass[ssl]'") from None

            bank = int(self.s["memory_bank"])
            dim = int(self.meta.model["kwargs"]["proj_dim"])
            self.moco_loss = NTXentLoss(self.s["temperature"], memory_bank_size=(bank, dim) if bank else 0)
        self._emb: list[torch.Tensor] = []
        self.collapsed: list[int] = []  # epochs whose embeddings collapsed

    def _generator(self, salt: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + salt)

    def unifeat_stage(self) -> bool:
        return self.model.method == "sscl" and self.current_epoch < self.s["unifeat_epochs"]

    def pretext_loss(self, x: torch.Tensor, g: torch.Generator, stage_unifeat: bool) -> torch.Tensor:
        """The method's loss on a batch (B, C, H, W) with randomness from ``g``."""
        m, s = self.model, self.s
        if m.method == "sscl" and stage_unifeat:
            b, c = x.shape[:2]
            i = torch.randint(0, c, (b,), generator=g)
            j = (i + torch.randint(1, max(c, 2), (b,), generator=g)) % c  # another channel (if there is one)
            rows = torch.arange(b)
            fa = m.unifeat_features(x[rows, i][:, None])
            fb = m.unifeat_features(x[rows, j][:, None])
            hw = fa.shape[-2] * fa.shape[-1]
            index = torch.stack([torch.randperm(hw, generator=g)[: s["pixels"]] for _ in range(b)]).to(
                x.device
            )
            return pixel_info_nce(fa, fb, s["temperature"], index)
        if m.method == "sscl":
            degraded, holes = degrade(
                x, g, channel_drop=s["channel_drop"], cutouts=s["cutouts"], blur_sigma=s["blur_sigma"]
            )
            weight = 1 + (s["hole_weight"] - 1) * holes.to(x.dtype)
            err = (m.reconstruct(degraded) - x) ** 2
            rec: torch.Tensor = (err * weight).sum() / weight.sum()
            return rec
        v1, v2 = augment_views(x, g), augment_views(x, g)
        if m.method == "simsiam":
            z1, z2 = m.projector(m.encoder(v1)), m.projector(m.encoder(v2))
            p1, p2 = m.predictor(z1), m.predictor(z2)
            cos = F.cosine_similarity
            return 1 - (cos(p1, z2.detach()).mean() + cos(p2, z1.detach()).mean()) / 2  # in [0, 2]
        q = m.projector(m.encoder(v1))
        with torch.no_grad():
            k = m.projector_m(m.encoder_m(v2))
        loss: torch.Tensor = self.moco_loss(q, k)
        return loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        m = self.model
        unifeat = self.unifeat_stage()
        if m.method == "sscl" and not unifeat and not bool(m.core_started):
            m.adopt_unifeat(self._generator(-1))  # CoRe starts from the UniFeat stem
            started: Any = m.core_started
            started.fill_(True)
        if m.method == "moco":
            from lightly.models.utils import update_momentum

            update_momentum(m.encoder, m.encoder_m, self.s["momentum"])
            update_momentum(m.projector, m.projector_m, self.s["momentum"])
        x = batch["image"]
        loss = self.pretext_loss(x, self._generator(self.global_step), unifeat)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(x))
        if m.method == "sscl":
            self.log("train/stage", float(not unifeat), batch_size=len(x))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Losses with the same randomness every epoch (comparable); ``val/core`` (SSCL: CoRe's loss, also
        during UniFeat) and MoCo's in-batch InfoNCE (the memory bank is left alone) are monitored."""
        x, n, m = batch["image"], len(batch["image"]), self.model
        g = self._generator(10**9 + batch_idx)
        if m.method == "sscl":
            core = self.pretext_loss(x, g, stage_unifeat=False)
            uni = self.pretext_loss(x, self._generator(2 * 10**9 + batch_idx), stage_unifeat=True)
            self.log("val/core", core, batch_size=n, sync_dist=True)
            self.log("val/unifeat", uni, batch_size=n, sync_dist=True)
            loss = uni if self.unifeat_stage() else core
        elif m.method == "moco":
            v1, v2 = augment_views(x, g), augment_views(x, g)
            q, k = m.projector(m.encoder(v1)), m.projector_m(m.encoder_m(v2))
            logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / self.s["temperature"]
            loss = F.cross_entropy(logits, torch.arange(n, device=x.device))
        else:
            loss = self.pretext_loss(x, g, stage_unifeat=False)
        self.log("val/loss", loss, prog_bar=True, batch_size=n, sync_dist=True)
        if sum(len(e) for e in self._emb) < 1024:
            self._emb.append(m.encoder(x).detach().float().cpu())

    def on_validation_epoch_end(self) -> None:
        if self._emb:
            std, cos = collapse_stats(torch.cat(self._emb))
            self._emb = []
            self.log("val/emb_std", std)
            self.log("val/emb_cos", cos)
            if (std < COLLAPSE_STD or cos > COLLAPSE_COS) and not self.trainer.sanity_checking:
                self.collapsed.append(self.current_epoch)
                if self.global_rank == 0:
                    print(
                        f"warning: epoch {self.current_epoch}: the {self.model.method} representation collapsed "
                        f"(embedding std {std:.3f}, mean cosine {cos:.3f}): lower optim.lr, raise the batch "
                        "size or use another method",
                        file=sys.stderr,
                    )
