"""``worldclass evaluate``: checkpoint + data split -> metrics.json, per_class.csv, report.html."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from worldclass.data.collate import collate
from worldclass.data.dataset import BigEarthNet
from worldclass.errors import DataError
from worldclass.metrics import multilabel_metrics, tune_thresholds
from worldclass.models.checkpoint import ModelMeta, load_task_module
from worldclass.training.module import ClassificationModule


def load_module(path: str | Path) -> ClassificationModule:
    """Rebuild a trained module from a checkpoint (no pretrained file, no network needed)."""

    def build(hp: dict[str, Any]) -> ClassificationModule:
        hp["config"]["model"]["pretrained"] = None  # weights come from the checkpoint
        return ClassificationModule(**hp)

    return load_task_module(path, "classification", build)


def dataset_for(
    meta: ModelMeta, root: str | Path, split: str, *, bands: list[str] | None = None
) -> BigEarthNet:
    """The dataset a checkpoint expects (its bands, class set and preprocessing); refuses other bands."""
    if bands is not None:
        meta.check_data(bands, source=str(root))
    pre, cfg = meta.preprocessing, meta.config["data"]
    sensors = tuple(s for s in ("s2", "s1") if any((b in ("VV", "VH")) == (s == "s1") for b in meta.bands))
    ds = BigEarthNet(
        root, split=split, sensors=sensors, bands=list(meta.bands),
        num_classes=len(meta.output_classes), resampling=pre["resampling"], normalize=pre["normalize"],
        include_snow_cloud=cfg.get("include_snow_cloud", False), return_mask=False,
    )  # fmt: skip
    meta.check_data(ds.bands, source=str(root))
    return ds


def _predict(module: ClassificationModule, ds: BigEarthNet, batch_size: int, workers: int) -> tuple[Any, Any]:
    loader = DataLoader(ds, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    y, s, _ = module.predict_scores(loader)
    return y, s


def evaluate(
    checkpoint: str | Path,
    *,
    data: str | Path | None = None,
    split: str = "test",
    out: str | Path | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    tune: bool = False,
    bands: list[str] | None = None,
    report: bool = True,
    return_arrays: bool = False,
) -> dict[str, Any]:
    """Metrics of a checkpoint on ``split`` of ``data`` (default: the training data). With ``tune``,
    per-class thresholds maximising validation F1 are used. Writes files to ``out`` when given."""
    module = load_module(checkpoint)
    meta = module.meta
    root = data or meta.config["data"]["root"]
    ds = dataset_for(meta, root, split, bands=bands)
    y, s = _predict(module, ds, batch_size, num_workers)
    threshold: Any = 0.5
    if tune:
        yv, sv = _predict(module, dataset_for(meta, root, "validation"), batch_size, num_workers)
        threshold = tune_thresholds(yv, sv)
    counts = _train_counts(module, meta, root)
    result = multilabel_metrics(y, s, threshold=threshold, train_counts=counts, names=meta.classes)
    result.update(split=ds.split, data=str(root), checkpoint=str(checkpoint), train_counts=counts.tolist())
    if out is not None:
        _write(Path(out), result, y, s, meta, report)
    if return_arrays:  # for reports built by the caller; not JSON-serialisable
        result["_targets"], result["_scores"] = y, s
    return result


def _train_counts(module: ClassificationModule, meta: ModelMeta, root: str | Path) -> np.ndarray:
    if meta.nomenclature != "43->19":
        return np.asarray(module.hparams["train_counts"], dtype=np.int64)
    try:
        ds = BigEarthNet(
            root, split="train", sensors=("s2",) if "B02" in meta.bands else ("s1",), num_classes=19
        )
        return np.asarray(ds.labels().sum(0), dtype=np.int64)
    except DataError:
        return np.ones(len(meta.classes), int)


def _write(out: Path, result: dict[str, Any], y: Any, s: Any, meta: ModelMeta, report: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=1))
    with (out / "per_class.csv").open("w", newline="") as f:
        rows = result["per_class"]
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    if report:
        from worldclass.report import Report

        r = Report(f"worldclass evaluation: {Path(result['checkpoint']).name} on {result['split']}")
        add_metrics_section(r, result, y, s, meta.classes)
        r.write(out, "report.html")


def add_metrics_section(r: Any, result: dict[str, Any], y: Any, s: Any, names: list[str]) -> None:
    """Summary table, per-class table and the three evaluation plots."""
    from worldclass.report import eval_plots as ep

    r.heading("Summary")
    r.table(
        ["average", "F1", "precision", "recall", "balanced acc.", "mAP"],
        [[a, result[f"f1_{a}"], result[f"precision_{a}"], result[f"recall_{a}"], result[f"bacc_{a}"],
          result.get(f"map_{a}", float("nan"))] for a in ("micro", "macro", "minor")],
    )  # fmt: skip
    r.heading("Per class")
    r.table(
        ["class", "support", "F1", "precision", "recall", "AP", "minor weight"],
        [[p["name"], p["support"], p["f1"], p["precision"], p["recall"], p["ap"], p["weight_minor"]]
         for p in result["per_class"]],
    )  # fmt: skip
    r.figure(ep.f1_vs_frequency(result["per_class"], result["train_counts"]), "F1 vs frequency")
    r.figure(ep.pr_curves(np.asarray(y), np.asarray(s), names), "precision-recall curves")
    r.figure(ep.cooccurrence(np.asarray(y), names), "label co-occurrence")
