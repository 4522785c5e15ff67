"""The fit loop: run any registered task with Lightning (seed, output folder, callbacks, loggers,
best/last checkpoints on the task's monitored metric, early stopping, exact resume).

Writes ``OUT/config.json``, ``OUT/checkpoints/{best,last}.ckpt``, ``OUT/curves.csv`` (one row per epoch,
continuous across resumes; :mod:`worldclass.training.curves`), Lightning's step logs under ``OUT/logs``
(a ``version_N`` per session) and TensorBoard under ``OUT/tb`` when the ``tensorboard`` extra is installed. ``resume`` continues from ``last.ckpt`` with the optimiser,
scheduler, loop counters, callbacks and the random-number states of Python, NumPy and torch, so
2 epochs + resume for 1 give the same weights as 3 epochs in one go.
"""

from __future__ import annotations

import importlib.util
import logging
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.plugins.io import TorchCheckpointIO

from worldclass.config import ExperimentConfig
from worldclass.errors import ConfigError
from worldclass.io import atomic_path, write_json_atomic
from worldclass.tasks import get_task
from worldclass.training.curves import LearningCurves


@dataclass
class TrainResult:
    """``best_checkpoint`` (best monitored value), ``last_checkpoint``, ``best_score``, ``monitor`` (the
    metric name), ``epochs`` run in total, ``out`` folder."""

    best_checkpoint: Path
    last_checkpoint: Path
    best_score: float
    monitor: str
    epochs: int
    out: Path


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written under a temporary name and renamed when complete: an interrupt or a full disk
    while ``last.ckpt`` is saved leaves the previous one intact, so ``--resume`` always finds a whole file."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)


