"""Each mapping benchmark trains with the segmentation task (U-Net, FCN and multi-resolution MLP spread
over them) and is scored by its own rule through ``worldclass evaluate``; the trained model beats the
majority-class predictor. CrowdAI: JPEG tiles with COCO polygons through train and evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest

from worldclass.datasets import get_dataset
from worldclass.tasks import get_task, load_config
from worldclass.tasks.base import EvalOptions
from worldclass.training.fit import train

CASES = [  # one per layout family and one per architecture (buildings shares the roads machinery)
    ("vaihingen", "fcn", "mean_f1_eroded"),
    ("massachusetts-roads", "unet", "relaxed_breakeven"),
    ("potsdam", "mlp", "oa_eroded"),
]


def _config(overrides: list[str], arch: str, tmp_path: Path, *extra: str) -> Any:
    return load_config(
        None,
        [
            "task=segmentation",
            *overrides,
            f"model.arch={arch}",
            "model.encoder=resnet18",
            "data.batch_size=8",
            "data.num_workers=0",
            "optim.warmup_steps=3",
            "optim.lr=0.003",
            "trainer.progress=false",
            f"trainer.out={tmp_path / 'run'}",
            *extra,
        ],
    )


@pytest.mark.parametrize(("name", "arch", "figure"), CASES)
def test_benchmark_trains_and_is_scored_by_its_rule(
    name: str, arch: str, figure: str, tmp_path: Path
) -> None:
    ds = get_dataset(name)
    overrides = ds.make_fake(tmp_path / "data", seed=0)
    cfg = _config(overrides, arch, tmp_path, "data.samples_per_epoch=64", "optim.max_epochs=6")
    L.seed_everything(0, verbose=False)
    res = train(cfg)
    task = get_task("segmentation")
    result = task.evaluate(
        res.best_checkpoint, data=None, split="val", out=tmp_path / "eval", options=EvalOptions()
    )
    assert (tmp_path / "eval" / "metrics.json").is_file()
    head = task.headline(result)
    assert figure in head
    assert result["benchmark"]["rule"] == ds.evaluation_rule(cfg.data)["rule"]  # type: ignore[index]
    # learned: the mIoU beats the majority-class predictor's (majority share / K) by a margin
    support = np.array(list(result["overall"]["support"].values()), float)
    baseline = support.max() / support.sum() / len(support)
    assert result["overall"]["miou"] > baseline + 0.1, (head, baseline)


def test_crowdai_trains_on_jpeg_tiles_and_is_scored_on_every_ground_truth_tile(tmp_path: Path) -> None:
    from worldclass.data.crowdai import read_coco

    ds = get_dataset("crowdai")
    overrides = ds.make_fake(tmp_path / "data", seed=0)
    cfg = _config(
        overrides, "unet", tmp_path, "data.patch_size=64", "optim.max_epochs=1", "optim.limit_train_batches=2"
    )
    res = train(cfg)
    result = get_task("segmentation").evaluate(
        res.best_checkpoint, data=None, split="val", out=None, options=EvalOptions(tile=96)
    )
    b = result["benchmark"]
    images = read_coco(tmp_path / "data", "val")
    assert b["rule"] == "coco" and b["images"] == len(images)
    assert b["ground_truth"] == sum(len(im.geometries) for im in images)
    assert b["challenge_score"] == {"ap50": b["ap50"], "ar50": b["ar50"]}
