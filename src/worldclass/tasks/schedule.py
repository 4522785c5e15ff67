"""The one optimiser recipe of every task: AdamW over the trainable parameters, linear warm-up from lr/10
over ``min(warmup_steps, 10 % of all steps)`` optimiser steps (so a short run still reaches its peak
rate), then cosine decay to lr/10 at the last step; stepped per batch."""

from __future__ import annotations

import math
from typing import Any

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()  # lightning imports torchvision through torchmetrics

import lightning as L  # noqa: E402
import torch  # noqa: E402


def warmup_steps(total: int, requested: int) -> int:
    """Warm-up length actually used for ``total`` optimiser steps (see module docstring)."""
    return max(min(int(requested), max(total // 10, 1)), 1)


def lr_factor(step: int, total: int, warm: int) -> float:
    """Multiplier of the peak learning rate at optimiser ``step`` (0-based)."""
    if step < warm:
        return 0.1 + 0.9 * step / warm
    t = (step - warm) / max(total - warm, 1)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def warmup_cosine(module: L.LightningModule, oc: dict[str, Any]) -> dict[str, Any]:
    """Lightning ``configure_optimizers`` result for the ``optim`` config section ``oc``."""
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=oc["lr"], weight_decay=oc["weight_decay"])
    total = max(int(module.trainer.estimated_stepping_batches), 1)
    warm = warmup_steps(total, oc["warmup_steps"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, total, warm))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
