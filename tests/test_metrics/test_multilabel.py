import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm

from worldclass.metrics import average_precision, minority_weights, multilabel_metrics, tune_thresholds


@st.composite
def problems(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(2, 40))
    c = draw(st.integers(2, 6))  # sklearn reads a single 0/1 column as binary, not multi-label
    y = draw(arrays(np.int8, (n, c), elements=st.integers(0, 1)))
    s = draw(arrays(np.float64, (n, c), elements=st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0])))
    return y, s


@settings(max_examples=150, deadline=None)
@given(problems())
def test_micro_and_macro_equal_sklearn(problem) -> None:  # type: ignore[no-untyped-def]
    y, s = problem
    m = multilabel_metrics(y, s)
    p = (s >= 0.5).astype(int)
    if not y.any() and not p.any():  # documented difference: scikit-learn returns 1.0, worldclass 0
        assert m["f1_micro"] == m["f1_macro"] == 0.0
        return
    pos = y.sum(0) > 0
    for key, fn in (("f1", skm.f1_score), ("precision", skm.precision_score), ("recall", skm.recall_score)):
        assert m[f"{key}_micro"] == pytest.approx(fn(y, p, average="micro", zero_division=0))
        per_class = fn(y, p, average=None, zero_division=0)  # macro: over the classes with positives
        assert m[f"{key}_macro"] == pytest.approx(per_class[pos].mean() if pos.any() else 0.0)
    assert m["excluded_classes"] == list(np.flatnonzero(~pos))
    if pos.any():
        expected = np.mean([skm.average_precision_score(y[:, c], s[:, c]) for c in np.flatnonzero(pos)])
        assert m["map_macro"] == pytest.approx(expected)
        assert m["map_micro"] == pytest.approx(skm.average_precision_score(y.ravel(), s.ravel()))
    for c in range(y.shape[1]):
        row = m["per_class"][c]
        assert row["tp"] + row["fp"] + row["fn"] + row["tn"] == len(y)
        if 0 < y[:, c].sum() < len(y):
            assert row["bacc"] == pytest.approx(skm.balanced_accuracy_score(y[:, c], p[:, c]))


def test_minor_average_uses_train_inverse_frequency() -> None:
    y = np.array([[1, 0], [1, 0], [0, 1], [1, 1]])
    s = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.1], [0.7, 0.9]])  # class 1: one of two found
    m = multilabel_metrics(y, s, train_counts=[300, 100])
    w = np.array([1 / 300, 1 / 100]) / (1 / 300 + 1 / 100)
    f1 = [m["per_class"][c]["f1"] for c in range(2)]
    assert m["f1_minor"] == pytest.approx(float(w @ f1))
    assert m["f1_minor"] < m["f1_macro"]  # the rare class is the weak one
    t = multilabel_metrics(y, s, train_counts=[300, 100], tempered=True)
    assert m["f1_minor"] < t["f1_minor"] < m["f1_macro"]
    assert np.allclose(minority_weights([4, 0, 1]), [0.2, 0.0, 0.8])


def test_classes_without_positives_and_torch_inputs() -> None:
    import torch

    y = torch.tensor([[1, 0], [1, 0]])
    s = torch.tensor([[0.9, 0.8], [0.2, 0.1]])
    m = multilabel_metrics(y, s)
    assert m["n_classes_with_positives"] == 1 and m["per_class"][1]["ap"] == 0.0
    assert m["map_macro"] == pytest.approx(1.0)  # averaged over classes with positives only
    assert m["excluded_classes"] == [1] and m["f1_macro"] == m["per_class"][0]["f1"]
    assert m["per_class"][1]["f1"] == 0.0 and m["per_class"][1]["precision"] == 0.0
    assert average_precision(np.array([0, 0]), np.array([0.3, 0.2])) == 0.0


def test_threshold_tuning_does_not_lower_f1() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((400, 4)) < [0.5, 0.2, 0.05, 0.0]).astype(int)
    s = np.clip(y * 0.3 + rng.random((400, 4)) * 0.5, 0, 1)
    thr = tune_thresholds(y, s)
    assert thr[3] == 0.5 and thr.shape == (4,)
    assert multilabel_metrics(y, s, threshold=thr)["f1_macro"] >= multilabel_metrics(y, s)["f1_macro"]
    with pytest.raises(ValueError):
        multilabel_metrics(y, s[:, :2])


def test_a_model_that_predicts_nothing_scores_the_floor_on_every_average() -> None:
    """Classes absent from the split must not lift macro or minor averages: predicting nothing gives
    balanced accuracy exactly 0.5 and F1 exactly 0, whatever the share of absent classes."""
    rng = np.random.default_rng(1)
    y = (rng.random((50, 6)) < [0.5, 0.2, 0.1, 0.0, 0.0, 0.0]).astype(int)  # half the classes absent
    names = [f"c{i}" for i in range(6)]
    m = multilabel_metrics(y, np.zeros_like(y, dtype=float), train_counts=[500, 50, 5, 1, 1, 1], names=names)
    assert m["excluded_classes"] == ["c3", "c4", "c5"]
    for avg in ("macro", "minor"):
        assert m[f"bacc_{avg}"] == pytest.approx(0.5) and m[f"f1_{avg}"] == 0.0
    assert sum(r["weight_minor"] for r in m["per_class"]) == pytest.approx(1.0)
    assert all(r["weight_minor"] == 0.0 for r in m["per_class"][3:])
