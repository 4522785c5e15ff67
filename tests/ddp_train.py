"""Run by tests/test_training/test_distributed.py: a 2-process CPU DDP classification run (gloo).

Lightning's DDP launcher starts this script again for rank 1. Every rank writes what it saw to
OUT/seen/rank<R>.json: per epoch the global sampler draw and the training/validation sample indices.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from worldclass.compat import ensure_torchvision_importable

ensure_torchvision_importable()

import lightning as L  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from helpers import quick_config  # noqa: E402
from worldclass.training import train  # noqa: E402


class Seen(L.Callback):
    def __init__(self, out: Path) -> None:
        self.out, self.epochs = out, {}  # type: ignore[var-annotated]

    def _epoch(self, trainer: L.Trainer) -> dict[str, Any]:
        return self.epochs.setdefault(str(trainer.current_epoch), {"train": [], "val": [], "draw": []})

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        sampler = trainer.train_dataloader.sampler  # type: ignore[union-attr]
        self._epoch(trainer)["draw"] = sampler.indices().tolist()
        self._epoch(trainer)["world"] = trainer.world_size

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, i: int) -> None:
        self._epoch(trainer)["train"] += list(batch["index"])

    def on_validation_batch_start(
        self, trainer: L.Trainer, module: L.LightningModule, batch: Any, i: int, d: int = 0
    ) -> None:
        if not trainer.sanity_checking:
            self._epoch(trainer)["val"] += list(batch["index"])

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        (self.out / "seen").mkdir(parents=True, exist_ok=True)
        (self.out / "seen" / f"rank{trainer.global_rank}.json").write_text(json.dumps(self.epochs))


if __name__ == "__main__":
    store, out = Path(sys.argv[1]), Path(sys.argv[2])
    cfg = quick_config(
        store,
        out,
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "sampler.name=mros",
        "optim.max_epochs=2",
        "optim.limit_val_batches=null",
        "data.batch_size=4",
        *sys.argv[3:],
    )
    train(cfg, overwrite=True, callbacks=[Seen(out)])
