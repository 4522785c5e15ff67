"""Classification task: evaluation without Lightning, attribute encoding, band refusal, threshold tuning."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import quick_config
from worldclass.data.dataset import BigEarthNet
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
    # the minority weights are the training counts of the 19 evaluated classes, stored at training time
    train19 = BigEarthNet(v1_store, split="train", sensors=("s2", "s1"), num_classes=19).labels().sum(0)
    assert m["train_counts"] == train19.astype(int).tolist()
    assert m["minor_weights"] == "training counts stored in the checkpoint"


def test_minor_averages_are_refused_not_faked_without_training_counts(tmp_path: Path) -> None:
    """An old attribute-encoding checkpoint (no stored counts) evaluated where the training split cannot be
    re-read: the minority averages are None and the reason is in the output, not a quiet macro."""
    from worldclass.models.checkpoint import ModelMeta
    from worldclass.tasks import get_task
    from worldclass.tasks.classification.evaluate import _train_counts

    meta = ModelMeta(
        task="classification", bands=["B02"], classes=["a", "b"], nomenclature="43->19", preprocessing={}
    )
    counts, why = _train_counts({"train_counts": [1] * 43}, meta, tmp_path / "gone")
    assert counts is None and why.startswith("unavailable") and "gone" in why
    stored, why = _train_counts({"train_counts": [5, 1], "eval_counts": [4, 2]}, meta, tmp_path)
    assert stored is not None and stored.tolist() == [4, 2] and "stored" in why
    head = get_task("classification").headline(
        {"f1_micro": 0.5, "f1_macro": 0.4, "f1_minor": None, "map_macro": 0.3, "map_micro": 0.6}
        | {"train_counts": None, "minor_weights": why}
    )
    assert head["f1_minor"] is None and head["minor_weights"] == why
