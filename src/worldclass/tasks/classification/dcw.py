"""Dynamic class weights (DCW) as a Lightning callback."""

from __future__ import annotations

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Callback

from worldclass.data.sampling import IndexListSampler, MROSSampler
from worldclass.losses import WeightedBCE


class DynamicClassWeights(Callback):
    """DCW: before each epoch, set BCE ``pos_weight`` from the label counts of the samples that epoch
    draws (the sampler's draw for MROS / ML-ROS, every training sample otherwise). ``labels``: (N, C)
    multi-hot labels of the training split, in dataset order."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels
        self.history: list[np.ndarray] = []  # pos_weight set at each epoch start (for inspection)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loss = getattr(pl_module, "loss", None)
        if not isinstance(loss, WeightedBCE) or not loss.dynamic:
            return
        loader = trainer.train_dataloader
        sampler = getattr(loader, "sampler", None)
        if isinstance(sampler, MROSSampler | IndexListSampler):
            sampler.set_epoch(trainer.current_epoch)
            drawn = sampler.indices().numpy()
        else:
            drawn = np.arange(len(self.labels))
        loss.update(self.labels[drawn].sum(0), len(drawn))
        self.history.append(loss.get_buffer("pos_weight").cpu().numpy().copy())
