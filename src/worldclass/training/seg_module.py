"""LightningModule for semantic segmentation (segmenter [+ refiner] + CE / soft-IoU loss).

Validation accumulates confusion matrices per group (Inria: city) over all pixels and logs ``val/iou``
(building IoU for two classes, else mean IoU), ``val/accuracy`` and ``val/miou``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import torch

from worldclass.errors import ConfigError
from worldclass.metrics.segmentation import ConfusionAccumulator, confusion_metrics
from worldclass.models.checkpoint import ModelMeta, load_task_module, read_checkpoint
from worldclass.models.segmenter import SegmentationNet, load_encoder_weights
from worldclass.training.seg_losses import SegmentationLoss


class SegmentationModule(L.LightningModule):
    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.meta = ModelMeta.from_dict(meta)
        mc = config["model"]
        k = len(self.meta.classes)
        self.net = SegmentationNet(
            mc["arch"], mc["encoder"], len(self.meta.bands), k, refine_steps=mc["refine_steps"]
        )
        self.loss = SegmentationLoss(config["loss"]["name"])
        self._val = ConfusionAccumulator(k)

    def initialise(self) -> None:
        """Fresh-run weights: ``init_from`` checkpoint (base weights) or a local ``pretrained`` encoder."""
        mc = self.hparams["config"]["model"]
        if mc["init_from"]:
            ckpt = read_checkpoint(mc["init_from"])
            state, src_meta = ckpt["state_dict"], ckpt["hyper_parameters"]["meta"]
            self.meta.check_data(src_meta["bands"], source=mc["init_from"])
            base = {k[len("net.base.") :]: v for k, v in state.items() if k.startswith("net.base.")}
            self.net.base.load_state_dict(base)
        elif mc["pretrained"]:
            load_encoder_weights(self.net, mc["pretrained"])
        if mc["freeze_base"]:
            if self.net.refiner is None:
                raise ConfigError("model.freeze_base trains only the refiner: set model.refine_steps > 0")
            self.net.freeze_base()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss: torch.Tensor = self.loss(self(batch["image"]), batch["mask"])
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["mask"]))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self(batch["image"])
        self.log("val/loss", self.loss(logits, batch["mask"]), batch_size=len(batch["mask"]))
        pred = logits.argmax(1).cpu().numpy()
        ref = batch["mask"].cpu().numpy()
        for i, group in enumerate(batch["group"]):
            self._val.update(ref[i], pred[i], group)

    def on_validation_epoch_end(self) -> None:
        conf = torch.from_numpy(self._val.overall()).to(self.device)
        self._val = ConfusionAccumulator(len(self.meta.classes))
        total = self.all_gather(conf)
        assert isinstance(total, torch.Tensor)
        m = confusion_metrics(total.reshape(-1, *conf.shape).sum(0).cpu().numpy(), self.meta.classes)
        for key in ("iou", "miou", "accuracy"):
            value = m[key]
            self.log(f"val/{key}", 0.0 if math.isnan(value) else value, prog_bar=key == "iou")

    def configure_optimizers(self) -> Any:
        oc = self.hparams["config"]["optim"]
        params = [p for p in self.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=oc["lr"], weight_decay=oc["weight_decay"])
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=oc["lr"], total_steps=total, pct_start=0.1)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def load_segmentation_module(path: str | Path) -> SegmentationModule:
    """Rebuild a trained segmentation module (weights from the checkpoint; nothing else is read)."""
    return load_task_module(path, "segmentation", lambda hp: SegmentationModule(hp["config"], hp["meta"]))
