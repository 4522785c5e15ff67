"""Segmentation evaluation on whole scenes: the same streaming engine as ``worldclass map`` (stitched,
blended tiles, never isolated patches), confusion matrices per group (Inria: city) over all pixels.

Writes ``metrics.json`` (overall + per group), ``per_group.csv`` and ``report.html``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from worldclass.data.scene_access import scene_raster
from worldclass.data.scenes import Scene, read_labels
from worldclass.errors import ConfigError, DataError
from worldclass.io import atomic_open, write_json_atomic
from worldclass.mapping.predictor import Predictor, predictor_from_model
from worldclass.mapping.whole_scene import inspect_scene, predict_scene
from worldclass.metrics.segmentation import ConfusionAccumulator, grouped_metrics
from worldclass.tasks.segmentation.benchmark import Scorer, make_scorer


class MetricsSink:
    """Engine sink comparing each final block with the scene's labels (raster or vector), and handing it
    to the benchmark's scorer."""

    def __init__(
        self, scene: Scene, classes: list[str], acc: ConfusionAccumulator, scorer: Scorer | None = None
    ) -> None:
        self.scene, self.classes, self.acc, self.scorer = scene, classes, acc, scorer

    def write(self, window: Window, probs: np.ndarray, valid: np.ndarray) -> None:
        ref = read_labels(self.scene, window, self.classes)
        if ref is None:
            raise DataError(
                f"{self.scene.image}: no labels to evaluate against (unpack the split's reference labels "
                "under the data root, or evaluate another split)"
            )
        pred = probs.argmax(0)
        self.acc.update(ref[valid], pred[valid], self.scene.group)
        if self.scorer is not None:
            self.scorer.write(window, probs, valid, ref)


def evaluate_scenes(
    predictor: Predictor,
    scenes: list[Scene],
    *,
    tile: int = 512,
    overlap: int = 64,
    blend: str = "hann",
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
    rule: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Metrics of whole-scene predictions. A spatial hold-out (``scene.rows``) is predicted from its own
    rows only, as validation sees it: the pixels of the training rows are never read. ``rule``: the
    dataset's own evaluation rule (:mod:`worldclass.tasks.segmentation.benchmark`), reported under
    ``benchmark``."""
    acc = ConfusionAccumulator(len(predictor.classes))
    scorer = make_scorer(rule, predictor.classes, acc)
    for i, scene in enumerate(scenes):
        with scene_raster(scene) as path:  # a stored patch: an in-memory GeoTIFF for the engine
            info = inspect_scene(path, predictor, need_crs=False)  # benchmarks may be pixel grids
            if scorer is not None:
                scorer.start(scene, scene.row_range(), info.width)
            predict_scene(
                predictor,
                info,
                MetricsSink(scene, predictor.classes, acc, scorer),
                tile=tile,
                overlap=overlap,
                blend=blend,
                batch_size=batch_size,
                rows=scene.row_range(),
            )
        if scorer is not None:
            scorer.finish()
        if progress is not None:
            progress(i + 1, len(scenes))
    result = grouped_metrics(acc, predictor.classes)
    if scorer is not None:
        bench = scorer.result()
        result["benchmark"] = {**bench, "headline": scorer.headline(bench)}
    return result


def evaluate_segmentation(
    checkpoint: str | Path,
    *,
    data: str | Path | None = None,
    split: str = "val",
    out: str | Path | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Evaluate a segmentation checkpoint on ``split`` of its training data (or ``data``). ``tile``
    defaults to the checkpoint's training patch size and ``overlap`` to 0, the windows validation saw
    during training; a larger overlap blends tiles as ``worldclass map`` does."""
    from worldclass.datasets import data_section, get_dataset
    from worldclass.datasets.scene_base import SceneCollection
    from worldclass.models.checkpoint import load_model
    from worldclass.models.segmenter import SegmentationNet

    model, meta = load_model(checkpoint)  # one read: model, metadata and the data section
    if not isinstance(model, SegmentationNet):
        raise ConfigError(f"{checkpoint}: a {meta.task} checkpoint; this evaluation needs a segmentation one")
    predictor = predictor_from_model(model, meta)
    cfg_data = data_section(meta.config, data)
    dataset = get_dataset(meta.dataset or cfg_data.dataset)
    assert isinstance(dataset, SceneCollection)
    scenes = dataset.scenes(cfg_data, split)
    tile = tile or int(cfg_data.patch_size)
    overlap = 0 if overlap is None else overlap
    result = evaluate_scenes(
        predictor,
        scenes,
        tile=tile,
        overlap=overlap,
        batch_size=batch_size,
        progress=progress,
        rule=dataset.evaluation_rule(cfg_data),
    )
    result.update(
        checkpoint=str(checkpoint), split=split, data=str(cfg_data.root), tile=tile, overlap=overlap
    )
    if out is not None:
        _write(Path(out), result)
    return result


def _write(out: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        {"group": g, "iou": m["iou"], "accuracy": m["accuracy"], "miou": m["miou"], "pixels": m["pixels"]}
        for g, m in [*result["groups"].items(), ("overall", result["overall"])]
    ]
    with atomic_open(out / "per_group.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    from worldclass.report import Report

    r = Report(f"worldclass segmentation evaluation: {Path(result['checkpoint']).name} on {result['split']}")
    add_segmentation_section(r, result)
    r.write(out, "report.html")
    write_json_atomic(out / "metrics.json", result)  # last: the headline file appears when all is written


def add_segmentation_section(r: Any, result: dict[str, Any]) -> None:
    r.heading("IoU and accuracy (counts accumulated over all pixels of a group, then overall)")
    r.table(
        ["group", "IoU", "accuracy", "mIoU", "pixels"],
        [
            [g, m["iou"], m["accuracy"], m["miou"], m["pixels"]]
            for g, m in [*result["groups"].items(), ("overall", result["overall"])]
        ],
    )
    r.heading("IoU per class (overall)")
    r.table(["class", "IoU"], list(result["overall"]["iou_per_class"].items()))
    bench = result.get("benchmark")
    if bench:
        r.heading(f"Benchmark rule: {bench['rule']}")
        r.table(["figure", "value"], [[k, v] for k, v in bench["headline"].items()])
        if bench["rule"] == "isprs":
            r.table(
                ["class", "F1 eroded", "F1 full"],
                [[c, bench["eroded"]["f1"][c], bench["full"]["f1"][c]] for c in bench["eroded"]["f1"]],
            )
