"""The optimiser recipe shared by classification and self-supervised runs: AdamW, linear warm-up from
lr/10, then cosine decay to lr/10, stepped per batch."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch


def warmup_cosine(module: L.LightningModule, oc: dict[str, Any]) -> dict[str, Any]:
    """Lightning ``configure_optimizers`` result for the ``optim`` config section ``oc``."""
    opt = torch.optim.AdamW(module.parameters(), lr=oc["lr"], weight_decay=oc["weight_decay"])
    total = max(int(module.trainer.estimated_stepping_batches), 1)
    warm = min(int(oc["warmup_steps"]), max(total // 10, 1))

    def factor(step: int) -> float:
        if step < warm:
            return 0.1 + 0.9 * step / warm
        t = (step - warm) / max(total - warm, 1)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
