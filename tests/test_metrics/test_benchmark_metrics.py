"""ISPRS F1/OA and relaxed precision/recall against hand-computed examples; centre-line scores."""

from __future__ import annotations

import numpy as np
import pytest

from worldclass.metrics.isprs import f1_scores
from worldclass.metrics.relaxed import RelaxedCounter, centerline_counts, centerline_scores, near, thin


def test_isprs_f1_mean_without_clutter_and_oa_over_all() -> None:
    # reference rows x prediction columns: classes a, b, clutter
    conf = np.array([[8, 2, 0], [1, 3, 0], [0, 1, 5]])
    r = f1_scores(conf, ["a", "b", "clutter"], excludes=["clutter"])
    # a: P = 8/9, R = 8/10, F1 = 16/19; b: P = 3/6, R = 3/4, F1 = 6/10; clutter F1 = 10/11
    assert r["f1"]["a"] == pytest.approx(16 / 19)
    assert r["f1"]["b"] == pytest.approx(0.6)
    assert r["f1"]["clutter"] == pytest.approx(10 / 11)
    assert r["mean_f1"] == pytest.approx((16 / 19 + 0.6) / 2)  # clutter left out of the mean
    assert r["oa"] == pytest.approx(16 / 20)  # ... but in OA
    assert r["iou"]["b"] == pytest.approx(3 / 7) and r["mean_over"] == ["a", "b"]
    empty = f1_scores(np.array([[5, 0], [0, 0]]), ["a", "b"])
    assert np.isnan(empty["f1"]["b"]) and empty["mean_f1"] == 1.0  # absent class: not in the mean


def test_relaxed_precision_recall_hand_computed() -> None:
    ref = np.zeros((10, 10), bool)
    ref[5, 2:8] = True  # a 6 px road centre line
    prob = np.zeros((10, 10))
    prob[7, 2:8] = 0.9  # 2 px off: inside rho = 3
    prob[0, 0] = 0.6  # a false positive, 5 px from the line
    prob[5, 8] = 0.3  # next to the line, below threshold 0.5
    c = RelaxedCounter(radius=3, steps=10)
    c.update(prob, ref)
    r = c.result()
    assert r["precision_at_0.5"] == pytest.approx(6 / 7)
    assert r["recall_at_0.5"] == pytest.approx(1.0)
    # at t = 0.3 the (5, 8) pixel counts as a hit; t = 0.9: only the shifted line, all correct
    assert r["precision"][3] == pytest.approx(7 / 8)
    assert r["precision"][9] == pytest.approx(1.0) and r["recall"][9] == pytest.approx(1.0)
    far = RelaxedCounter(radius=1, steps=10)
    far.update(prob, ref)
    assert far.result()["precision_at_0.5"] == pytest.approx(0.0)  # 2 px away is outside rho = 1
    assert far.result()["recall_at_0.5"] == pytest.approx(0.0)


def test_relaxed_counts_pool_over_tiles_and_find_the_breakeven() -> None:
    rng = np.random.default_rng(0)
    pooled, parts = RelaxedCounter(radius=2, steps=64), []
    for k in range(3):
        ref = np.zeros((40, 40), bool)
        ref[20, :] = True
        prob = rng.uniform(0, 0.8, (40, 40))
        prob[20, rng.uniform(size=40) < 0.3 + 0.3 * k] = 0.85  # tiles differ in how much is found
        pooled.update(prob, ref)
        parts.append(RelaxedCounter(radius=2, steps=64))
        parts[-1].update(prob, ref)
    # micro pooling: counts summed over tiles, not a mean of per-tile ratios
    assert (pooled.pred_hit == sum(c.pred_hit for c in parts)).all()
    assert pooled.ref_pos == 120 and (pooled.ref_hit == sum(c.ref_hit for c in parts)).all()
    r = pooled.result()
    p, rc = np.array(r["precision"]), np.array(r["recall"])
    assert rc[0] == 1.0 and (np.diff(rc) <= 1e-12).all()  # recall falls as the threshold rises
    b = r["breakeven"]
    k = round(b["threshold"] * 64)
    assert (p[k], rc[k]) == (b["precision"], b["recall"])
    inside = (p > 0) & (p < 1) & (rc > 0) & (rc < 1)
    assert inside[k] and abs(p[k] - rc[k]) == np.abs(p - rc)[inside].min()


def test_square_and_disc_neighbourhoods_differ_on_the_diagonal() -> None:
    m = np.zeros((9, 9), bool)
    m[4, 4] = True
    assert near(m, 2, square=True)[2, 2] and not near(m, 2, square=False)[2, 2]


def test_thinning_gives_the_centre_line_and_centreline_scores() -> None:
    bar = np.zeros((20, 40), bool)
    bar[7:14, 3:37] = True  # 7 px wide road
    line = thin(bar)
    rows = np.nonzero(line.any(1))[0]
    assert set(rows.tolist()) == {10} and line.sum() > 25  # one px wide, on the middle row
    shifted = np.zeros_like(bar)
    shifted[9:16, 3:37] = True
    c = centerline_counts(shifted, bar, radius=3)
    s = centerline_scores(c)
    assert s["completeness"] == pytest.approx(1.0) and s["correctness"] == pytest.approx(1.0)
    c = centerline_counts(shifted, bar, radius=1)
    assert centerline_scores(c)["completeness"] == 0.0 and centerline_scores(c)["quality"] == 0.0
