"""Learning curves: one row per training epoch in ``OUT/curves.csv``, continuous across ``--resume``.

Columns: ``epoch`` (0-based), ``step`` (optimiser steps so far), ``session`` (1 for the first run of the
folder, +1 per resume), ``seconds`` (wall time of the epoch incl. its validation), ``lr`` (first parameter
group, at the end of the epoch), then ``train/<name>`` (mean over the epoch's batches of every metric the
task logs under ``train/``) and ``val/<name>`` (the epoch's validation metrics, e.g. ``val/loss`` and the
task's monitored metric). The rows live in every checkpoint too (this callback's state), so a resumed run
continues from exactly the epochs its ``last.ckpt`` holds: rows of an epoch interrupted before its
checkpoint are dropped instead of doubled.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from worldclass.io import write_text_atomic

#: Name of the curves file inside a run folder.
CURVES = "curves.csv"
FIXED = ("epoch", "step", "session", "seconds", "lr")


class LearningCurves(Callback):
    """Writes ``folder/curves.csv`` after every training epoch (see the module docstring)."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / CURVES
        self.rows: list[dict[str, float]] = []
        self.session = 0
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._start = 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows], "session": self.session}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state_dict.get("rows", [])]
        self.session = int(state_dict.get("session", 0))

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.session += 1

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._sums, self._counts, self._start = {}, {}, time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        for key, value in trainer.callback_metrics.items():  # this step's values of the train/ metrics
            if key.startswith("train/"):
                self._sums[key] = self._sums.get(key, 0.0) + float(value)
                self._counts[key] = self._counts.get(key, 0) + 1

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # runs before the checkpoint callbacks (Lightning calls monitoring callbacks last), so the
        # checkpoint of this epoch already holds its row
        row: dict[str, float] = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "session": self.session,
            "seconds": round(time.perf_counter() - self._start, 3),
            "lr": float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else math.nan,
        }
        row |= {k: self._sums[k] / self._counts[k] for k in sorted(self._sums)}
        row |= {k: float(v) for k, v in sorted(trainer.callback_metrics.items()) if k.startswith("val/")}
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        if trainer.is_global_zero:
            write_text_atomic(self.path, curves_csv(self.rows))


def curves_csv(rows: list[dict[str, float]]) -> str:
    """CSV text of ``rows``: the fixed columns, then every other key in first-seen order."""
    names = list(FIXED)
    for r in rows:
        names += [k for k in r if k not in names]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=names, restval="", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: int(v) if k in ("epoch", "step", "session") else v for k, v in r.items()})
    return buf.getvalue()


def read_curves(folder: str | Path) -> list[dict[str, float]]:
    """The rows of ``folder/curves.csv`` (empty cells -> NaN)."""
    from worldclass.errors import DataError

    path = Path(folder) / CURVES
    try:
        with path.open(newline="") as f:
            return [
                {k: float(v) if v not in ("", None) else math.nan for k, v in r.items()}
                for r in csv.DictReader(f)
            ]
    except FileNotFoundError:
        raise DataError(
            f"{path}: no learning curves; is {Path(folder)} a run folder of `worldclass train`?"
        ) from None
    except (OSError, ValueError, csv.Error) as exc:
        raise DataError(f"{path}: unreadable learning curves ({exc}); re-run the training") from None
