"""Classification evaluation: checkpoint + data split -> metrics.json, per_class.csv, report.html.

Needs no Lightning: the model comes from :func:`worldclass.models.load_model`'s reader, the data from the
dataset registry with the checkpoint's bands, classes and preprocessing.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from worldclass.data.collate import collate
from worldclass.datasets import data_section, get_dataset
from worldclass.errors import DataError
from worldclass.io import atomic_open, write_json_atomic
from worldclass.metrics import multilabel_metrics, tune_thresholds
from worldclass.models.checkpoint import ModelMeta, model_from_checkpoint, read_checkpoint
from worldclass.models.classifier import SceneClassifier
from worldclass.tasks.base import Progress


def dataset_for(
    meta: ModelMeta,
    root: str | Path,
    split: str,
    *,
    bands: list[str] | None = None,
    return_mask: bool = False,
) -> Any:
    """The dataset a checkpoint expects (its bands, class set and preprocessing); refuses other bands.
    ``return_mask``: samples carry the reference map (19-class indices) too."""
    if bands is not None:
        meta.check_data(bands, source=str(root))
    pre = meta.preprocessing
    data = data_section(meta.config, root)
    ds: Any = get_dataset(meta.dataset or data.dataset).open(
        data,
        split,
        sensors=tuple(s for s in ("s2", "s1") if any((b in ("VV", "VH")) == (s == "s1") for b in meta.bands)),
        bands=list(meta.bands),
        resampling=pre["resampling"],
        normalize=pre["normalize"],
        return_mask=return_mask,
    )
    meta.check_data(ds.bands, source=str(root))
    return ds


@torch.inference_mode()
def predict_scores(
    model: SceneClassifier, ds: Any, batch_size: int = 64, workers: int = 0, progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(targets, scores, patch_ids) of the evaluated classes over ``ds``; ``progress(done, total)``."""
    loader = DataLoader(ds, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    device = next(model.parameters()).device
    ys, ss, ids = [], [], []
    for batch in loader:
        ss.append(model.scores(model(batch["image"].to(device))).cpu())
        ys.append(model.targets(batch["label"].to(device)).cpu())
        ids += list(batch["patch_id"])
        if progress is not None:
            progress(len(ids), len(ds))
    return torch.cat(ys).numpy(), torch.cat(ss).numpy(), ids


def evaluate(
    checkpoint: str | Path,
    *,
    data: str | Path | None = None,
    split: str = "test",
    out: str | Path | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    tune: bool | None = None,
    bands: list[str] | None = None,
    report: bool = True,
    return_arrays: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Metrics of a checkpoint on ``split`` of ``data`` (default: the training data). With ``tune``
    (default: the run's ``trainer.threshold_tuning``), per-class thresholds maximising validation F1 are
    used. Writes files to ``out`` when given."""
    ckpt = read_checkpoint(checkpoint)
    model, meta = model_from_checkpoint(ckpt, checkpoint)
    assert isinstance(model, SceneClassifier)
    hp = ckpt["hyper_parameters"]
    root = data or meta.config["data"]["root"]
    if tune is None:
        tune = bool(meta.config.get("trainer", {}).get("threshold_tuning", False))
    ds = dataset_for(meta, root, split, bands=bands)
    y, s, _ = predict_scores(model, ds, batch_size, num_workers, progress)
    threshold: Any = 0.5
    if tune:
        yv, sv, _ = predict_scores(model, dataset_for(meta, root, "validation"), batch_size, num_workers)
        threshold = tune_thresholds(yv, sv)
    counts, weights = _train_counts(hp, meta, root)
    result = multilabel_metrics(y, s, threshold=threshold, train_counts=counts, names=meta.classes)
    result.update(
        split=ds.split,
        data=str(root),
        checkpoint=str(checkpoint),
        train_counts=None if counts is None else counts.tolist(),
        minor_weights=weights,
        thresholds="tuned on validation" if tune else 0.5,
    )
    if tune:  # reused by `worldclass predict --thresholds OUT/thresholds.json`
        result["tuned_thresholds"] = dict(zip(meta.classes, map(float, threshold), strict=True))
    if counts is None:  # without training counts, "minor" would silently be another average
        result.update({k: None for k in list(result) if k.endswith("_minor")})
    if out is not None:
        _write(Path(out), result, y, s, meta, report)
    if return_arrays:  # for reports built by the caller; not JSON-serialisable
        result["_targets"], result["_scores"] = y, s
    return result


def _train_counts(hp: dict[str, Any], meta: ModelMeta, root: str | Path) -> tuple[np.ndarray | None, str]:
    """Training positives of the evaluated classes (weights of the minority F1) and where they came from.

    Checkpoints store them (``eval_counts``); older attribute-encoding checkpoints re-read the training
    split. When that fails the minority averages are refused (None) and the reason is returned: never
    "minor" as a quiet "macro".
    """
    if hp.get("eval_counts"):
        return np.asarray(hp["eval_counts"], dtype=np.int64), "training counts stored in the checkpoint"
    if meta.nomenclature != "43->19":
        return np.asarray(hp["train_counts"], dtype=np.int64), "training counts stored in the checkpoint"
    try:
        from worldclass.data.dataset import BigEarthNet

        ds = BigEarthNet(
            root, split="train", sensors=("s2",) if "B02" in meta.bands else ("s1",), num_classes=19
        )
        return np.asarray(ds.labels().sum(0), dtype=np.int64), f"training counts re-read from {root}"
    except DataError as e:
        return None, f"unavailable (no f1/precision/recall/bacc_minor): cannot re-read training counts: {e}"


def _write(out: Path, result: dict[str, Any], y: Any, s: Any, meta: ModelMeta, report: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "per_class.csv", "w", newline="") as f:
        rows = result["per_class"]
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    if "tuned_thresholds" in result:
        write_json_atomic(out / "thresholds.json", result["tuned_thresholds"])
    if report:
        from worldclass.report import Report

        r = Report(f"worldclass evaluation: {Path(result['checkpoint']).name} on {result['split']}")
        add_metrics_section(r, result | {"_targets": y, "_scores": s})
        r.write(out, "report.html")
    write_json_atomic(out / "metrics.json", result)  # last: the headline file appears when all is written


def add_metrics_section(r: Any, result: dict[str, Any]) -> None:
    """Summary table, per-class table and (when ``result`` holds ``_targets``/``_scores``) the three
    evaluation plots."""
    from worldclass.report import eval_plots as ep

    names = [p["name"] for p in result["per_class"]]
    r.heading("Summary")
    r.table(
        ["average", "F1", "precision", "recall", "balanced acc.", "mAP"],
        [
            [
                a,
                result[f"f1_{a}"],
                result[f"precision_{a}"],
                result[f"recall_{a}"],
                result[f"bacc_{a}"],
                result.get(f"map_{a}", float("nan")),
            ]
            for a in ("micro", "macro", "minor")
        ],
    )
    if result.get("excluded_classes"):
        r.text(
            "Left out of the macro and minor averages (no positive in this split): "
            + ", ".join(map(str, result["excluded_classes"]))
            + ".",
            note=True,
        )
    r.heading("Per class")
    r.table(
        ["class", "support", "F1", "precision", "recall", "AP", "minor weight"],
        [
            [p["name"], p["support"], p["f1"], p["precision"], p["recall"], p["ap"], p["weight_minor"]]
            for p in result["per_class"]
        ],
    )
    if result["train_counts"] is None:
        r.text(f"Minority averages: {result['minor_weights']}.", note=True)
    else:
        r.figure(ep.f1_vs_frequency(result["per_class"], result["train_counts"]), "F1 vs frequency")
    if "_targets" in result:
        y, s = np.asarray(result["_targets"]), np.asarray(result["_scores"])
        r.figure(ep.pr_curves(y, s, names), "precision-recall curves")
        r.figure(ep.cooccurrence(y, names), "label co-occurrence")
