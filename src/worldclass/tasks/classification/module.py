"""LightningModule for multi-label scene classification (model + loss + optimiser; data stays outside)."""

from __future__ import annotations

from typing import Any

import torch

from worldclass.losses import build_loss
from worldclass.metrics import multilabel_metrics
from worldclass.models.classifier import SceneClassifier
from worldclass.tasks.classification.robust import RobustTraining
from worldclass.tasks.module import TaskModule


class ClassificationModule(TaskModule):
    """A :class:`SceneClassifier` trained with the configured loss; validation logs macro/micro AP and F1
    of the evaluated classes (attribute encoding: scores and targets mapped 43 -> 19 by the model).
    ``train_counts``/``n_train`` (per output class) initialise CW/DCW class weights; ``eval_counts`` (the
    training positives of each evaluated class, i.e. the 19 parents under attribute encoding) weight the
    minority F1, in validation and in :func:`~worldclass.tasks.classification.evaluate.evaluate`.
    ``config["robust"]``: noise-robust training (:mod:`worldclass.tasks.classification.robust`); its parts
    train beside ``model`` and are not part of the loaded model."""

    channels_last_ok = True

    def __init__(
        self,
        config: dict[str, Any],
        meta: dict[str, Any],
        train_counts: list[int],
        n_train: int,
        eval_counts: list[int] | None = None,
    ) -> None:
        super().__init__(config, meta)
        self.save_hyperparameters()
        lc = config["loss"]
        spec = self.meta.model["kwargs"]
        self.model: SceneClassifier = SceneClassifier(**spec, pretrained=config["model"]["pretrained"])
        extra: dict[str, Any] = {}
        if lc["name"] in ("cw", "dcw"):
            extra = {"power": lc["power"], "max_weight": lc["max_weight"]}
        elif lc["name"] == "focal":
            extra = {"alpha": lc["alpha"], "gamma": lc["gamma"]}
        elif lc["name"] == "smooth":
            extra = {"eps": lc["smoothing"]}
        self.loss = build_loss(lc["name"], spec["num_classes"], train_counts, n_train, **extra)
        rc = config.get("robust") or {"method": "none"}
        self.robust = RobustTraining(rc, self.model, n_train) if rc["method"] != "none" else None
        self._val: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)
        return out

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        n = len(batch["label"])
        if self.robust is None:
            loss: torch.Tensor = self.loss(self(batch["image"]), batch["label"])
        else:
            parts = self.robust.loss(self.model, self.loss, batch, self.current_epoch)
            loss = parts.pop("loss")
            for key, value in parts.items():
                self.log(f"train/{key}", value.float(), batch_size=n)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self(batch["image"])
        self.log(
            "val/loss", self.loss(logits, batch["label"]), batch_size=len(batch["label"]), sync_dist=True
        )
        index = torch.as_tensor(batch["index"], dtype=torch.int64)
        self._val.append((self.model.targets(batch["label"]).cpu(), self.model.scores(logits).cpu(), index))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        yt = torch.cat([t for t, _, _ in self._val]).to(self.device)
        st = torch.cat([p for _, p, _ in self._val]).to(self.device)
        it = torch.cat([i for _, _, i in self._val]).to(self.device)
        self._val.clear()
        _, gy, gs = self.gather_unique(it, yt, st)  # every validation patch once, whatever the ranks saw
        counts = self.hparams["eval_counts"] or (
            self.hparams["train_counts"] if not self.model.attribute_encoding else None
        )
        m = multilabel_metrics(gy.cpu(), gs.cpu(), train_counts=counts)
        for key in ("map_macro", "map_micro", "f1_macro", "f1_micro", "f1_minor"):
            self.log(f"val/{key}", float(m[key]), prog_bar=key == "map_macro", sync_dist=False)
