"""LightningModule for multi-label scene classification (model + loss + optimiser; data stays outside)."""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch

from worldclass.data.nomenclature import matrix_43_to_19
from worldclass.metrics import multilabel_metrics
from worldclass.models.checkpoint import ModelMeta
from worldclass.models.classifier import create_classifier
from worldclass.training.losses import build_loss
from worldclass.training.schedule import warmup_cosine


class ClassificationModule(L.LightningModule):
    """Model (timm backbone) trained with the configured loss; validation computes macro AP etc.

    ``meta.output_classes`` are the network outputs (43 with attribute encoding), ``meta.classes`` the
    evaluated classes; with attribute encoding scores and targets are mapped 43 -> 19 by the CLC matrix
    (``clip(p43 @ M, 0, 1)``). ``train_counts``/``n_train`` initialise CW/DCW class weights.
    """

    def __init__(
        self, config: dict[str, Any], meta: dict[str, Any], train_counts: list[int], n_train: int
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.meta = ModelMeta.from_dict(meta)
        mc, lc = config["model"], config["loss"]
        s1 = sum(b in ("VV", "VH") for b in self.meta.bands)
        self.model = create_classifier(
            mc["backbone"], len(self.meta.bands), len(self.meta.output_classes), fusion=mc["fusion"],
            s1_channels=s1, drop_rate=mc["drop_rate"], drop_path_rate=mc["drop_path_rate"],
            pretrained=mc["pretrained"],
        )  # fmt: skip
        extra = {"power": lc["power"], "max_weight": lc["max_weight"]} if lc["name"] in ("cw", "dcw") else {}
        if lc["name"] == "focal":
            extra = {"alpha": lc["alpha"], "gamma": lc["gamma"]}
        self.loss = build_loss(lc["name"], len(self.meta.output_classes), train_counts, n_train, **extra)
        self.attribute = self.meta.nomenclature == "43->19"
        self.register_buffer("attr_matrix", torch.from_numpy(matrix_43_to_19()), persistent=False)
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        out: torch.Tensor = self.model(x)
        return out

    def setup(self, stage: str) -> None:
        if self.device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def _to_parents(self, x: torch.Tensor) -> torch.Tensor:
        m: torch.Tensor = self.attr_matrix  # type: ignore[assignment]
        return (x.float() @ m).clamp(0, 1)

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities of the evaluated classes (B, len(meta.classes))."""
        p = torch.sigmoid(logits.float())
        return self._to_parents(p) if self.attribute else p

    def targets(self, labels: torch.Tensor) -> torch.Tensor:
        return self._to_parents(labels) if self.attribute else labels

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss: torch.Tensor = self.loss(self(batch["image"]), batch["label"])
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["label"]))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self(batch["image"])
        self.log("val/loss", self.loss(logits, batch["label"]), batch_size=len(batch["label"]))
        self._val.append((self.targets(batch["label"]).cpu(), self.scores(logits).cpu()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        yt = torch.cat([t for t, _ in self._val]).to(self.device)
        st = torch.cat([p for _, p in self._val]).to(self.device)
        self._val.clear()
        gy, gs = self.all_gather(yt), self.all_gather(st)  # (world, N, C) under DDP, (N, C) otherwise
        assert isinstance(gy, torch.Tensor) and isinstance(gs, torch.Tensor)
        m = multilabel_metrics(gy.reshape(-1, yt.shape[-1]).cpu(), gs.reshape(-1, st.shape[-1]).cpu())
        for key in ("map_macro", "map_micro", "f1_macro", "f1_micro", "f1_minor"):
            self.log(f"val/{key}", float(m[key]), prog_bar=key == "map_macro", sync_dist=False)

    def configure_optimizers(self) -> Any:
        return warmup_cosine(self, self.hparams["config"]["optim"])

    def predict_scores(self, loader: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(targets, scores, patch_ids) of the evaluated classes over a DataLoader, in eval mode."""
        self.eval()
        ys, ss, ids = [], [], []
        with torch.inference_mode():
            for batch in loader:
                ss.append(self.scores(self(batch["image"].to(self.device))).cpu())
                ys.append(self.targets(batch["label"].to(self.device)).cpu())
                ids += list(batch["patch_id"])
        return torch.cat(ys).numpy(), torch.cat(ss).numpy(), ids
