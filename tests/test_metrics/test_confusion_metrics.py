"""Segmentation scores from a hand-made confusion matrix: OA, per-class accuracy, AA over the classes
present in the reference (DFC2020's average accuracy), IoU."""

from __future__ import annotations

import math

import numpy as np
import pytest

from worldclass.metrics.segmentation import confusion_metrics


def test_aa_averages_recall_over_present_classes_only() -> None:
    conf = np.array(
        [
            [8, 2, 0],  # class a: 10 reference pixels, 8 right
            [1, 3, 0],  # class b: 4 pixels, 3 right
            [0, 5, 0],  # class c: 5 pixels, none right
        ]
    )
    absent = np.zeros((4, 4), int)
    absent[:3, :3] = conf
    absent[1, 3] = 0  # a fourth class never in the reference (and never predicted)
    for m, names in ((conf, ["a", "b", "c"]), (absent, ["a", "b", "c", "d"])):
        r = confusion_metrics(m, names)
        assert r["accuracy"] == pytest.approx(11 / 19)
        assert r["recall_per_class"]["a"] == pytest.approx(0.8) and r["recall_per_class"]["c"] == 0.0
        assert r["aa"] == pytest.approx((0.8 + 0.75 + 0.0) / 3)  # d does not dilute AA
        assert r["iou_per_class"]["b"] == pytest.approx(3 / (4 + 10 - 3))
    assert math.isnan(confusion_metrics(absent, ["a", "b", "c", "d"])["recall_per_class"]["d"])
