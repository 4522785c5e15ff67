"""LightningModule of ``codec``: rate-distortion (noisy quantisation, rate weight adapted towards the
target bpp after every step), then hashing with the gradient manipulation of
:func:`worldclass.models.codec.project_conflicting`, as a surrogate loss so that Lightning's automatic
optimisation applies it: ``rd + hashing(detached latent) + sum(p * g_p)`` where ``g_p`` is the
(projected) hashing gradient of each shared encoder parameter. Logged per validation: ``val/loss``,
``val/mse``, ``val/psnr`` (normalised bands, peak-to-peak of the batch), ``val/bpp`` (the entropy model's
rate of the rounded latents: the size ``worldclass compress`` writes), ``val/map`` (mAP@10 by Hamming
ranking among the validation patches, leave-one-out)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from worldclass.models.codec import (
    HashingCodec,
    bit_balance_loss,
    project_conflicting,
    quantization_loss,
    soft_pairwise_loss,
)
from worldclass.tasks.module import TaskModule


class CodecModule(TaskModule):
    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__(config, meta)
        self.save_hyperparameters()
        self.model: HashingCodec = HashingCodec(**self.meta.model["kwargs"])
        self.c = config["codec"]
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._last_bpp = 0.0

    def hashing_loss(self, h: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        c = self.c
        total: torch.Tensor = (
            c["pair_weight"] * soft_pairwise_loss(h, labels)
            + c["balance_weight"] * bit_balance_loss(h)
            + c["quantization_weight"] * quantization_loss(h)
            + c["class_weight"] * F.binary_cross_entropy_with_logits(logits, labels.float())
        )
        return total

    def hashing_stage(self) -> bool:
        return self.current_epoch >= int(self.c["hash_from_epoch"])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        m, x, labels = self.model, batch["image"], batch["label"]
        out = m(x, noise=True)
        mse = F.mse_loss(out["x_hat"], x)
        rd = mse + m.rate_weight * out["bpp"]
        loss = rd
        if self.hashing_stage():
            h_det = m.hash(out["y"].detach())  # hashing head and classifier learn from this path
            loss = loss + self.hashing_loss(h_det, m.classifier(h_det), labels)
            task = self.hashing_loss(out["h"], out["logits"], labels)
            shared = [p for p in m.g_a.parameters() if p.requires_grad]
            g_task = torch.autograd.grad(task, shared, retain_graph=True)
            if self.c["manipulation"] == "pcgrad":
                g_rd = torch.autograd.grad(rd, shared, retain_graph=True)
                flat = project_conflicting(
                    torch.cat([g.flatten() for g in g_task]), torch.cat([g.flatten() for g in g_rd])
                )
                g_task = tuple(
                    flat[o : o + p.numel()].view_as(p) for o, p in zip(_offsets(shared), shared, strict=True)
                )
            loss = loss + sum((p * g.detach()).sum() for p, g in zip(shared, g_task, strict=True))
        self._last_bpp = float(out["bpp"].detach())
        n = len(x)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/bpp", out["bpp"], batch_size=n)
        self.log("train/mse", mse, batch_size=n)
        result: torch.Tensor = loss
        return result

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.model.adapt_rate_weight(self._last_bpp, float(self.c["target_bpp"]), float(self.c["rate_step"]))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        m, x, labels = self.model, batch["image"], batch["label"]
        out = m(x, noise=False)
        mse = F.mse_loss(out["x_hat"], x)
        hashing = self.hashing_loss(out["h"], out["logits"], labels)
        loss = mse + float(self.c["rate_weight"]) * out["bpp"] + hashing
        peak = (x.amax() - x.amin()).clamp(min=1e-6)
        n = len(x)
        self.log("val/loss", loss, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val/mse", mse, batch_size=n, sync_dist=True)
        self.log("val/psnr", 10 * torch.log10(peak**2 / mse.clamp(min=1e-12)), batch_size=n, sync_dist=True)
        self.log("val/bpp", out["bpp"], batch_size=n, sync_dist=True)
        self._val.append(((out["h"] > 0).cpu(), labels.cpu()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        from worldclass.metrics.retrieval import retrieval_metrics

        codes = torch.cat([c for c, _ in self._val]).float()
        labels = torch.cat([y for _, y in self._val]).numpy().astype(bool)
        self._val = []
        if len(codes) < 3:
            return
        k = min(10, len(codes) - 1)
        hamming = (codes[:, None] != codes[None]).sum(-1).float()
        hamming.fill_diagonal_(float("inf"))
        order = hamming.argsort(dim=1, stable=True)[:, :k].numpy()
        self.log("val/map", retrieval_metrics(labels, labels[order])["map"])
        weight: Any = self.model.rate_weight
        self.log("train/rate_weight", float(weight))


def _offsets(params: Sequence[torch.Tensor]) -> list[int]:
    return [int(v) for v in np.cumsum([0] + [p.numel() for p in params[:-1]])]
