"""The label-noise injector: every mode's realised rates match the request within sampling error, the mask
is exactly the changed entries, modes only do what they say, per-class rates apply per class."""

from __future__ import annotations

import numpy as np
import pytest

from worldclass.data.noise import MODES, inject_label_noise, noise_report

N, C = 20000, 19


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    rng = np.random.default_rng(0)
    freq = np.linspace(0.02, 0.4, C)  # imbalanced, like BigEarthNet's 19 classes
    y = (rng.random((N, C)) < freq).astype(np.uint8)
    y[~y.any(1), 0] = 1
    return y


def _close(got: float, want: float, n: float) -> None:
    sigma = np.sqrt(max(want * (1 - want), 1e-9) / max(n, 1))
    assert abs(got - want) < 5 * sigma + 1e-9, (got, want)


@pytest.mark.parametrize("mode", MODES)
def test_realised_rates_follow_the_request(labels: np.ndarray, mode: str) -> None:
    rate = 0.3
    noisy, mask = inject_label_noise(labels, mode, rate, seed=1)
    assert noisy.dtype == np.uint8 and set(np.unique(noisy)) <= {0, 1}
    np.testing.assert_array_equal(mask, noisy != labels)
    rep = noise_report(labels, noisy)
    present, absent = labels.sum(), (labels == 0).sum()
    if mode == "flip":
        _close(rep["noisy_entries"], rate, labels.size)
        _close(rep["removed"], rate, present)
        _close(float((mask & (labels == 0)).sum() / absent), rate, absent)
    if mode == "subtractive":
        _close(rep["removed"], rate, present)
        assert rep["added_per_present"] == 0
    if mode == "additive":
        assert rep["removed"] == 0
        _close(rep["added_per_present"], rate, present)
    if mode == "mixed":
        _close(rep["removed"], rate / 2, present)
        _close(rep["added_per_present"], rate / 2, present)
    if mode == "substitute":
        _close(rep["removed"], rate, present)
        np.testing.assert_array_equal(noisy.sum(1), labels.sum(1))  # label count per sample kept
    same, _ = inject_label_noise(labels, mode, rate, seed=1)
    np.testing.assert_array_equal(same, noisy)  # seeded
    assert (inject_label_noise(labels, mode, rate, seed=2)[0] != noisy).any()


def test_per_class_rates_apply_to_their_class(labels: np.ndarray) -> None:
    per_class = np.zeros(C)
    per_class[3], per_class[10] = 0.5, 0.1
    noisy, _ = inject_label_noise(labels, "subtractive", 0.0, per_class=per_class, seed=5)
    rep = noise_report(labels, noisy)["per_class"]
    _close(rep["3"]["removed"], 0.5, labels[:, 3].sum())
    _close(rep["10"]["removed"], 0.1, labels[:, 10].sum())
    assert all(rep[str(k)]["removed"] == 0 for k in range(C) if k not in (3, 10))


def test_bad_requests_are_refused(labels: np.ndarray) -> None:
    with pytest.raises(ValueError, match="noise mode 'swap'"):
        inject_label_noise(labels, "swap", 0.1)
    with pytest.raises(ValueError, match="19 values in"):
        inject_label_noise(labels, "flip", 0.1, per_class=np.ones(3))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        inject_label_noise(labels, "flip", 1.5)
