"""The regression task: targets from reBEN reference maps equal a direct pixel count; a label-budget
sweep compares supervised and DML-S2R on the same subsets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from worldclass.data.bigearthnet.naming import v2_map_path
from worldclass.data.dataset import BigEarthNet
from worldclass.data.fractions import GROUPS, class_fractions, target_classes
from worldclass.errors import ConfigError
from worldclass.tasks import get_task, load_config
from worldclass.training.label_budget import parse_inits, run_label_budget

#: CLC level-3 codes of the forest group (broad-leaved 311, coniferous 312, mixed 313), of arable land
#: (211-213) and the 11 codes the 19-class nomenclature drops (their pixels are not labelled).
FOREST = {311, 312, 313}
ARABLE = {211, 212, 213}
DROPPED = {122, 123, 124, 131, 132, 133, 141, 142, 332, 334, 423}


def test_targets_equal_a_direct_pixel_count(v2_root: Path) -> None:
    from worldclass.data.nomenclature import CLC43

    ds = BigEarthNet(v2_root, split="train", return_mask=True)
    groups = target_classes(["forest", "Arable land", "water"])
    labelled_codes = {c for c, _ in CLC43} - DROPPED
    checked = 0
    for i in range(len(ds)):
        sample = ds[i]
        with rasterio.open(v2_map_path(v2_root, ds.patch_ids[i])) as src:
            codes = src.read(1)
        valid = np.isin(codes, list(labelled_codes)).sum()
        if valid == 0:
            continue
        want = [
            np.isin(codes, list(FOREST)).sum() / valid,
            np.isin(codes, list(ARABLE)).sum() / valid,
            np.isin(codes, [511, 512, 521, 522, 523]).sum() / valid,  # inland + marine waters
        ]
        got = class_fractions(sample["mask"][None], groups)[0].numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6)
        checked += int(want[0] > 0)
    assert checked >= 3  # patches with forest were among them
    assert set(GROUPS) >= {"forest", "urban", "water"}
    with pytest.raises(ConfigError, match="regression target 'trees'"):
        target_classes(["trees"])


def test_label_budget_compares_supervised_and_dml(v2_store: Path, tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            "task=regression",
            f"data.root={v2_store}",
            "data.bands=s2-10+s1",
            "data.batch_size=8",
            "data.num_workers=0",
            "optim.max_epochs=1",
            "optim.warmup_steps=2",
            "trainer.progress=false",
            *get_task("regression").smoke,
            f"trainer.out={tmp_path}",
        ],
    )
    result = run_label_budget(
        cfg,
        budgets=["8"],
        inits=parse_inits(["random"]),
        seeds=[0],
        compare=("regression.method", ["supervised", "dml-s2r"]),
        log=lambda line: None,
    )
    assert set(result["summary"]) == {"random-finetune-supervised", "random-finetune-dml-s2r"}
    for key in result["summary"]:
        m = json.loads((tmp_path / "runs" / key / "budget-8" / "seed0" / "metrics.json").read_text())
        assert m["patches"] == 8 and 0 <= m["rmse"] <= 1 and "forest" in m["per_class"]
    from worldclass.models import load_model

    model, _ = load_model(
        tmp_path / "runs" / "random-finetune-dml-s2r" / "budget-8" / "seed0" / "checkpoints" / "best.ckpt"
    )
    emb, _ = model.bank()  # type: ignore[operator]
    assert len(emb) == 8  # the neighbour bank holds exactly the labelled patches
    with pytest.raises(ConfigError, match="trains from scratch"):
        run_label_budget(cfg, budgets=["8"], inits=parse_inits(["random"]), modes=["linear"], seeds=[0])
