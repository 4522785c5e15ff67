"""``worldclass evaluate`` of a regression checkpoint: RMSE, MAE and R^2 per target on a split, without
Lightning; writes ``metrics.json`` and ``predictions.csv`` (patch id, target, prediction)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from worldclass.data.collate import collate
from worldclass.data.fractions import class_fractions, target_classes
from worldclass.io import atomic_open, write_json_atomic
from worldclass.metrics.regression import regression_metrics


@torch.inference_mode()
def evaluate_regression(
    checkpoint: str | Path,
    *,
    data: str | Path | None = None,
    split: str = "test",
    out: Path | None = None,
    batch_size: int = 64,
    workers: int = 0,
) -> dict[str, Any]:
    """Metrics of a regression checkpoint on ``split`` of ``data`` (default: its training data)."""
    from worldclass.models.checkpoint import load_model
    from worldclass.tasks.classification.evaluate import dataset_for

    model, meta = load_model(checkpoint)
    names = list(meta.classes)
    groups = target_classes(names)
    root = data or meta.config["data"]["root"]
    ds = dataset_for(meta, root, split, return_mask=True)
    device = next(model.parameters()).device
    preds, ys, ids = [], [], []
    for batch in DataLoader(ds, batch_size=batch_size, num_workers=workers, collate_fn=collate):
        preds.append(model(batch["image"].to(device)).float().cpu())
        ys.append(class_fractions(batch["mask"], groups))
        ids += list(batch["patch_id"])
    pred, y = torch.cat(preds).numpy(), torch.cat(ys).numpy()
    result = regression_metrics(pred, y, names) | {
        "split": split,
        "data": str(root),
        "checkpoint": str(checkpoint),
        "patches": len(ids),
        "method": meta.model["kwargs"]["method"],
        "per_class": {},
    }
    result["per_class"] = {n: v["r2"] for n, v in result["per_target"].items()}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_open(out / "predictions.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["patch_id", *(f"{n} target" for n in names), *(f"{n} predicted" for n in names)])
            for i, pid in enumerate(ids):
                w.writerow([pid, *np.round(y[i], 6), *np.round(pred[i], 6)])
        write_json_atomic(out / "metrics.json", result)
    return result
