"""``--compile``: the compiled network maps tiles as the eager one does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worldclass.mapping.predictor import load_predictor


def test_compiled_predictor_gives_the_eager_probabilities(
    seg_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torch._dynamo.utils import counters

    monkeypatch.setenv(
        "WORLDCLASS_COMPILE_BACKEND", "aot_eager"
    )  # graph capture without inductor's C++ build
    eager = load_predictor(seg_checkpoint, device="cpu")
    counters.clear()
    compiled = load_predictor(seg_checkpoint, device="cpu", compile=True)
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 255, (2, len(eager.bands), 96, 96)).astype(eager.dtype)
    a, b = eager(raw), compiled(raw)
    assert counters["stats"]["unique_graphs"] > 0
    np.testing.assert_allclose(b, a, atol=1e-4, rtol=0)
    assert (a.argmax(1) == b.argmax(1)).mean() > 0.999
