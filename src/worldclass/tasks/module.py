"""The LightningModule base of every task: one optimiser recipe, the trained model under ``model``."""

from __future__ import annotations

from typing import Any

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # lightning imports torchvision through torchmetrics

import lightning as L  # noqa: E402
import torch  # noqa: E402

from worldclass.models.checkpoint import ModelMeta  # noqa: E402
from worldclass.tasks.schedule import warmup_cosine  # noqa: E402


class TaskModule(L.LightningModule):
    """Base of every task's LightningModule: hyper-parameters ``config`` (the run config as a dict) and
    ``meta`` (:class:`ModelMeta`, which holds the model spec); the trained ``nn.Module`` is ``self.model``
    (its weights are ``state_dict['model.*']``, what :func:`worldclass.models.load_model` reads)."""

    model: torch.nn.Module

    def __init__(self, config: dict[str, Any], meta: dict[str, Any]) -> None:
        super().__init__()
        self.meta = ModelMeta.from_dict(meta)
        self.config = config

    def configure_optimizers(self) -> Any:
        return warmup_cosine(self, self.config["optim"])