class RandomState(Callback):
    """Keeps the Python, NumPy and torch (CPU and CUDA) random states in every checkpoint and restores
    them on resume, so data order, augmentation and dropout continue as in an uninterrupted run."""

    def state_dict(self) -> dict[str, Any]:
        kind, key, pos, has_gauss, cached = np.random.get_state(legacy=True)
        state: dict[str, Any] = {
            "python": random.getstate(),
            "numpy": [kind, torch.from_numpy(np.asarray(key).astype(np.int64)), pos, has_gauss, cached],
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        py = state_dict["python"]
        random.setstate((py[0], tuple(py[1]), py[2]))
        kind, key, *rest = state_dict["numpy"]
        np.random.set_state((kind, np.asarray(key).astype(np.uint32), *rest))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class QuietProgressBar(RichProgressBar):
    """Lightning's rich progress bar without the logger's version number (``v_num``) beside the metrics."""

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        items: dict[str, Any] = dict(super().get_metrics(trainer, pl_module))
        items.pop("v_num", None)
        return items


def _precision(cfg: ExperimentConfig) -> str:
    if cfg.trainer.precision != "auto":
        return cfg.trainer.precision
    return "bf16-mixed" if torch.cuda.is_available() else "32-true"


def quiet_lightning() -> None:
    """Keep the console to progress bars and our own lines: no tips, no framework notices."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
    warnings.filterwarnings(
        "ignore", message=".*overridden `on_after_batch_transfer`.*"
    )  # ours: the GPU path
    warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")  # frozen base of a refiner
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="lightning.*")
    # DDP: epoch metrics are computed from the gathered samples (identical on every rank), so Lightning's
    # sync_dist advice does not apply; its own all_gather uses a torch API torch now calls deprecated
    warnings.filterwarnings("ignore", message=".*when logging on epoch level in distributed setting.*")
    warnings.filterwarnings("ignore", message=".*all_gather is deprecated.*")


def train(
    cfg: ExperimentConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train ``cfg`` with its task; see the module docstring for what is written and how resume works.
    A run folder that already holds checkpoints is refused unless ``resume`` (continue it) or
    ``overwrite`` (replace its checkpoints). ``callbacks``: extra Lightning callbacks."""
    task = get_task(cfg.task)
    out = Path(cfg.trainer.out)
    last = out / "checkpoints" / "last.ckpt"
    if resume and not last.is_file():
        raise ConfigError(f"{last}: nothing to resume; run without --resume to start this run")
    old = sorted((out / "checkpoints").glob("*.ckpt")) if (out / "checkpoints").is_dir() else []
    if old and not resume and not overwrite:
        raise ConfigError(
            f"{out}: holds the checkpoints of an earlier run; pass --resume to continue it, --overwrite to "
            "replace it, or choose another trainer.out"
        )
    if overwrite and not resume:
        for path in old:
            path.unlink()
    quiet_lightning()
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    setup = task.setup(cfg)
    extra = [*setup.callbacks, *callbacks]
    return fit(cfg, setup.module, setup.datamodule, task.monitor, extra, resume=resume, mode=task.mode)


def fit(
    cfg: ExperimentConfig,
    module: L.LightningModule,
    dm: L.LightningDataModule,
    monitor: str,
    extra: list[Callback],
    *,
    resume: bool = False,
    mode: str = "max",
) -> TrainResult:
    """Lightning fit of ``module`` on ``dm`` with best/last checkpoints on ``monitor`` (``mode`` max/min),
    early stopping, CSV (+TB) logs and :class:`RandomState`."""
    out = Path(cfg.trainer.out)
    ckpt_dir = out / "checkpoints"
    # both saved at the end of each training epoch (after its validation), so a resumed run starts the
    # next epoch; ``last`` every epoch (Lightning's save_last is skipped when the best did not improve)
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=monitor,
        mode=mode,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    latest = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="last",
        monitor=None,
        save_top_k=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    callbacks: list[Callback] = [
        checkpoint,
        latest,
        EarlyStopping(monitor=monitor, mode=mode, patience=cfg.optim.patience),
        RandomState(),
        LearningCurves(out),
        *extra,
    ]
    if cfg.trainer.progress:
        callbacks.append(QuietProgressBar())
    loggers: list[Any] = [L.pytorch.loggers.CSVLogger(out, name="logs")]
    if importlib.util.find_spec("tensorboard") is not None:  # the optional extra: one folder per run,
        # resumed runs add event files to it (TensorBoard joins them by step)
        loggers.append(
            L.pytorch.loggers.TensorBoardLogger(out, name="tb", version=0, default_hp_metric=False)
        )
    last = ckpt_dir / "last.ckpt"
    trainer = L.Trainer(
        default_root_dir=out,
        max_epochs=cfg.optim.max_epochs,
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        num_nodes=cfg.trainer.num_nodes,
        strategy=cfg.trainer.strategy,
        precision=_precision(cfg),  # type: ignore[arg-type]
        callbacks=callbacks,
        logger=loggers,
        deterministic="warn",
        enable_progress_bar=cfg.trainer.progress,
        log_every_n_steps=5,
        limit_train_batches=cfg.optim.limit_train_batches,
        limit_val_batches=cfg.optim.limit_val_batches,
        use_distributed_sampler=not _has_sampler(cfg),
        enable_model_summary=False,
        num_sanity_val_steps=0 if resume else 2,
        plugins=[AtomicCheckpointIO()],  # a resumed run continues the RNG stream unchanged
    )
    # written once Lightning accepted the trainer settings, so a refused run leaves the folder as it was
    write_json_atomic(out / "config.json", cfg.to_dict())
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resume else None)
    except SystemExit:  # Lightning turns Ctrl-C into exit(1) after its graceful shutdown
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else last
    score = checkpoint.best_model_score
    return TrainResult(
        best, last, float(score) if score is not None else float("nan"), monitor, trainer.current_epoch, out
    )


def _has_sampler(cfg: ExperimentConfig) -> bool:
    sampler = cfg.sections.get("sampler")
    return sampler is not None and getattr(sampler, "name", "none") != "none"
