"""End-to-end training on the small synthetic store: MROS+DCW, resume, evaluation, band refusal."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from worldclass.config import load_config
from worldclass.data.sampling import MROSSampler
from worldclass.errors import ConfigError
from worldclass.training.evaluate import evaluate, load_module
from worldclass.training.losses import WeightedBCE
from worldclass.training.train import train


def _cfg(store: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return load_config(
        None,
        [
            f"data.root={store}", "data.bands=s2-10+s1", "data.batch_size=8", "data.num_workers=0",
            "model.backbone=resnet10t", "model.drop_path_rate=0", "optim.warmup_steps=4", "optim.max_epochs=2",
            "optim.limit_train_batches=3", "optim.limit_val_batches=2", f"trainer.out={out}",
            "trainer.progress=false", *extra,
        ],
    )  # fmt: skip


def test_mros_dcw_train_resume_and_evaluate(v2_store: Path, tmp_path: Path) -> None:
    cfg = _cfg(v2_store, tmp_path / "run", "loss.name=dcw", "sampler.name=mros")
    res = train(cfg)
    assert res.best_checkpoint.is_file() and (tmp_path / "run/checkpoints/last.ckpt").is_file()
    assert np.isfinite(res.best_score) and res.epochs == 2
    assert list((tmp_path / "run/logs").rglob("metrics.csv"))
    module = load_module(res.best_checkpoint)
    assert module.meta.bands[-2:] == ["VV", "VH"] and module.meta.classes[0] == "Urban fabric"
    assert module.meta.preprocessing["normalize"] == "v2"
    # DCW weights were set from the MROS draw of the last epoch, not from the natural counts
    loss = module.loss
    assert isinstance(loss, WeightedBCE) and not torch.allclose(loss.get_buffer("pos_weight"), torch.ones(19))
    # exact resume: continues from last.ckpt up to the new max_epochs
    cfg.optim.max_epochs = 3
    again = train(cfg, resume=True)
    assert again.epochs == 3
    m = evaluate(res.best_checkpoint, split="test", out=tmp_path / "eval", tune=True)
    saved = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert saved["f1_macro"] == pytest.approx(m["f1_macro"]) and len(saved["per_class"]) == 19
    assert (tmp_path / "eval/per_class.csv").is_file() and "co-occurrence" in (
        tmp_path / "eval/report.html"
    ).read_text()
    with pytest.raises(ConfigError, match="differ from the checkpoint"):
        evaluate(res.best_checkpoint, split="test", bands=["B02", "B03", "B04", "B08"])


def test_dcw_callback_uses_the_sampler_draw(v2_store: Path) -> None:
    from worldclass.data.dataset import BigEarthNet
    from worldclass.data.sampling import mros_weights
    from worldclass.training.losses import pos_weights

    ds = BigEarthNet(v2_store, split="train")
    y = ds.labels()
    sampler = MROSSampler(mros_weights(y), seed=42)
    sampler.set_epoch(0)
    drawn = sampler.indices().numpy()
    expected = pos_weights(y[drawn].sum(0), len(drawn))
    natural = pos_weights(y.sum(0), len(y))
    assert not np.allclose(expected, natural)  # the sampler already corrected part of the imbalance


def test_attribute_encoding_trains_on_43_and_evaluates_on_19(v1_store: Path, tmp_path: Path) -> None:
    cfg = _cfg(v1_store, tmp_path / "attr", "data.attribute_encoding=true", "optim.max_epochs=1")
    res = train(cfg)
    module = load_module(res.best_checkpoint)
    assert len(module.meta.output_classes) == 43 and len(module.meta.classes) == 19
    m = evaluate(res.best_checkpoint, split="test")
    assert len(m["per_class"]) == 19 and m["per_class"][0]["name"] == "Urban fabric"
