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

    def gather_unique(self, index: torch.Tensor, *values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Per-sample rows of every rank, each sample once, ordered by sample ``index`` (N,) int64.

        Under DDP the validation/test sampler repeats samples so that every rank gets as many (Lightning's
        DistributedSampler pads the last shard), and with the training sampler kept (MROS) every rank sees the
        whole validation set: metrics over the gathered rows would count those samples twice. ``values``:
        tensors with N rows. Returns (index, *values) of the unique samples; one process: sorted, unchanged."""
        gi = self.all_gather(index)
        assert isinstance(gi, torch.Tensor)
        flat = gi.reshape(-1)
        gathered = []
        for v in values:
            g = self.all_gather(v)
            assert isinstance(g, torch.Tensor)
            gathered.append(g.reshape(-1, *v.shape[1:]))
        order = torch.argsort(flat, stable=True)
        ordered = flat[order]
        first = torch.ones_like(ordered, dtype=torch.bool)
        first[1:] = ordered[1:] != ordered[:-1]
        keep = order[first]
        return (flat[keep], *(g[keep] for g in gathered))

    def configure_optimizers(self) -> Any:
        return warmup_cosine(self, self.config["optim"])
