"""Classification task: evaluation without Lightning, attribute encoding, band refusal, threshold tuning."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import quick_config
from worldclass.errors import ConfigError
from worldclass.metrics import multilabel_metrics, tune_thresholds
from worldclass.models import load_model
from worldclass.models.classifier import SceneClassifier
from worldclass.tasks.classification.evaluate import dataset_for, evaluate, predict_scores
from worldclass.training import train


def test_evaluate_equals_a_reference_computation(cls_checkpoint: Path, tmp_path: Path) -> None:
    m = evaluate(cls_checkpoint, split="test", out=tmp_path / "eval", tune=True)
    model, meta = load_model(cls_checkpoint)
    assert isinstance(model, SceneClassifier) and meta.bands[-2:] == ["VV", "VH"]
    assert meta.classes[0] == "Urban fabric" and meta.preprocessing["normalize"] == "v2"
    root = meta.config["data"]["root"]
    y, s, _ = predict_scores(model, dataset_for(meta, root, "test"))
    yv, sv, _ = predict_scores(model, dataset_for(meta, root, "validation"))
    ref = multilabel_metrics(y, s, threshold=tune_thresholds(yv, sv), train_counts=m["train_counts"])
    for key in ("f1_macro", "f1_micro", "f1_minor", "map_macro", "bacc_macro"):
        assert m[key] == pytest.approx(ref[key], abs=1e-12), key
    saved = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert saved["f1_macro"] == pytest.approx(m["f1_macro"]) and len(saved["per_class"]) == 19
    assert "co-occurrence" in (tmp_path / "eval/report.html").read_text()
    with pytest.raises(ConfigError, match="differ from the checkpoint"):
        evaluate(cls_checkpoint, split="test", bands=["B02", "B03", "B04", "B08"])


def test_threshold_tuning_follows_the_run_config(cls_checkpoint: Path) -> None:
    default = evaluate(cls_checkpoint, split="test", report=False)
    assert default["thresholds"] == 0.5  # the fixture run has trainer.threshold_tuning false
    tuned = evaluate(cls_checkpoint, split="test", tune=True, report=False)
    assert tuned["thresholds"] == "tuned on validation"


def test_attribute_encoding_trains_on_43_and_evaluates_on_19(v1_store: Path, tmp_path: Path) -> None:
    res = train(quick_config(v1_store, tmp_path / "attr", "data.attribute_encoding=true"))
    model, meta = load_model(res.best_checkpoint)
    assert len(meta.output_classes) == 43 and len(meta.classes) == 19
    assert isinstance(model, SceneClassifier) and model.attribute_encoding
    logits = torch.full((1, 43), -20.0)
    logits[0, 0] = 20.0  # CLC 111 (continuous urban fabric) only -> parent 0 (Urban fabric) only
    scores = model.scores(logits)[0]
    assert scores[0] > 0.99 and scores[1:].max() < 1e-6
    m = evaluate(res.best_checkpoint, split="test", report=False)
    assert len(m["per_class"]) == 19 and m["per_class"][0]["name"] == "Urban fabric"
    assert np.isclose(sum(p["weight_minor"] for p in m["per_class"]), 1.0)
