"""LightningModule for semantic segmentation (segmenter [+ refiner] + CE / soft-IoU loss).

Validation accumulates confusion matrices per group (Inria: city) over all pixels and logs ``val/iou``
(building IoU for two classes, else mean IoU), ``val/accuracy`` and ``val/miou``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from worldclass.errors import ConfigError
from worldclass.losses import SegmentationLoss
from worldclass.losses.frame_field import FrameFieldLoss
from worldclass.metrics.segmentation import ConfusionAccumulator, confusion_metrics
from worldclass.models.checkpoint import model_state, read_checkpoint
from worldclass.models.segmenter import SegmentationNet, load_encoder_weights
from worldclass.tasks.module import TaskModule


class SegmentationModule(TaskModule):
    channels_last_ok = True

    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__(config, meta)
        self.save_hyperparameters()
        spec = self.meta.model["kwargs"]
        self.model: SegmentationNet = SegmentationNet(
            spec["arch"],
            spec["encoder"],
            spec["in_channels"],
            spec["num_classes"],
            refine_steps=spec["refine_steps"],
            frame_field=spec.get("frame_field", False),
        )
        self.loss = SegmentationLoss(config["loss"]["name"])
        self.field_loss = (
            FrameFieldLoss(spec["frame_field_classes"]) if spec.get("frame_field", False) else None
        )
        self._val: list[tuple[int, torch.Tensor]] = []

    def initialise(self) -> None:
        """Fresh-run weights: ``init_from`` checkpoint (base weights) or a local ``pretrained`` encoder."""
        mc = self.config["model"]
        mode, source = mc.get("init_mode", "finetune"), mc["init_from"]
        encoder: nn.Module = self.model.base.encoder  # type: ignore[assignment]
        ckpt = read_checkpoint(source) if source else None  # read once, whichever kind it is
        if ckpt is not None and ckpt["hyper_parameters"]["meta"]["task"] != "segmentation":
            self.init_encoder(encoder, source, mode, checkpoint=ckpt)  # the encoder of a self-supervised run
        else:
            if ckpt is not None:
                self.meta.check_data(ckpt["hyper_parameters"]["meta"]["bands"], source=source)
                state = model_state(ckpt["state_dict"])
                self.model.base.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("base.")})
            elif mc["pretrained"]:
                load_encoder_weights(self.model, mc["pretrained"])
            self.init_encoder(encoder, None, mode)  # linear: the encoder stays as loaded
        if mc["freeze_base"]:
            if self.model.refiner is None:
                raise ConfigError("model.freeze_base trains only the refiner: set model.refine_steps > 0")
            self.model.freeze_base()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)
        return out

    def _losses(self, batch: dict[str, Any], stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, total loss); the frame-field loss is logged apart when the head is on."""
        logits, field = self.model.forward_all(batch["image"])
        loss: torch.Tensor = self.loss(logits, batch["mask"])
        if self.field_loss is not None and field is not None:
            extra = self.field_loss(field, batch["mask"])
            self.log(f"{stage}/frame_field", extra, batch_size=len(batch["mask"]))
            loss = loss + extra
        return logits, loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self._losses(batch, "train")[1]
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["mask"]))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits, loss = self._losses(batch, "val")
        self.log("val/loss", loss, batch_size=len(batch["mask"]), sync_dist=True)
        pred = logits.argmax(1).cpu().numpy()
        ref = batch["mask"].cpu().numpy()
        k = len(self.meta.classes)
        for i, index in enumerate(batch["index"]):  # one confusion matrix per window, deduplicated at the end
            acc = ConfusionAccumulator(k)
            acc.update(ref[i], pred[i])
            self._val.append((int(index), torch.from_numpy(acc.overall())))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        index = torch.tensor([i for i, _ in self._val], dtype=torch.int64, device=self.device)
        confs = torch.stack([c for _, c in self._val]).to(self.device)
        self._val = []
        _, unique = self.gather_unique(index, confs)  # each window once across ranks
        m = confusion_metrics(unique.sum(0).cpu().numpy(), self.meta.classes)
        for key in ("iou", "miou", "accuracy"):
            value = m[key]
            self.log(f"val/{key}", 0.0 if math.isnan(value) else value, prog_bar=key == "iou")
